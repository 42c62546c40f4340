"""``flowstacks check``: the policy pack's rules, offline, on a synthesized plan (manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.naming.settings import NamingSettings
from flowstacks.policy.rules import UNKNOWN, Level, Resource, StackInfo, Violation, evaluate

NAMING_OUTPUT = "naming"  # the stack output with the naming settings that differ from Metaflow's
# How a manifest shows a secret (flowstacks.synth.engine.SECRET_MARK; not imported: that module
# loads the Pulumi SDK, which `flowstacks check` does not need).
SECRET_MARK = "[secret]"


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


def stack_info(manifest: dict[str, Any]) -> StackInfo:
    """The stack of a manifest, with the naming settings its program exported (a manifest
    without the ``naming`` output was made with Metaflow's defaults)."""
    outputs = manifest.get("outputs") or {}
    return StackInfo(manifest["stack"], NamingSettings.from_exported(outputs.get(NAMING_OUTPUT)))


def manifest_inputs(value: Any, preview: bool = False) -> Any:
    """A manifest's inputs for the rules: a secret is present but unknown here (the pack, which
    gets the plaintext, checks it; offline, the checks that need it find nothing). In a preview
    manifest (``synth --preview``) a null is an unknown too: the SDK never sends a None input,
    so a null is an output the engine does not know yet, which the pack sees as unknown."""
    if value == SECRET_MARK or (preview and value is None):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: manifest_inputs(v, preview) for k, v in value.items()}
    if isinstance(value, list):
        return [manifest_inputs(v, preview) for v in value]
    return value


def check_manifest(manifest: dict, levels: dict[str, Level] | None = None) -> list[Violation]:
    """Every enabled rule on every resource of ``manifest``."""
    preview = bool(manifest.get("preview"))
    resources = [Resource(r["type"], r["name"], manifest_inputs(r.get("inputs") or {}, preview))
                 for r in manifest["resources"]]
    return evaluate(resources, stack_info(manifest), levels)
