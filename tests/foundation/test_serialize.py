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
