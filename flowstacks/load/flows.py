"""Read flow files with Metaflow itself: import the module (never run a step), find the FlowSpec,
resolve its Configs for one deployment, and turn graph + decorators into :mod:`flowstacks.model.flow`.

This is the only module that imports users' flow files and Metaflow's flow internals.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import inspect
import json
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, NamedTuple

from flowstacks.errors import FlowstacksError
from flowstacks.naming.events import parse_trigger_on_finish
from flowstacks.render.serialize import compact_json

if TYPE_CHECKING:  # the pydantic models are imported where they are built: `names` needs none
    from flowstacks.model.flow import EventTrigger, Flow, Parameter, Step

CONFIG_MODULE = "flowstacks_config.py"  # the project's Python config, not a flow
_FLOWS: dict[tuple[str, str], Flow] = {}  # (file, Config files) -> Flow: a class reads its Configs once


class ConfigRead(NamedTuple):
    """One Config as resolved for a deployment (becomes a ``ConfigValue`` in the model)."""

    name: str
    value: Any
    plain: bool
    source: str | None


class _Resolved(NamedTuple):
    """A flow class with its Configs processed and its flow decorators initialised."""

    cls: type
    rel: str
    configs: list[ConfigRead]
    decos: dict[str, list[Any]]


_RESOLVED: dict[tuple[str, str], _Resolved] = {}


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a decorator attribute (unknown objects become their ``str``)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    return str(value)


def _defines_flowspec(path: Path) -> bool:
    """Cheap pre-check: the file defines at least one class (helpers without classes are skipped)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise FlowstacksError(
            f"syntax error: {exc.msg} (line {exc.lineno})", where=str(path)
        ) from None
    return any(isinstance(node, ast.ClassDef) for node in tree.body)


def discover_flow_files(flow_dir: Path) -> list[Path]:
    """Candidate flow files of ``flow_dir``: ``*.py`` that define classes, not the config, not ``_*``."""
    if not flow_dir.is_dir():
        raise FlowstacksError(f"no {flow_dir.name}/ folder here", where=str(flow_dir),
                              hint="point --project-dir at the folder that holds flowspecs/ (or "
                                   "flowstacks_config.py, whose flows_dir names the flows' folder)")
    return [
        p for p in sorted(flow_dir.glob("*.py"))
        if p.name != CONFIG_MODULE and not p.name.startswith("_") and _defines_flowspec(p)
    ]


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


def _read_config_text(param: Any, override: Path | None, flow_file: Path) -> tuple[Any, str | None]:
    """The raw value of one Config: override file, default file, or default value."""
    from metaflow.user_configs.config_options import ConfigInput

    plain = bool(param.kwargs.get("plain"))
    source: Path | None = override
    text: str | None = None
    if source is None and param._default_is_file:
        default = param.kwargs.get("default")
        if isinstance(default, str) and default.startswith('"'):
            default = json.loads(default)
        if callable(default):
            raise FlowstacksError(
                f"Config '{param.name}' has a deploy-time default; give its file in the config",
                where=str(flow_file),
            )
        source = (flow_file.parent / default) if default else None
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise FlowstacksError(
                f"configuration file '{source}' could not be read for '{param.name}': "
                f"{exc.strerror}", where=str(flow_file),
            ) from None
    else:
        default = param.kwargs.get("default")
        if default is None:
            if param.kwargs.get("required"):
                raise FlowstacksError(f"missing configuration for '{param.name}'", where=str(flow_file))
            return None, None
        if isinstance(default, Mapping):
            return jsonable(default), None
        text = default if isinstance(default, str) else compact_json(default)
    try:
        if param.parser:
            value = ConfigInput._call_parser(param.parser, text, plain)
        else:
            value = text if plain else json.loads(text)
    except (ValueError, TypeError) as exc:
        raise FlowstacksError(
            f"configuration value for '{param.name}' is not valid: {exc}",
            where=str(source or flow_file),
        ) from None
    return jsonable(value), str(source) if source is not None else None


def _resolve_configs(cls: type, flow_file: Path, overrides: Mapping[str, Path]) -> list[ConfigRead]:
    from metaflow.flowspec import FlowStateItems
    from metaflow.user_configs.config_parameters import ConfigValue as MFConfigValue

    configs: list[ConfigRead] = []
    options: dict[str, Any] = {}
    for _, param in cls._get_parameters():
        if not param.IS_CONFIG_PARAMETER:
            continue
        value, source = _read_config_text(param, overrides.get(param.name), flow_file)
        plain = bool(param.kwargs.get("plain"))
        cls._flow_state.self_data[FlowStateItems.CONFIGS][param.name] = (value, plain)
        key = param.name.replace("-", "_").lower()
        options[key] = value if value is None or plain else MFConfigValue(value)
        configs.append(ConfigRead(param.name, value, plain, source))
    unknown = set(overrides) - {c.name for c in configs}
    if unknown:
        raise FlowstacksError(
            f"the config gives a file for Config {sorted(unknown)} but {cls.__name__} declares "
            f"{sorted(c.name for c in configs) or 'no Config'}", where=str(flow_file),
        )
    cls._process_config_decorators(options)
    return configs


def _steps(cls: type) -> list[Step]:
    from metaflow.graph import FlowGraph

    from flowstacks.model.flow import Decorator, Step

    graph = FlowGraph(cls)
    _lint(graph, cls)
    steps = []
    for node in (graph[name] for name in graph.sorted_nodes):
        decos = []
        for deco in node.decorators:
            if not getattr(deco, "_ran_init", True):
                deco.external_init()
            decos.append(Decorator(name=deco.name, attributes=jsonable(deco.attributes)))
        steps.append(Step(
            name=node.name,
            type=node.type,
            next=tuple(node.out_funcs),
            in_funcs=tuple(sorted(node.in_funcs)),
            foreach_param=node.foreach_param,
            matching_join=node.matching_join,
            split_parents=tuple(node.split_parents),
            is_inside_foreach=bool(node.is_inside_foreach),
            decorators=tuple(decos),
            switch_cases={str(k): str(v) for k, v in (node.switch_cases or {}).items()},
            condition=node.condition,
        ))
    return steps


def _lint(graph: Any, cls: type) -> None:
    from metaflow.lint import LintWarn, linter

    try:
        linter.run_checks(graph)
    except LintWarn as exc:
        line = f" (line {exc.line_no})" if getattr(exc, "line_no", None) else ""
        raise FlowstacksError(f"Metaflow rejects the graph of {cls.__name__}{line}: {exc}",
                              where=inspect.getfile(cls)) from None


def _parameters(cls: type) -> list[Parameter]:
    from metaflow.parameters import DeployTimeField

    from flowstacks.model.flow import Parameter

    out = []
    for _, param in cls._get_parameters():
        if param.IS_CONFIG_PARAMETER:
            continue
        kwargs = param.kwargs
        default = kwargs.get("default")
        deploy_time = callable(default) or isinstance(default, DeployTimeField)
        ptype = kwargs.get("type", str)
        type_name = getattr(ptype, "__name__", None) or type(ptype).__name__
        out.append(Parameter(
            name=param.name,
            type="JSON" if type_name == "JSONTypeClass" else type_name,
            default=None if deploy_time else jsonable(default),
            has_default="default" in kwargs and default is not None,
            required=bool(kwargs.get("required")),
            help=kwargs.get("help"),
            deploy_time_default=deploy_time,
            separator=getattr(param, "separator", None),
        ))
    return out


def _flow_decorators(cls: type) -> dict[str, list[Any]]:
    from metaflow.flowspec import FlowStateItems

    decos = cls._flow_state[FlowStateItems.FLOW_DECORATORS]
    for items in decos.values():
        for deco in items:
            deco.external_init()
    return decos


def _project(decos: Mapping[str, list[Any]]) -> tuple[str | None, dict[str, Any]] | None:
    """``@project``'s name and the attributes the user gave (None without @project)."""
    if "project" not in decos:
        return None
    deco = decos["project"][0]
    given = {k: deco.attributes[k] for k in ("branch", "production")
             if k in deco._user_defined_attributes}
    return deco.attributes.get("name"), jsonable(given)


def build_flow(resolved: _Resolved) -> Flow:
    """Turn a resolved FlowSpec class into a :class:`Flow`."""
    from flowstacks.model.flow import ConfigValue, Decorator, Flow, Project, Schedule

    cls, rel_file, decos = resolved.cls, resolved.rel, resolved.decos
    where = f"{rel_file} ({cls.__name__})"
    project = _project(decos)
    schedule = None
    if "schedule" in decos:
        a = decos["schedule"][0].attributes
        schedule = Schedule(cron=a.get("cron"), weekly=bool(a.get("weekly")),
                            daily=bool(a.get("daily", True)), hourly=bool(a.get("hourly")),
                            timezone=a.get("timezone"))
    triggers: list[EventTrigger] = []
    if "trigger" in decos:
        triggers = _event_triggers(decos["trigger"][0].attributes, where)
    upstreams = []
    if "trigger_on_finish" in decos:
        a = decos["trigger_on_finish"][0].attributes
        if a.get("flow") and a.get("flows"):
            raise FlowstacksError("Specify only one of *flow* or *flows* attributes in "
                                  "*@trigger_on_finish* decorator.", where=where)
        specs = [a["flow"]] if a.get("flow") else list(a.get("flows") or [])
        if not specs:
            raise FlowstacksError("No flow(s) specified in *@trigger_on_finish* decorator.",
                                  where=where)
        try:
            upstreams = [parse_trigger_on_finish(s, several=len(specs) > 1) for s in specs]
        except FlowstacksError as exc:
            raise FlowstacksError(exc.message, where=where) from None
    others = tuple(
        Decorator(name=name, attributes=jsonable(items[0].attributes))
        for name, items in sorted(decos.items())
        if name not in ("project", "schedule", "trigger", "trigger_on_finish")
    )
    return Flow(
        name=cls.__name__,
        file=rel_file,
        project=Project(name=project[0], attributes=project[1]) if project else None,
        steps=tuple(_steps(cls)),
        parameters=tuple(_parameters(cls)),
        configs=tuple(ConfigValue(name=c.name, value=c.value, plain=c.plain, source=c.source)
                      for c in resolved.configs),
        schedule=schedule,
        triggers=tuple(triggers),
        trigger_on_finish=tuple(upstreams),
        flow_decorators=others,
        doc=inspect.getdoc(cls) if cls.__doc__ else None,
    )


def _event_triggers(attributes: Mapping[str, Any], where: str) -> list[EventTrigger]:
    from flowstacks.model.flow import EventTrigger

    events = []
    raw = [attributes["event"]] if attributes.get("event") else list(attributes.get("events") or [])
    for item in raw:
        name, params = (item.get("name"), item.get("parameters") or {}) if isinstance(
            item, Mapping) else (item, {})
        if isinstance(params, (list, tuple)):
            params = {p: p for p in params}
        namespaced = _namespaced_event(name)
        if namespaced is not None:
            name = namespaced
        elif not isinstance(name, str):
            raise FlowstacksError(
                f"unsupported @trigger event {item!r}: use a string, a dict with a 'name', or "
                "namespaced_event_name(...)", where=where)
        events.append(EventTrigger(name=name, namespaced=namespaced is not None,
                                   parameters={str(k): str(v) for k, v in params.items()}))
    return events


def _namespaced_event(value: Any) -> str | None:
    """The logical name inside ``namespaced_event_name(x)`` (a functools.partial), else None."""
    func = getattr(value, "func", None)
    if getattr(func, "__name__", "") == "_delayed_name_generator":
        return value.keywords.get("event_name")
    return None


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
             ) -> tuple[tuple[str, str], _Resolved]:
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
            configs = _resolve_configs(cls, path, config_files)
            _RESOLVED[key] = _Resolved(cls, rel, configs, _flow_decorators(cls))
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
        _lint(FlowGraph(resolved.cls), resolved.cls)
    return resolved.cls.__name__, _project(resolved.decos)


def _relative(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def load_all(project_dir: Path, config_files: Mapping[str, Mapping[str, Path]] | None = None,
             flow_dir: Path | None = None) -> list[Flow]:
    """Every flow of ``flow_dir`` (default ``flowspecs/``; files without a FlowSpec subclass are
    helpers, skipped).

    ``config_files`` maps a flow class name to its Config files for this deployment.
    """
    flows = []
    for path in discover_flow_files(flow_dir or project_dir / "flowspecs"):
        module = _import(path, "{}")
        classes = flow_classes(module)
        if not classes:
            continue
        name = classes[0].__name__ if len(classes) == 1 else None
        flows.append(load_flow(path, project_dir, (config_files or {}).get(name or "", {})))
    return flows
