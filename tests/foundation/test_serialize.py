"""The fast serializers write exactly what the reference libraries write.

``canonical_json`` (orjson for indented output) against ``json.dumps(indent=2, sort_keys=True,
ensure_ascii=False)``; ``canonical_yaml`` (nodes built directly) against PyYAML's own
``yaml.dump`` with the SafeRepresenter, sorted keys, block style and literal multi-line strings.
"""

from __future__ import annotations

import json

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstacks.render.serialize import (canonical_json, canonical_yaml, compact_json, recorded_json,
                                    yaml_documents)

# text as renderers produce it: any code point but lone surrogates (not valid UTF-8)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
KEYS = st.one_of(TEXT, st.sampled_from(["name", "value", "env", "a-b", "true", "1", "~", "- x"]))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), TEXT,
    st.sampled_from(["yes", "null", "0o17", "1e3", "a: b", "#x", "multi\nline\n", " lead", "- item",
                     "{{workflow.name}}", "'quoted'", '"dq"', "\t", "é ü 😀", "x" * 150]),
)
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=40)


class _ReferenceDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # the emitter in use
    pass


_ReferenceDumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def reference_yaml(data):
    return yaml.dump(data, Dumper=_ReferenceDumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=120)


@settings(max_examples=400, deadline=None)
@given(JSONISH)
def test_indented_json_is_what_the_standard_library_writes(data):
    expected = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert json.loads(canonical_json(data)) == json.loads(expected)
    if "e" not in json.dumps(_floats(data)):  # floats in exponent form are written differently
        assert canonical_json(data) == expected
    assert canonical_json(data, indent=None) == json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=400, deadline=None)
@given(JSONISH)
def test_recorded_json_is_compact_json(data):
    assert json.loads(recorded_json(data)) == json.loads(compact_json(data))
    if "e" not in json.dumps(_floats(data)):
        assert recorded_json(data) == compact_json(data)


def test_recorded_json_falls_back_where_orjson_refuses():
    data = {"big": 2**70, "surrogate": "\ud800", "b": [1.5]}
    assert recorded_json(data) == compact_json(data)


def _floats(data):
    if isinstance(data, float):
        return [data]
    if isinstance(data, dict):
        return [f for v in data.values() for f in _floats(v)]
    if isinstance(data, list):
        return [f for v in data for f in _floats(v)]
    return []


def test_small_and_large_floats_keep_their_value():
    data = {"lr": 1e-05, "big": 1e16, "x": 0.5}
    assert canonical_json(data) == '{\n  "big": 1e+16,\n  "lr": 0.00001,\n  "x": 0.5\n}\n'
    assert json.loads(canonical_json(data)) == data


def test_json_falls_back_where_orjson_refuses():
    data = {"big": 2**70, "surrogate": "\ud800"}
    assert canonical_json(data) == json.dumps(data, indent=2, sort_keys=True,
                                              ensure_ascii=False) + "\n"


@settings(max_examples=400, deadline=None)
@given(JSONISH)
def test_yaml_is_what_pyyaml_writes(data):
    assert canonical_yaml(data) == reference_yaml(data)
    assert canonical_yaml(data) == reference_yaml(data)  # again, the resolver's answers kept
    assert yaml.safe_load(canonical_yaml(data)) == data


def test_yaml_documents_and_shared_objects():
    shared = {"app": "metaflow"}
    docs = [{"kind": "A", "labels": shared}, {"kind": "B", "labels": shared}]
    text = yaml_documents(docs)
    assert "&id" not in text and "*id" not in text  # written out, not aliased
    assert list(yaml.safe_load_all(text)) == docs
    assert text == "---\n".join(reference_yaml(d) for d in
                                [{"kind": "A", "labels": dict(shared)}, {"kind": "B", "labels": dict(shared)}])


# --- the purpose-built emitter (flowstacks/render/yaml_emit.py) against libyaml ---------------

# printable ASCII and line breaks (the emitter's subset), weighted towards what changes a
# scalar's style: indicators, quotes, spaces next to breaks, words that resolve to other types
_ASCII = st.sampled_from(list(" \n'\"#:-?[]{},&*!|>%@`.~\\=/$_abzAZ019") + ["yes", "null", "1e3",
                                                                            "0x1F", ": ", " #"])
_ASCII_TEXT = st.lists(_ASCII, max_size=20).map("".join)
# long lines of words (folding at 120 columns, single and double spaces)
_WORDS = st.lists(st.text(st.sampled_from(list("ab'#:-{}=\"")), max_size=14), max_size=40).map(" ".join)
_LINES = st.lists(st.one_of(_WORDS, _ASCII_TEXT), min_size=1, max_size=4).map("\n".join)
_EMITTER_TEXT = st.one_of(_ASCII_TEXT, _WORDS, _LINES, TEXT, st.sampled_from(
    ["", "\n", "\n\n", "a\n", "a\n\n", " a\nb", "\na", "a \nb", "a\n b", "---", "...x", "- a", "-a",
     "? x", "?x", ":x", "a:", "a:b", "a #b", "a#b", "'", "x" * 129, "true", "~", "1_000", "0o17",
     "2001-12-14", "<<", "=", "é", "\t", "a\rb", "\x85", "\u2028"]))
_EMITTER_KEYS = st.one_of(_ASCII_TEXT, st.sampled_from(["name", "value", "", "x" * 128, "x" * 129,
                                                         "a\nb", "true", "- x", "a: b"]))
_EMITTER_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                             st.floats(), _EMITTER_TEXT)
_EMITTER_DOCS = st.recursive(_EMITTER_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_EMITTER_KEYS, inner, max_size=4)), max_leaves=30)


def _emitter():
    from flowstacks.render.serialize import _emitter as emitter

    return emitter()


@settings(max_examples=1500, deadline=None)
@given(_EMITTER_DOCS)
def test_the_emitter_writes_what_libyaml_writes(data):
    """Byte for byte libyaml's text wherever the emitter answers (None: libyaml writes it)."""
    text = _emitter().emit(data)
    if text is not None:
        assert text == reference_yaml(data)
    assert canonical_yaml(data) == reference_yaml(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), _WORDS), min_size=1, max_size=6))
def test_folding_at_every_depth(lines):
    """Long lines of words at many indents: libyaml folds plain and quoted scalars at the
    first space beyond column 120; the emitter must fold at the same spaces."""
    data: dict = {}
    for depth, words in lines:
        node = data
        for level in range(depth):
            node = node.setdefault(f"k{level}", {}) if level % 2 else \
                node.setdefault(f"l{level}", [{}])[0]
        node[f"w{len(node)}"] = words
        node[f"q{len(node)}"] = "'" + words
    text = _emitter().emit(data)
    assert text is not None
    assert text == reference_yaml(data)


def test_the_emitter_covers_rendered_documents():
    """The shapes of the Argo templates (nested lists of mappings, empty collections, long
    commands folded, literal blocks, quoted values, numbers and booleans) stay in its subset:
    libyaml is the exception, not the rule."""
    quoted = " && ".join(f"export V{i}=$((i+{i})) && echo '[{i}]: done' #{i}" for i in range(30))
    plain = " && ".join(f"export V{i}=$((i+{i}))" for i in range(30))
    doc = {"apiVersion": "argoproj.io/v1alpha1", "metadata": {"annotations": {
        "metaflow/dag": '{"graph_structure": ["start", "end"]}', "empty": ""}, "labels": {}},
        "spec": {"parallelism": 100, "failFast": True, "ratio": 0.5, "nothing": None, "hooks": {},
                 "templates": [{"name": "start", "container": {"args": [], "command": ["bash", "-c", quoted, plain],
                                "env": [{"name": f"E{i}", "value": v} for i, v in
                                        enumerate(["null", "1", "", "a: b", "- x", "true", "x\ny\n"])]},
                                "script": "#!/bin/sh\n\n  indented\nlast\n"}, [["nested", {"a": []}]]]}}
    text = _emitter().emit(doc)
    assert text is not None and text == reference_yaml(doc)
    assert yaml.safe_load(text) == doc
    assert "\n        && export" in text and "\n        && echo ''[" in text  # both folded


def test_the_emitter_leaves_the_rest_to_libyaml():
    """What it does not write (it answers None) and canonical_yaml still writes as libyaml."""
    for data in [{"k": "é"}, {"k": "tab\there"}, {"k": "trailing \nspace"}, {"x" * 129: 1},
                 {"a\nb": 1}, {1: "int key"}, {"k": (1, 2)}, "scalar root", {}, [],
                 {"k": "\r"}]:
        assert _emitter().emit(data) is None, data
        if not isinstance(data.get("k") if isinstance(data, dict) else None, tuple):
            assert canonical_yaml(data) == reference_yaml(data)
