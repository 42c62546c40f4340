"""Event names of ``@trigger``/``@trigger_on_finish`` under ``@project`` (docs/metaflow-contract.md#events).

Sources: metaflow 2.19.39 ``plugins/events_decorator.py`` (``_parse_fq_name``,
``_parse_static_triggers``), ``plugins/argo/argo_workflows.py`` (``_process_triggers``) and
``plugins/namespaced_events.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from flowstacks.errors import MetaflowRuleError
from flowstacks.naming.deployers import b32sha1

EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # events_decorator: @trigger event names
TRIGGER_FLOW_RE = re.compile(r"^[A-Za-z0-9_]+$")  # events_decorator._parse_fq_name
NAMESPACED_STRIP = re.compile(r"[^a-zA-Z0-9_\-\.]")  # namespaced_events._make_namespaced_event_name
NAMESPACED_EVENTS_PREFIX = "mfns"  # metaflow_config.NAMESPACED_EVENTS_PREFIX default
SENSOR_DEP_HASH_LEN = 4

MSG_FQ_FORMAT = (
    "Incorrect format for *flow* in *@trigger_on_finish* decorator. Specify either just the "
    "*flow_name* or a fully qualified name like *project_name.branch_name.flow_name*."
)
MSG_BAD_FLOW = (
    "Invalid flow name *%s* in *@trigger_on_finish* decorator. Only alphanumeric characters "
    "and underscores(_) are allowed."
)
MSG_INCOMPLETE = (
    "Incomplete project info. Please specify both 'project' and 'project_branch' or use the "
    "@project decorator"
)


@dataclass(frozen=True)
class UpstreamSpec:
    """One parsed ``@trigger_on_finish`` entry: project/branch None where not given."""

    flow: str
    project: str | None = None
    branch: str | None = None


def parse_trigger_on_finish(spec: str | Mapping[str, Any], several: bool = False) -> UpstreamSpec:
    """Parse one entry of ``flow=``/``flows=`` as Metaflow does (string or dict form)."""
    if isinstance(spec, str):
        fq_name, project, branch = spec, None, None
    elif isinstance(spec, Mapping):
        if "name" not in spec:
            raise MetaflowRuleError(
                "One or more flows in the *flows* attribute for *@trigger_on_finish* is missing "
                "the *name* key." if several else
                "The *flow* attribute for *@trigger_on_finish* is missing the *name* key."
            )
        fq_name = spec["name"]
        if not isinstance(fq_name, str) or "." in fq_name:
            raise MetaflowRuleError(
                f"The *name* attribute of the *flow* {fq_name} is not a valid string"
            )
        project, branch = spec.get("project"), spec.get("project_branch")
        for key, value in (("project", project), ("project_branch", branch)):
            if key in spec and not isinstance(value, str):
                raise MetaflowRuleError(
                    f"The *{key}* attribute of the *flow* {fq_name} is not a string"
                )
    else:
        raise MetaflowRuleError(
            "Incorrect type for *flow* attribute in *@trigger_on_finish*  decorator. Supported "
            "type is string or Dict[str, str] - \n@trigger_on_finish(flow='FooFlow') or "
            "@trigger_on_finish(flow={'name':'FooFlow', 'project_branch': 'branch'})"
        )
    dots = fq_name.count(".")
    if dots == 0:
        flow = fq_name
    elif dots >= 2:
        project, tail = fq_name.split(".", 1)
        branch, flow = tail.rsplit(".", 1)
    else:
        raise MetaflowRuleError(MSG_FQ_FORMAT)
    if not TRIGGER_FLOW_RE.match(flow):
        raise MetaflowRuleError(MSG_BAD_FLOW % flow)
    return UpstreamSpec(flow=flow, project=project, branch=branch)


@dataclass(frozen=True)
class ResolvedUpstream:
    """An upstream flow resolved against the downstream's own project and branch."""

    flow: str
    project: str | None
    branch: str | None

    @property
    def event_name(self) -> str:
        """``metaflow.<project>.<branch>.<flow>.end``, empty parts left out."""
        return "metaflow.%s.end" % ".".join(p for p in (self.project, self.branch, self.flow) if p)

    @property
    def project_flow_name(self) -> str | None:
        if self.project and self.branch:
            return f"{self.project}.{self.branch}.{self.flow}"
        return None


def resolve_upstream(spec: UpstreamSpec, project: str | None, branch_name: str | None) -> ResolvedUpstream:
    """A downstream follows its own project and branch unless the spec names them (docs/metaflow-contract.md#events)."""
    up_project = spec.project or project
    up_branch = spec.branch or branch_name
    if (up_project or up_branch) and not (up_project and up_branch):
        raise MetaflowRuleError(MSG_INCOMPLETE)
    return ResolvedUpstream(flow=spec.flow, project=up_project, branch=up_branch)


def sensor_dependency_name(event_name: str) -> str:
    """Argo Events dependency name Metaflow computes for an event (``sanitized_name``)."""
    stripped = event_name.replace(".", "").replace("-", "").replace("@", "").replace("+", "")
    return f"{stripped}_{b32sha1(event_name)[:SENSOR_DEP_HASH_LEN].lower()}"


def namespaced_event_name(
    logical_name: str, project: str | None, branch_name: str | None,
    prefix: str = NAMESPACED_EVENTS_PREFIX,
) -> str:
    """``namespaced_event_name('x')`` resolved: ``mfns.<project>.<branch>.x`` or ``mfns.x``."""
    if project and branch_name:
        return "%s.%s.%s.%s" % (
            prefix, NAMESPACED_STRIP.sub("", project), NAMESPACED_STRIP.sub("", branch_name),
            logical_name,
        )
    return f"{prefix}.{logical_name}"
