"""``stacks/Pulumi.<stack>.yaml``: one file per namespace of the config's matrix.

The files carry what the real Pulumi CLI needs per stack (``encryptionsalt``, ``secretsprovider``,
``encryptedkey``, ``environment``, ``secure:`` values, settings of other packages) and what flowstacks records
per stack (``flowstacks:*`` keys: the production token candidate in force, the Metaflow user of a developer
stack). flowstacks owns only its own keys: it edits a file in place (a YAML round trip that keeps every other
key, comment, order and quoting) and never rewrites what it does not own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowstacks.errors import FlowstacksError
from flowstacks.naming.stacks import PLATFORM_STACK, parse_stack

STACKS_DIR = "stacks"
OWNED_PREFIX = "flowstacks:"
TOKEN_KEY = "flowstacks:productionTokenIndex"
USER_KEY = "flowstacks:metaflowUser"
# Every flowstacks:* setting a stack file may hold; anything else under flowstacks: is a typo.
KNOWN_KEYS = frozenset({
    "flowstacks:projectDir", "flowstacks:orchestrator", TOKEN_KEY, USER_KEY,
    "flowstacks:serviceAuthKey", "flowstacks:offline",
})
HEADER = ("# Pulumi stack {stack} of a flowstacks project (stacks are Metaflow namespaces).\n"
          "# flowstacks edits only its own flowstacks:* keys here (`flowstacks token rotate` records the "
          "token in force); the rest is yours and Pulumi's.\n")


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / STACKS_DIR / f"Pulumi.{stack}.yaml"


def _document(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise FlowstacksError(f"not valid YAML: {exc}", where=str(path)) from None
    if not isinstance(data, dict):
        raise FlowstacksError("a stack file must be a mapping", where=str(path))
    if not isinstance(data.get("config") or {}, dict):
        raise FlowstacksError("'config' must be a mapping", where=str(path))
    return data


def read_stack_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """The ``config:`` map of a stack file ({} when the file does not exist)."""
    path = stack_file(project_dir, stack)
    if not path.exists():
        return {}
    return dict(_document(path).get("config") or {})


def token_index(project_dir: Path, stack: str) -> int:
    """The production token candidate recorded for ``stack`` (0: Metaflow's first token)."""
    value = read_stack_config(project_dir, stack).get(TOKEN_KEY, 0)
    problem = _token_problem(value)
    if problem:
        raise FlowstacksError(problem, where=str(stack_file(project_dir, stack)))
    return int(value)


def metaflow_user(project_dir: Path, stack: str) -> str | None:
    """The Metaflow user recorded for a developer stack (``flowstacks:metaflowUser``), or None."""
    value = read_stack_config(project_dir, stack).get(USER_KEY)
    return str(value) if value not in (None, "") else None


def _token_problem(value: Any) -> str | None:
    try:
        index = int(value)
    except (TypeError, ValueError):
        index = -1
    if isinstance(value, bool) or index < 0 or str(index) != str(value).strip():
        return f"{TOKEN_KEY} must be a whole number >= 0, got {value!r}"
    return None


def edit_stack_file(project_dir: Path, stack: str, changes: dict[str, Any]) -> Path:
    """Set (or, for a value of None, remove) ``config`` keys of a stack file in place, keeping every
    other key, comment and the order of the file (a new file gets the header). Only ``flowstacks:*``
    keys may be changed."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    assert all(k.startswith(OWNED_PREFIX) for k in changes), changes
    path = stack_file(project_dir, stack)
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    if path.exists():
        _document(path)  # a clear error for a broken file before the round trip
        text = path.read_text(encoding="utf-8")
        # Keep the file's own indentation: ruamel guesses the lists' (sequence indent, dash offset);
        # the mappings' is the smallest indent of a key line.
        _, sequence, offset = load_yaml_guess_indent(text)
        keys = [len(line) - len(line.lstrip(" ")) for line in text.splitlines()
                if line.startswith(" ") and not line.lstrip(" ").startswith(("-", "#"))]
        rt.indent(mapping=min(keys, default=2), sequence=sequence or 2, offset=offset or 0)
        data = rt.load(text)
    else:
        data = rt.load(HEADER.format(stack=stack) + "config: {}\n")
    if data.get("config") is None:
        data["config"] = {}
    config = data["config"]
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    if not config and hasattr(config, "fa"):
        config.fa.set_flow_style()
    out = io.StringIO()
    rt.dump(data, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def owned_problems(project_dir: Path, stack: str) -> list[str]:
    """What is wrong with the ``flowstacks:*`` keys of an existing stack file."""
    path = stack_file(project_dir, stack)
    try:
        config = dict(_document(path).get("config") or {})
    except FlowstacksError as exc:
        return [f"{path}: {exc.message}"]
    problems = [f"{path}: unknown setting '{key}' (flowstacks reads {', '.join(sorted(KNOWN_KEYS))})"
                for key in config if key.startswith(OWNED_PREFIX) and key not in KNOWN_KEYS]
    if TOKEN_KEY in config and (problem := _token_problem(config[TOKEN_KEY])):
        problems.append(f"{path}: {problem}")
    return problems


@dataclass
class SyncReport:
    written: list[str]
    unchanged: list[str]
    stale: list[str]  # stack files for namespaces no longer in the matrix

    def destroy_commands(self) -> list[str]:
        return [f"pulumi destroy -s {s} && pulumi stack rm {s}" for s in self.stale]


def existing_stacks(project_dir: Path) -> list[str]:
    folder = project_dir / STACKS_DIR
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def check(project_dir: Path, matrix: list[str]) -> list[str]:
    """Problems of ``stacks/`` against the matrix, each a sentence with the fix. Only what flowstacks
    owns is compared: a file per namespace of the matrix and valid ``flowstacks:*`` keys."""
    problems = []
    for stack in matrix:
        path = stack_file(project_dir, stack)
        if not path.exists():
            problems.append(f"{path}: missing for stack '{stack}' of the matrix; run `flowstacks stacks sync`")
        else:
            problems += owned_problems(project_dir, stack)
    for stack in existing_stacks(project_dir):
        if stack not in matrix and (stack == PLATFORM_STACK or parse_stack(stack).kind != "user"):
            problems.append(f"{stack_file(project_dir, stack)}: stale, '{stack}' is no longer in the "
                            f"matrix; destroy it with `pulumi destroy -s {stack} && pulumi stack rm {stack}`"
                            " then delete the file")
    return problems


def sync(project_dir: Path, matrix: list[str]) -> SyncReport:
    """Write the file of every stack of the matrix that has none (an existing file is the user's and
    Pulumi's: left as it is); report stale ones (never delete them: a stack with live resources must
    be destroyed first)."""
    report = SyncReport([], [], [])
    for stack in matrix:
        if stack_file(project_dir, stack).exists():
            report.unchanged.append(stack)
        else:
            edit_stack_file(project_dir, stack, {})
            report.written.append(stack)
    report.stale = [s for s in existing_stacks(project_dir)
                    if s not in matrix and (s == PLATFORM_STACK or parse_stack(s).kind != "user")]
    return report


def record_token_index(project_dir: Path, stack: str, index: int) -> Path:
    """Record the token candidate in force for ``stack`` in its stack file (in place)."""
    return edit_stack_file(project_dir, stack, {TOKEN_KEY: index})
