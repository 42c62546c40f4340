"""``flowstacks check``: the policy pack's rules, offline, on a synthesized plan (manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path

from flowstacks.errors import FlowstacksError
from flowstacks.policy.rules import Level, Resource, StackInfo, Violation, evaluate


def load_manifest(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlowstacksError("no such manifest", where=str(path)) from None
    except ValueError as exc:
        raise FlowstacksError(f"not JSON: {exc}", where=str(path)) from None
    if not (isinstance(data, dict) and isinstance(data.get("stack"), str)
            and isinstance(data.get("resources"), list)):
        raise FlowstacksError('not a flowstacks manifest (needs "stack" and "resources")',
                              where=str(path))
    return data


def check_manifest(manifest: dict, levels: dict[str, Level] | None = None,
                   sfn_prefix: str | None = None) -> list[Violation]:
    resources = [Resource(r["type"], r["name"], r.get("inputs") or {}) for r in manifest["resources"]]
    return evaluate(resources, StackInfo(manifest["stack"], sfn_prefix), levels)
