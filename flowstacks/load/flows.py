"""Read flow files with Metaflow itself: find them, import each module (never run a step), find
its one FlowSpec, resolve its Configs for one deployment (:mod:`.flow_configs`) and build the
model (:mod:`.flow_model`); each file and set of Config files is read once per process.

These three modules are the only ones that import users' flow files and Metaflow's flow internals.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from flowstacks.errors import FlowstacksError, Problems
from flowstacks.load.flow_configs import resolve_configs
from flowstacks.load.flow_model import (
    ResolvedFlow, build_flow, flow_decorators, lint_graph, project_decorator,
)
from flowstacks.render.serialize import compact_json

if TYPE_CHECKING:  # the pydantic models are imported where they are built: `names` needs none
    from flowstacks.model.flow import Flow

CONFIG_MODULE = "flowstacks_config.py"  # the project's Python config, not a flow
_FLOWS: dict[tuple[str, str], Flow] = {}  # (file, Config files) -> Flow: a class reads its Configs once
_RESOLVED: dict[tuple[str, str], ResolvedFlow] = {}


def _defines_flowspec(path: Path) -> bool:
    """Cheap pre-check: the file defines at least one class (helpers without classes are skipped)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise FlowstacksError(
            f"syntax error: {exc.msg} (line {exc.lineno})", where=str(path)
        ) from None
    return any(isinstance(node, ast.ClassDef) for node in tree.body)


def discover_flow_files(flow_dir: Path, problems: Problems | None = None) -> list[Path]:
    """Candidate flow files of ``flow_dir``: ``*.py`` that define classes, not the config, not ``_*``.
    With ``problems``, a file that does not parse is recorded there and skipped."""
    if not flow_dir.is_dir():
        raise FlowstacksError(f"no {flow_dir.name}/ folder here", where=str(flow_dir),
                              hint="point --project-dir at the folder that holds flowspecs/ (or "
                                   "flowstacks_config.py, whose flows_dir names the flows' folder)")
    found = []
    for p in sorted(flow_dir.glob("*.py")):
        if p.name == CONFIG_MODULE or p.name.startswith("_"):
            continue
        if problems is None:
            defines = _defines_flowspec(p)
        else:
            defines = False
            with problems.collect():
                defines = _defines_flowspec(p)
        if defines:
            found.append(p)
    return found


@contextlib.contextmanager
def _on_sys_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _import(path: Path, salt: str) -> Any:
    """Import ``path`` under a unique module name (a flow class keeps per-import Config state)."""
    digest = hashlib.sha1(f"{path.resolve()}|{salt}".encode()).hexdigest()[:12]
    name = f"_flowstacks_flow_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FlowstacksError("cannot be imported as a Python module", where=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _on_sys_path(path.parent):
            spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is a user error
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = f" (line {frames[-1].lineno})" if frames else ""
        raise FlowstacksError(
            f"importing the flow file failed{line}: {type(exc).__name__}: {exc}", where=str(path)
        ) from None
    return module


def flow_classes(module: Any) -> list[type]:
    from metaflow import FlowSpec

    return [
        obj for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, FlowSpec) and obj is not FlowSpec and obj.__module__ == module.__name__
    ]


@contextlib.contextmanager
def _user_errors(rel: str, cls: type) -> Iterator[None]:
    """Metaflow's own errors about the user's flow become errors naming the file and class."""
    try:
        yield
    except FlowstacksError as exc:
        exc.where = exc.where or rel
        raise
    except Exception as exc:  # noqa: BLE001
        msg = getattr(exc, "message", None) or str(exc)
        raise FlowstacksError(f"{type(exc).__name__}: {msg}", where=f"{rel} ({cls.__name__})") from None


def _resolve(path: Path, project_dir: Path, config_files: Mapping[str, Path] | None
             ) -> tuple[tuple[str, str], ResolvedFlow]:
    """Import ``path``, find its one FlowSpec, process its Configs (once per file and files)."""
    from metaflow.parameters import flow_context

    config_files = dict(config_files or {})
    salt = compact_json({k: str(v) for k, v in sorted(config_files.items())})
    module = _import(path, salt)
    classes = flow_classes(module)
    rel = _relative(path, project_dir)
    if not classes:
        raise FlowstacksError("defines no FlowSpec subclass", where=rel)
    if len(classes) > 1:
        raise FlowstacksError(
            f"defines {len(classes)} FlowSpec subclasses ({', '.join(c.__name__ for c in classes)}); "
            "a flow file defines exactly one", where=rel)
    cls = classes[0]
    key = (str(path.resolve()), salt)
    if key not in _RESOLVED:
        with _user_errors(rel, cls), flow_context(cls):
            configs = resolve_configs(cls, path, config_files)
            _RESOLVED[key] = ResolvedFlow(cls, rel, configs, flow_decorators(cls))
    return key, _RESOLVED[key]


def load_flow(path: Path, project_dir: Path, config_files: Mapping[str, Path] | None = None) -> Flow:
    """Import ``path`` and read its one FlowSpec with the given Config files (name -> file)."""
    from metaflow.parameters import flow_context

    key, resolved = _resolve(path, project_dir, config_files)
    if key not in _FLOWS:
        with _user_errors(resolved.rel, resolved.cls), flow_context(resolved.cls):
            _FLOWS[key] = build_flow(resolved)
    return _FLOWS[key]


def read_project(path: Path, project_dir: Path, config_files: Mapping[str, Path] | None = None
                 ) -> tuple[str, tuple[str | None, dict[str, Any]] | None]:
    """The flow's class name and ``@project`` (name, given attributes), after the same Config
    processing and graph checks as :func:`load_flow` but without building the model: what
    ``flowstacks names`` needs, without pydantic's start-up cost."""
    from metaflow.graph import FlowGraph
    from metaflow.parameters import flow_context

    _, resolved = _resolve(path, project_dir, config_files)
    with _user_errors(resolved.rel, resolved.cls), flow_context(resolved.cls):
        lint_graph(FlowGraph(resolved.cls), resolved.cls)
    return resolved.cls.__name__, project_decorator(resolved.decos)


def _relative(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def load_all(project_dir: Path, flow_dir: Path | None = None) -> list[Flow]:
    """Every flow of ``flow_dir`` (default ``flowspecs/``) with its default Config values (files
    without a FlowSpec subclass are helpers, skipped). Every file is read even when one fails:
    the problems of all files are raised together (:class:`~flowstacks.errors.ProblemList`)."""
    problems = Problems()
    flows = []
    for path in discover_flow_files(flow_dir or project_dir / "flowspecs", problems):
        with problems.collect():
            if flow_classes(_import(path, "{}")):
                flows.append(load_flow(path, project_dir))
    problems.raise_all()
    return flows
