"""A Metaflow flow as flowstacks sees it: graph + decorators, read by Metaflow itself.

Frozen pydantic models, filled by :mod:`flowstacks.load.flows` and :mod:`flowstacks.load.flow_model`
(the only modules that import the user's flow files). Everything here is plain data so renderers
stay pure.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from flowstacks.naming.events import UpstreamSpec, namespaced_event_name

StepType = Literal["start", "linear", "split", "foreach", "join", "end", "split-switch"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Decorator(Frozen):
    """A step or flow decorator with its resolved attributes (JSON-safe)."""

    name: str
    attributes: dict[str, Any]
    # the attributes the flow's author wrote (the rest are Metaflow's defaults, some read from
    # the Metaflow config of the machine that loaded the flow)
    given: tuple[str, ...] = ()


class Step(Frozen):
    """One node of the flow graph (``metaflow.graph.DAGNode``)."""

    name: str
    type: StepType
    next: tuple[str, ...]  # out_funcs, in Metaflow's order
    in_funcs: tuple[str, ...]  # sorted
    foreach_param: str | None = None
    matching_join: str | None = None
    split_parents: tuple[str, ...] = ()
    # the first step of each enclosing split/foreach branch, outermost first (DAGNode.split_branches)
    split_branches: tuple[str, ...] = ()
    is_inside_foreach: bool = False
    decorators: tuple[Decorator, ...] = ()
    switch_cases: dict[str, str] = {}
    condition: str | None = None

    def decorator(self, name: str) -> Decorator | None:
        return next((d for d in self.decorators if d.name == name), None)

    @property
    def retry_times(self) -> int:
        deco = self.decorator("retry")
        return int(deco.attributes.get("times", 3)) if deco else 0

    @property
    def timeout_seconds(self) -> int | None:
        """``@timeout`` in seconds (Metaflow adds seconds + 60*minutes + 3600*hours)."""
        deco = self.decorator("timeout")
        if not deco:
            return None
        a = deco.attributes
        return int(a.get("seconds") or 0) + 60 * int(a.get("minutes") or 0) + 3600 * int(
            a.get("hours") or 0
        )

    @property
    def environment(self) -> dict[str, str]:
        deco = self.decorator("environment")
        return {k: str(v) for k, v in (deco.attributes.get("vars") or {}).items()} if deco else {}


class IncludedFile(Frozen):
    """The default file of an ``IncludeFile`` parameter, read when the flow is loaded
    (docs/metaflow-contract.md#includefile). Metaflow uploads it at deploy time, gzipped, to
    ``<datatools root>/<Flow>/<sha1 of the file>`` and makes the parameter's default the
    ``uploader-v2`` descriptor of that object; :func:`flowstacks.load.include_files.resolve_include_files`
    sets :attr:`Parameter.default` to it for a namespace's datastore."""

    source: str  # the file, relative to the project dir
    sha1: str  # of the file's bytes (the object key's last part)
    size: int  # the file's size in bytes (the descriptor's "size")
    is_text: bool = True
    encoding: str = "utf-8"


class Parameter(Frozen):
    """A ``Parameter`` of the flow (not a Config). For an ``IncludeFile`` with a default file,
    ``include_file`` describes that file and, once resolved for a namespace, ``default`` is
    Metaflow's ``uploader-v2`` descriptor (a JSON string), which every backend renders as is."""

    name: str
    type: str  # str, int, float, bool, JSON
    attribute: str | None = None  # the class attribute that holds it (Metaflow's python_var_name)
    default: Any = None
    has_default: bool = False
    required: bool = False
    help: str | None = None
    deploy_time_default: bool = False  # the default is a function evaluated at deploy time
    separator: str | None = None
    include_file: IncludedFile | None = None
    # IncludeFile only (with or without a default file): FilePathClass's is_text and encoding,
    # which Argo's metaflow/parameters annotation carries (type "FilePath")
    file_is_text: bool | None = None
    file_encoding: str | None = None


class ConfigValue(Frozen):
    """A ``Config`` of the flow with the value it resolved to for one deployment."""

    name: str
    value: Any
    plain: bool = False
    source: str | None = None  # the file it was read from, relative to the project dir


class Schedule(Frozen):
    """``@schedule`` attributes (docs/metaflow-contract.md#schedules)."""

    cron: str | None = None
    weekly: bool = False
    daily: bool = True
    hourly: bool = False
    timezone: str | None = None

    @property
    def aws_expression(self) -> str | None:
        """The 6-field AWS cron Metaflow derives: cron > weekly > hourly > daily."""
        if self.cron:
            return self.cron
        if self.weekly:
            return "0 0 ? * SUN *"
        if self.hourly:
            return "0 * * * ? *"
        if self.daily:
            return "0 0 * * ? *"
        return None

    @property
    def numbered_weekdays(self) -> str | None:
        """The day-of-week field of a 6-field (EventBridge) cron when it holds numbers.
        EventBridge numbers the days 1-7 from Sunday, standard cron (Argo's robfig/cron,
        Airflow's croniter) 0-6: ``2`` is Monday on Step Functions and Tuesday there. Names
        (``MON-FRI``) mean the same everywhere."""
        fields = (self.cron or "").split()
        if len(fields) != 6:
            return None
        dow = fields[4]
        return dow if any(ch.isdigit() for ch in dow.split("#")[0].split("/")[0]) else None


class EventTrigger(Frozen):
    """One ``@trigger`` event: a literal name, or ``namespaced_event_name(name)`` which resolves
    per deployment to ``mfns.<project>.<branch>.<name>`` (docs/metaflow-contract.md#events); + parameter map."""

    name: str
    namespaced: bool = False
    parameters: dict[str, str] = {}

    def resolved_name(self, project: str | None, branch_name: str | None) -> str:
        if not self.namespaced:
            return self.name
        return namespaced_event_name(self.name, project, branch_name)


class Project(Frozen):
    """``@project`` as written: the name and only the attributes the user gave."""

    name: str | None
    attributes: dict[str, Any] = {}


class Flow(Frozen):
    """One flow class of one flow file, with its Configs resolved for one deployment."""

    name: str  # the FlowSpec class name, case kept
    file: str  # path of the flow file relative to the project dir
    project: Project | None
    steps: tuple[Step, ...]
    parameters: tuple[Parameter, ...] = ()
    configs: tuple[ConfigValue, ...] = ()
    schedule: Schedule | None = None
    triggers: tuple[EventTrigger, ...] = ()
    trigger_on_finish: tuple[UpstreamSpec, ...] = ()
    flow_decorators: tuple[Decorator, ...] = ()
    doc: str | None = None  # inspect.getdoc: dedented
    doc_raw: str | None = None  # the class's __doc__ as written (Argo's description annotation)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"flow {self.name} has no step {name!r}")

    @property
    def start(self) -> Step:
        return next(s for s in self.steps if s.type == "start" or s.name == "start")
