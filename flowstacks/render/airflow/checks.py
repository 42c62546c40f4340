"""What Metaflow's ``airflow create`` refuses, with its own text (``airflow_cli._validate_workflow``,
``Airflow.compile``; docs/metaflow-contract.md#airflow), except ``@trigger_on_finish``, which
flowstacks supports through Assets; and what Airflow itself would refuse at load time."""

from __future__ import annotations

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.deployment import FlowDeployment
from flowstacks.model.flow import Step
from flowstacks.naming.deployers import AIRFLOW_ID_LEN
from flowstacks.render.metaflow_runtime import DEFAULT_RUNTIME_LIMIT, MIN_RUNTIME_LIMIT

MSG_TIMEZONE = "`airflow create` does not support scheduling with `timezone`."
MSG_TRIGGER = ("Deploying flows with @trigger or @trigger_on_finish decorator(s) to Airflow "
               "is not supported currently.")
MSG_BATCH = ("Step *%s* is marked for execution on AWS Batch with Airflow which isn't "
             "currently supported.")
MSG_PARAM_DEFAULT = ("Parameter *%s* does not have a default value. A default value is required "
                     "for parameters when deploying flows on Airflow.")
MSG_NODE_TYPE = "Node type *%s* for  step *%s* is not currently supported by Airflow."
MSG_NESTED_FOREACH = ("Step *%s* is a foreach step called within a foreach step. This type of "
                      "graph is currently not supported with Airflow.")
MSG_FOREACH_LINEAR = (
    "The foreach step *%s* created by step *%s* needs to have an immediate join step. Step *%s* "
    "is invalid since it is a linear step with a foreach. This type of graph is currently not "
    "supported with Airflow.")
MSG_K8S_ATTR = ("The decorator attribute *%s* is currently not supported on Airflow for the "
                "@kubernetes decorator on step *%s*")
MSG_TIMEOUT = ("The timeout for step *{step}* should be at least 60 seconds for execution on "
               "Kubernetes.")
K8S_UNSUPPORTED = ("use_tmpfs", "tmpfs_size", "persistent_volume_claims", "image_pull_policy")


def where(fd: FlowDeployment, step: Step | None = None) -> str:
    return f"{fd.flow.file} ({fd.flow.name}{'.' + step.name if step else ''})"


def runtime_limit(step: Step) -> int:
    """The step's ``execution_timeout``: its ``@timeout``, else Metaflow's default."""
    return step.timeout_seconds if step.decorator("timeout") else DEFAULT_RUNTIME_LIMIT


def validate(fd: FlowDeployment) -> None:
    """Refuse what Metaflow's ``airflow create`` refuses (with its text), except
    ``@trigger_on_finish``, which flowstacks supports through Assets."""
    flow = fd.flow
    if fd.airflow_dag_id is None:
        raise MetaflowRuleError(fd.names.airflow.error, where=where(fd))
    if len(fd.airflow_dag_id) > AIRFLOW_ID_LEN:
        # Metaflow does not check; Airflow refuses the DAG at load time (validate_key)
        raise FlowstacksError(
            f"dag_id '{fd.airflow_dag_id}' is {len(fd.airflow_dag_id)} characters; Airflow "
            f"takes at most {AIRFLOW_ID_LEN}", where=where(fd),
            hint="shorten the project, branch or flow class name")
    if flow.triggers:
        raise MetaflowRuleError(MSG_TRIGGER, where=where(fd),
                                hint="flowstacks maps @trigger_on_finish to Airflow Assets; "
                                     "@trigger events have no Airflow equivalent")
    for p in flow.parameters:
        if not p.has_default:
            raise MetaflowRuleError(MSG_PARAM_DEFAULT % p.name, where=where(fd))
    for step in flow.steps:
        if step.type not in ("start", "linear", "split", "foreach", "join", "end"):
            raise MetaflowRuleError(MSG_NODE_TYPE % (step.type, step.name), where=where(fd, step))
        if step.decorator("batch"):
            raise MetaflowRuleError(MSG_BATCH % step.name, where=where(fd, step))
        if step.decorator("parallel"):
            raise MetaflowRuleError("Deploying flows with @parallel decorator(s) to Airflow is "
                                    "not supported currently.", where=where(fd, step))
        k8s = step.decorator("kubernetes")
        for attr in K8S_UNSUPPORTED:
            if k8s and k8s.attributes.get(attr):
                raise MetaflowRuleError(MSG_K8S_ATTR % (attr, step.name), where=where(fd, step))
        if runtime_limit(step) < MIN_RUNTIME_LIMIT:
            raise MetaflowRuleError(MSG_TIMEOUT.format(step=step.name), where=where(fd, step))
    _validate_foreach(fd)
    if flow.schedule and flow.schedule.timezone is not None:
        raise MetaflowRuleError(MSG_TIMEZONE, where=where(fd))
    cron = flow.schedule.cron if flow.schedule else None
    if cron:
        check_cron(cron, fd)


def airflow_cron(cron: str) -> str:
    """The cron Airflow is given for ``@schedule(cron=...)``. Metaflow's ``airflow create``
    passes it through (``Airflow._get_schedule``), but its ``@schedule`` takes EventBridge's
    6-field form (``minutes hours day-of-month month day-of-week year``) and Airflow (croniter)
    reads a 6th field as the *second*: ``0 12 * * ? *`` would start a run every second of 12:00.
    So a 6th field ``*`` (every year) is dropped, the rule of Metaflow's own Argo deployer
    (``ArgoWorkflows._cron``: "Remove the field Year"); 5 fields, and 6 whose last is one
    second, pass through (docs/metaflow-contract.md#schedules). ``check_cron`` refuses the rest."""
    fields = cron.split()
    if len(fields) == 6 and fields[5] == "*":
        return " ".join(fields[:5])
    return cron


def check_cron(cron: str, fd: FlowDeployment) -> None:
    """What ``airflow_cron`` cannot render faithfully, refused before anything is uploaded."""
    fields = cron.split()
    if len(fields) == 5:
        return
    if len(fields) == 6 and fields[5].isdigit() and int(fields[5]) < 60:
        return
    if len(fields) == 6 and fields[5] == "*":
        dow = fd.flow.schedule.numbered_weekdays if fd.flow.schedule else None
        if dow:
            raise FlowstacksError(
                f"@schedule(cron='{cron}'): an EventBridge-style cron (6th field: the year) "
                f"numbers the days of the week 1-7 from Sunday, Airflow 0-6, so "
                f"'{dow}' would mean other days on Airflow", where=where(fd),
                hint="name the days (SUN, MON-FRI, ...): both read names alike")
        return
    if len(fields) == 6:
        raise FlowstacksError(
            f"@schedule(cron='{cron}'): Airflow reads a 6th cron field as the second, and as "
            f"an EventBridge year '{fields[5]}' has no Airflow form", where=where(fd),
            hint=f"write the 5-field cron '{' '.join(fields[:5])}'")
    raise FlowstacksError(f"@schedule(cron='{cron}') has {len(fields)} fields; Airflow takes 5 "
                          "(or 6, the last being the second or an EventBridge year '*')",
                          where=where(fd))


def _validate_foreach(fd: FlowDeployment) -> None:
    """``airflow_cli._validate_foreach_constraints``: one foreach level, whose body is a single
    step followed by its join. Like Metaflow, one stack is shared by the whole walk (appended to,
    reset by the next foreach), so sibling branches inside a foreach add up."""
    steps = {s.name: s for s in fd.flow.steps}
    state: dict[str, list[str]] = {}

    def visit(step: Step) -> None:
        if step.type == "foreach" and step.is_inside_foreach:
            raise MetaflowRuleError(MSG_NESTED_FOREACH % step.name, where=where(fd, step))
        if step.type == "foreach":
            state["stack"] = [step.name]
        if step.type in ("start", "linear", "join", "foreach"):
            if step.type == "linear" and step.is_inside_foreach:
                state["stack"].append(step.name)
            stack = state.get("stack", [])
            if len(stack) > 2:
                raise MetaflowRuleError(MSG_FOREACH_LINEAR % (stack[1], stack[0], stack[-1]),
                                        where=where(fd, step))
            visit(steps[step.next[0]])
        elif step.type == "split":
            for name in step.next:
                visit(steps[name])

    visit(fd.flow.start)
