"""A resolved FlowSpec class turned into :mod:`flowstacks.model.flow`: its graph (Metaflow's
``FlowGraph``, linted as Metaflow lints it), parameters, and flow and step decorators.

The pydantic models are imported inside the functions that build them: ``flowstacks names``
imports this module (for ``@project``) and must start without pydantic.
"""

from __future__ import annotations

import inspect
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from flowstacks.errors import FlowstacksError
from flowstacks.naming.events import parse_trigger_on_finish

if TYPE_CHECKING:
    from flowstacks.load.flow_configs import ConfigRead
    from flowstacks.model.flow import EventTrigger, Flow, Parameter, Step


class ResolvedFlow(NamedTuple):
    """A flow class with its Configs processed and its flow decorators initialised."""

    cls: type
    rel: str
    configs: list["ConfigRead"]
    decos: dict[str, list[Any]]



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


def _steps(cls: type) -> list[Step]:
    from metaflow.graph import FlowGraph

    from flowstacks.model.flow import Decorator, Step

    graph = FlowGraph(cls)
    lint_graph(graph, cls)
    steps = []
    for node in (graph[name] for name in graph.sorted_nodes):
        decos = []
        for deco in node.decorators:
            if not getattr(deco, "_ran_init", True):
                deco.external_init()
            decos.append(Decorator(name=deco.name, attributes=jsonable(deco.attributes),
                                   given=tuple(sorted(getattr(deco, "_user_defined_attributes",
                                                              ()) or ()))))
        steps.append(Step(
            name=node.name,
            type=node.type,
            next=tuple(node.out_funcs),
            in_funcs=tuple(sorted(node.in_funcs)),
            foreach_param=node.foreach_param,
            matching_join=node.matching_join,
            split_parents=tuple(node.split_parents),
            split_branches=tuple(node.split_branches),
            is_inside_foreach=bool(node.is_inside_foreach),
            decorators=tuple(decos),
            switch_cases={str(k): str(v) for k, v in (node.switch_cases or {}).items()},
            condition=node.condition,
        ))
    return steps


def lint_graph(graph: Any, cls: type) -> None:
    from metaflow.lint import LintWarn, linter

    try:
        linter.run_checks(graph)
    except LintWarn as exc:
        line = f" (line {exc.line_no})" if getattr(exc, "line_no", None) else ""
        raise FlowstacksError(f"Metaflow rejects the graph of {cls.__name__}{line}: {exc}",
                              where=inspect.getfile(cls)) from None


def _project_dir(cls: type, rel: str) -> Path:
    """The project folder: the flow file's path less its project-relative part."""
    path = Path(inspect.getfile(cls)).resolve()
    depth = len(PurePosixPath(rel).parts)
    return path.parents[depth - 1] if not Path(rel).is_absolute() and depth else path.parent


def _included(cls: type, rel: str, param: Any) -> tuple[Any, bool]:
    """An IncludeFile's default file (None without one) and whether its default is computed at
    deploy time (a callable: refused by the backends, which run no flow code)."""
    from flowstacks.load.include_files import read_included

    default = param.kwargs.get("default")
    if default is None:
        return None, False
    path = getattr(default, "print_representation", default)
    if not isinstance(path, str):
        return None, True
    flow_file = Path(inspect.getfile(cls))
    full = (flow_file.parent / Path(path).expanduser())
    if "://" in path:
        # FilePathClass.convert, scenario B.1
        raise FlowstacksError(
            "IncludeFile using a direct reference to a file in cloud storage is no longer "
            "supported. Contact the Metaflow team if you need this supported",
            where=f"{rel} ({cls.__name__}), parameter {param.name}")
    try:
        ptype = param.kwargs.get("type")  # FilePathClass(is_text, encoding)
        return read_included(full, _project_dir(cls, rel), bool(getattr(ptype, "_is_text", True)),
                             str(getattr(ptype, "_encoding", "utf-8"))), False
    except OSError:
        raise FlowstacksError(f"IncludeFile: could not open file '{path}' for reading",
                              where=f"{rel} ({cls.__name__}), parameter {param.name}",
                              hint=f"the path is read relative to the flow's folder "
                                   f"({PurePosixPath(rel).parent})") from None


def _parameters(cls: type, rel: str) -> list[Parameter]:
    from metaflow.includefile import IncludeFile
    from metaflow.parameters import DeployTimeField

    from flowstacks.model.flow import Parameter

    out = []
    for var, param in cls._get_parameters():
        if param.IS_CONFIG_PARAMETER:
            continue
        kwargs = param.kwargs
        default = kwargs.get("default")
        deploy_time = callable(default) or isinstance(default, DeployTimeField)
        included = None
        if isinstance(param, IncludeFile):
            included, deploy_time = _included(cls, rel, param)
            ftype = kwargs.get("type")  # FilePathClass(is_text, encoding)
            out.append(Parameter(
                name=param.name, attribute=var, type="str", default=None,
                has_default=included is not None or deploy_time,
                required=bool(kwargs.get("required")), help=kwargs.get("help"),
                deploy_time_default=deploy_time, include_file=included,
                file_is_text=bool(getattr(ftype, "_is_text", True)),
                file_encoding=str(getattr(ftype, "_encoding", "utf-8"))))
            continue
        ptype = kwargs.get("type", str)
        type_name = getattr(ptype, "__name__", None) or type(ptype).__name__
        out.append(Parameter(
            name=param.name,
            attribute=var,
            type="JSON" if type_name == "JSONTypeClass" else type_name,
            default=None if deploy_time else jsonable(default),
            has_default="default" in kwargs and default is not None,
            required=bool(kwargs.get("required")),
            help=kwargs.get("help"),
            deploy_time_default=deploy_time,
            separator=getattr(param, "separator", None),
        ))
    return out


def flow_decorators(cls: type) -> dict[str, list[Any]]:
    from metaflow.flowspec import FlowStateItems

    decos = cls._flow_state[FlowStateItems.FLOW_DECORATORS]
    for items in decos.values():
        for deco in items:
            deco.external_init()
    return decos


def project_decorator(decos: Mapping[str, list[Any]]) -> tuple[str | None, dict[str, Any]] | None:
    """``@project``'s name and the attributes the user gave (None without @project)."""
    if "project" not in decos:
        return None
    deco = decos["project"][0]
    given = {k: deco.attributes[k] for k in ("branch", "production")
             if k in deco._user_defined_attributes}
    return deco.attributes.get("name"), jsonable(given)


# conda_decorator.py / pypi_decorator.py (step_init and flow_init): the environments these
# decorators need; flowstacks renders tasks with --environment=local, Metaflow's default.
VIRTUAL_ENVS = ("conda", "pypi", "fast-bakery")
ENV_DECORATORS = ("conda", "pypi")
ENV_HINT = ("flowstacks deploys with --environment=local (no per-step environment bootstrap): "
            "install the packages in the task image (the config's compute image, "
            "@batch(image=...) or @kubernetes(image=...)) and remove the decorator")


def environment_message(decorator: str) -> str:
    """Metaflow's ``InvalidEnvironmentException`` text without ``--environment=conda|pypi``."""
    return "@%s decorator requires %s" % (
        decorator, " or ".join("--environment=%s" % env for env in VIRTUAL_ENVS))


def check_environment_decorators(cls: type, rel: str, steps: list[Step],
                                 decos: Mapping[str, list[Any]]) -> None:
    """``@conda``/``@conda_base``/``@pypi``/``@pypi_base`` refused on every backend, as Metaflow
    refuses them under ``--environment=local`` (each flow and step named, all at once)."""
    from flowstacks.errors import MetaflowRuleError, Problems

    problems = Problems()
    for name in ENV_DECORATORS:
        if f"{name}_base" in decos:
            # @X_base attaches @X to every step (flow_init), whose step_init then fails: Metaflow
            # names the step decorator
            problems.add(MetaflowRuleError(environment_message(name),
                                           headline="Incompatible environment",
                                           where=f"{rel} ({cls.__name__})", hint=ENV_HINT))
    for step in steps:
        for deco in step.decorators:
            if deco.name in ENV_DECORATORS:
                problems.add(MetaflowRuleError(environment_message(deco.name),
                                               headline="Incompatible environment",
                                               where=f"{rel} ({cls.__name__}.{step.name})",
                                               hint=ENV_HINT))
    problems.raise_all()


def build_flow(resolved: ResolvedFlow) -> Flow:
    """Turn a resolved FlowSpec class into a :class:`Flow`."""
    from flowstacks.model.flow import ConfigValue, Decorator, Flow, Project, Schedule

    cls, rel_file, decos = resolved.cls, resolved.rel, resolved.decos
    where = f"{rel_file} ({cls.__name__})"
    steps = _steps(cls)
    check_environment_decorators(cls, rel_file, steps, decos)
    project = project_decorator(decos)
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
        steps=tuple(steps),
        parameters=tuple(_parameters(cls, rel_file)),
        configs=tuple(ConfigValue(name=c.name, value=c.value, plain=c.plain, source=c.source)
                      for c in resolved.configs),
        schedule=schedule,
        triggers=tuple(triggers),
        trigger_on_finish=tuple(upstreams),
        flow_decorators=others,
        doc=inspect.getdoc(cls) if cls.__doc__ else None,
        doc_raw=cls.__doc__ or None,
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

