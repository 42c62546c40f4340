"""Find the folder of a repository's Metaflow flows without running anything: a flow file is a ``*.py``
whose syntax tree defines a class deriving from ``FlowSpec`` (directly, as ``metaflow.FlowSpec``, or
through another class of the same file). Metaflow itself reads the chosen folder afterwards.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from flowstacks.errors import FlowstacksError

# Folders that never hold a project's flows: tooling, environments, tests (fixtures are flows too, but not
# deployed ones) and what flowstacks writes itself.
SKIPPED_DIRS = frozenset({
    "node_modules", "__pycache__", "site-packages", "venv", "env", "build", "dist", "tests", "test",
    "infra", "stacks",
})


def _skipped(folder: Path) -> bool:
    name = folder.name
    return (name.startswith(".") or name in SKIPPED_DIRS or name.endswith(".egg-info")
            or (folder / "pyvenv.cfg").exists())


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def defines_flowspec(path: Path) -> bool:
    """Whether ``path`` defines a ``FlowSpec`` subclass (read as a syntax tree, never imported)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return False  # not a flow we can deploy; Metaflow would not read it either
    flowish = {"FlowSpec"}
    changed = True
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    while changed:  # classes deriving from a local FlowSpec subclass are flows too
        changed = False
        for node in classes:
            if node.name not in flowish and any(_base_name(b) in flowish for b in node.bases):
                flowish.add(node.name)
                changed = True
    return len(flowish) > 1


def find_flow_folders(root: Path) -> dict[str, list[str]]:
    """Folder (relative, POSIX; ``.`` for the root) -> its flow files, for every folder that has one."""
    root = Path(root)
    found: dict[str, list[str]] = {}
    for current, dirs, files in os.walk(root):
        folder = Path(current)
        dirs[:] = sorted(d for d in dirs if not _skipped(folder / d))
        flows = sorted(f for f in files if f.endswith(".py") and not f.startswith("_")
                       and defines_flowspec(folder / f))
        if flows:
            found[folder.relative_to(root).as_posix()] = flows
    return found


def choose_flows_dir(root: Path, given: str | None = None) -> str:
    """The one folder of flow files (``given`` wins); several or none is an error naming them."""
    if given is not None:
        folder = Path(root) / given
        if not folder.is_dir():
            raise FlowstacksError("no such folder", where=f"--flows-dir {given}")
        if not any(defines_flowspec(p) for p in folder.glob("*.py")):
            raise FlowstacksError("no file here defines a FlowSpec subclass", where=f"--flows-dir {given}")
        return Path(given).as_posix()
    found = find_flow_folders(root)
    if not found:
        raise FlowstacksError("no Metaflow flows found (no *.py defines a FlowSpec subclass)",
                              where=str(root), hint="run flowstacks init in the repository of your flows")
    if len(found) > 1:
        listing = "; ".join(f"{d}/ ({', '.join(files)})" for d, files in sorted(found.items()))
        raise FlowstacksError(f"flows in several folders: {listing}", where=str(root),
                              hint="a flowstacks project deploys the flows of one folder: pick it "
                                   "with --flows-dir")
    return next(iter(found))
