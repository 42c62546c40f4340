"""The one place that turns data into text: canonical JSON and YAML (sorted keys, no timestamps)."""

from __future__ import annotations

import json
from typing import Any

import yaml


def canonical_json(data: Any, indent: int | None = 2) -> str:
    """Deterministic JSON: sorted keys, UTF-8 kept, trailing newline when indented."""
    text = json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False,
                      separators=None if indent else (",", ":"))
    return text + "\n" if indent else text


def manifest_json(manifest: dict[str, Any]) -> str:
    """A manifest with one resource per line: deterministic, diffable line by line, and written
    by the C encoder (an indented dump of large templates took seconds per hundred flows)."""
    head = {k: v for k, v in manifest.items() if k != "resources"}
    lines = [compact_json(r) for r in manifest.get("resources", [])]
    body = ",\n".join(f"  {line}" for line in lines)
    top = compact_json(head)[:-1]
    return f'{top},"resources":[\n{body}\n]}}\n' if lines else f'{top},"resources":[]}}\n'


def compact_json(data: Any) -> str:
    """Deterministic one-line JSON (for values embedded in other documents)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def metaflow_json(data: Any) -> str:
    """``json.dumps`` with Python's default separators, as Metaflow writes values it embeds
    (``METAFLOW_VERSION``, ``metaflow/cron``...), keys kept in the given order."""
    return json.dumps(data)


# libyaml's emitter when PyYAML has it (same output, many times faster on large templates)
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def canonical_yaml(data: Any) -> str:
    """Deterministic YAML (sorted keys, block style, multi-line strings as literal blocks)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=120)


def yaml_documents(docs: list[Any]) -> str:
    """Several objects in one YAML stream (``---`` between), e.g. template + cron + sensor."""
    return "---\n".join(canonical_yaml(d) for d in docs)
