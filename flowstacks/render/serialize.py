"""The one place that turns data into text: canonical JSON and YAML (sorted keys, no timestamps)."""

from __future__ import annotations

import functools
import json
from typing import Any

import orjson

# types json.dumps refuses are passed through to it, so that it refuses them as before
_ORJSON_STRICT = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
                  | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS)
_ORJSON_INDENTED = _ORJSON_STRICT | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
RECORDED_ORJSON = _ORJSON_STRICT  # the options of recorded_json's orjson call
json_loads = orjson.loads  # JSON text back to data (the texts this module writes)


def canonical_json(data: Any, indent: int | None = 2) -> str:
    """Deterministic JSON: sorted keys, UTF-8 kept, trailing newline when indented.

    Indented output is produced by orjson (the standard library has no C encoder for indented
    output, and large ASL documents spent most of their time there). It is byte for byte what
    ``json.dumps(indent=2, sort_keys=True, ensure_ascii=False)`` writes, except for floats below
    1e-4 or from 1e16 up, which orjson writes in its own shortest form (``0.00001`` where
    Python writes ``1e-05``): the same value, still deterministic."""
    if indent == 2:
        try:
            return orjson.dumps(data, option=_ORJSON_INDENTED).decode("utf-8")
        except (orjson.JSONEncodeError, TypeError):  # lone surrogates, ints beyond 64 bits
            pass
    text = json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False,
                      separators=None if indent else (",", ":"))
    return text + "\n" if indent else text


def manifest_json(head: dict[str, Any], resource_lines: list[str]) -> str:
    """A manifest with one resource per line (each already compact JSON): deterministic,
    diffable line by line, and written by the C encoder (an indented dump of large templates
    took seconds per hundred flows)."""
    body = ",\n".join(f"  {line}" for line in resource_lines)
    top = compact_json(head)[:-1]
    return f'{top},"resources":[\n{body}\n]}}\n' if resource_lines else f'{top},"resources":[]}}\n'


def compact_json(data: Any) -> str:
    """Deterministic one-line JSON (for values embedded in other documents)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def orjson_text(data: Any, option: int) -> str:
    """``data`` as orjson writes it with ``option``; orjson's refusals (``JSONEncodeError``,
    ``TypeError``) reach the caller, which handles them its own way."""
    return orjson.dumps(data, option=option).decode("utf-8")


def recorded_json(data: Any) -> str:
    """:func:`compact_json` as orjson writes it, for the mock engine's record of every resource
    (the manifest's lines; large templates spent a tenth of a synth in ``json.dumps``). Same
    text, except floats in exponent form (as :func:`canonical_json`) and NaN or infinities,
    which are not JSON: written ``null`` where ``json.dumps`` writes ``NaN``."""
    try:
        return orjson.dumps(data, option=_ORJSON_STRICT).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):  # lone surrogates, ints beyond 64 bits
        return compact_json(data)


def metaflow_json(data: Any) -> str:
    """``json.dumps`` with Python's default separators, as Metaflow writes values it embeds
    (``METAFLOW_VERSION``, ``metaflow/cron``...), keys kept in the given order."""
    return json.dumps(data)


@functools.cache
def _yaml() -> tuple[Any, Any, Any]:
    """PyYAML, libyaml's emitter when PyYAML has it (same output, many times faster on large
    templates) and a representer for scalars; imported on first use (``names`` needs none)."""
    import yaml

    emitter = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(emitter):  # type: ignore[valid-type,misc]
        """The emitter asks the resolver, twice per scalar, whether its text would read back as
        another type (to decide quoting): a regular-expression scan in Python for each of the
        many scalars of large templates. The answer depends only on the text, so it is kept."""

        _resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not yaml.ScalarNode:
                return super().resolve(kind, value, implicit)
            key = (value, implicit)
            tag = self._resolved.get(key)
            if tag is None:
                if len(self._resolved) > 200_000:
                    self._resolved.clear()
                tag = self._resolved[key] = super().resolve(kind, value, implicit)
            return tag

    return yaml, Dumper, yaml.representer.SafeRepresenter(default_flow_style=False)


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _node(data: Any, yaml: Any, scalars: Any) -> Any:
    """The node PyYAML's SafeRepresenter builds with ``sort_keys=True, default_flow_style=False``
    and multi-line strings as literal blocks, made directly: the representer's per-object
    dispatch and alias bookkeeping took most of the time of large templates (tests compare the
    two on generated data). Shared sub-objects are written out, never as ``&id`` aliases."""
    if isinstance(data, str):
        return yaml.ScalarNode(_STR, data, style="|" if "\n" in data else None)
    if isinstance(data, dict):
        scalar = yaml.ScalarNode  # string keys and values made here: a call less per node
        return yaml.MappingNode(_MAP, [
            (scalar(_STR, k, style="|" if "\n" in k else None) if type(k) is str
             else _node(k, yaml, scalars),
             scalar(_STR, v, style="|" if "\n" in v else None) if type(v) is str
             else _node(v, yaml, scalars))
            for k, v in sorted(data.items())], flow_style=False)
    if isinstance(data, list):
        scalar = yaml.ScalarNode
        return yaml.SequenceNode(_SEQ, [
            scalar(_STR, v, style="|" if "\n" in v else None) if type(v) is str
            else _node(v, yaml, scalars) for v in data], flow_style=False)
    return scalars.represent_data(data)  # bool, int, float, None; raises for other types


@functools.cache
def _emitter() -> Any:
    """The purpose-built emitter (:mod:`flowstacks.render.yaml_emit`) with the dumper's
    resolver and scalar representer."""
    from flowstacks.render.yaml_emit import Emitter

    yaml, dumper, scalars = _yaml()
    resolver = yaml.resolver.Resolver()  # the resolver class CSafeDumper (and SafeDumper) use

    def resolve(text: str) -> Any:
        return resolver.resolve(yaml.ScalarNode, text, (True, False))

    def represent(value: Any) -> tuple[str, str]:
        node = scalars.represent_data(value)
        return node.tag, node.value

    return Emitter(resolve, represent)


def canonical_yaml(data: Any) -> str:
    """Deterministic YAML (sorted keys, block style, multi-line strings as literal blocks).

    Written by :mod:`flowstacks.render.yaml_emit` (the text libyaml writes, without PyYAML's
    node tree and the emitter's calls back into Python) when the document is within its
    subset, else by PyYAML with libyaml."""
    text = _emitter().emit(data)
    if text is not None:
        return text
    yaml, dumper, scalars = _yaml()
    return yaml.serialize(_node(data, yaml, scalars), Dumper=dumper, allow_unicode=True, width=120)


def yaml_documents(docs: list[Any]) -> str:
    """Several objects in one YAML stream (``---`` between), e.g. template + cron + sensor."""
    return "---\n".join(canonical_yaml(d) for d in docs)


def metaflow_yaml(data: Any) -> str:
    """``yaml.dump(data, default_flow_style=False, indent=2)`` as Metaflow writes a manifest it
    embeds as text (the Argo JobSet of a ``@parallel`` step, ``kubernetes_jobsets.py``): sorted
    keys, PyYAML's pure-Python emitter (its line folding at 80 columns is what Metaflow's text
    has), ASCII only, ``null`` kept. Shared sub-objects are written out, never as aliases
    (Metaflow's objects come out of the Kubernetes client's serialiser, which shares none)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(data, Dumper=Dumper, default_flow_style=False, indent=2)
