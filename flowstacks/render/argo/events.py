"""CronWorkflow for ``@schedule`` and Argo Events Sensor for ``@trigger``/``@trigger_on_finish``.

Source: ``plugins/argo/argo_workflows.py`` (``_get_schedule``, ``_process_triggers``,
``_compile_sensor``) and ``argo_client.schedule_workflow_template``
(docs/metaflow-contract.md#events). Targets Argo
Workflows 3.6+/4.x: ``schedules`` list, no ``null`` fields.
"""

from __future__ import annotations

from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.naming.events import EVENT_NAME_RE, resolve_upstream, sensor_dependency_name
from flowstacks.render.serialize import metaflow_json

API_VERSION = "argoproj.io/v1alpha1"
# argo_client: history limits (Argo's defaults are 1 and 3) and a 59-minute start deadline.
CRON_HISTORY_LIMIT = 10000
CRON_STARTING_DEADLINE = 3540
SENSOR_RESOURCES = {"cpu": "100m", "memory": "250Mi"}  # guaranteed QoS, minimal
EVENT_PARAM_DESCRIPTION = "auto-set by metaflow. safe to ignore."


def cron_schedule(fd: FlowDeployment) -> tuple[str, str] | None:
    """(schedule, timezone): the AWS expression cut to 5 fields, ``?`` kept
    (docs/metaflow-contract.md#events)."""
    sched = fd.flow.schedule
    if sched is None or sched.aws_expression is None:
        return None
    return " ".join(sched.aws_expression.split()[:5]), sched.timezone or ""


# Argo Workflows 3.6 added CronWorkflowSpec.schedules (a list); 4.0 removed `schedule`.
SCHEDULES_SINCE = (3, 6)


def uses_schedules_list(argo_version: str | None) -> bool:
    """``schedules: [expr]`` (Argo >= 3.6, the default) or ``schedule: expr`` (older Argo, what
    ``argo_client.schedule_workflow_template`` writes without
    ``METAFLOW_ARGO_WORKFLOWS_USE_SCHEDULES``)."""
    if argo_version is None:
        return True
    major, minor = (int(x) for x in argo_version.split(".")[:2])
    return (major, minor) >= SCHEDULES_SINCE


def cron_workflow(ctx: StackContext, fd: FlowDeployment) -> dict[str, Any] | None:
    """The CronWorkflow that starts the template on schedule (named like the template)."""
    found = cron_schedule(fd)
    if found is None:
        return None
    expr, tz = found
    k8s = ctx.config.kubernetes
    schedule: dict[str, Any] = ({"schedules": [expr]} if uses_schedules_list(k8s.argo_version)
                                else {"schedule": expr})
    return {
        "apiVersion": API_VERSION,
        "kind": "CronWorkflow",
        "metadata": {"name": fd.names.argo.cron_workflow,
                     "namespace": ctx.config.kubernetes.namespace},
        "spec": {
            "suspend": False,
            **schedule,
            "timezone": tz,
            "failedJobsHistoryLimit": CRON_HISTORY_LIMIT,
            "successfulJobsHistoryLimit": CRON_HISTORY_LIMIT,
            "workflowSpec": {"workflowTemplateRef": {"name": fd.argo_template_name}},
            "startingDeadlineSeconds": CRON_STARTING_DEADLINE,
        },
    }


def triggers(ctx: StackContext, fd: FlowDeployment) -> list[dict[str, Any]]:
    """Metaflow's processed trigger list: ``name``, ``type`` (event/run), ``sanitized_name``,
    ``parameters`` (flow parameter -> payload key), ``filters``."""
    flow = fd.flow
    where = f"{flow.file} ({flow.name})"
    if flow.triggers and flow.trigger_on_finish:
        raise FlowstacksError("Argo Workflows doesn't support both *@trigger* and "
                              "*@trigger_on_finish* decorators concurrently yet. Use one or the "
                              "other for now.", where=where)
    out: list[dict[str, Any]] = []
    params = sorted(p.name.lower() for p in flow.parameters)
    for ev in flow.triggers:
        name = ev.resolved_name(fd.project_name, fd.branch_name)
        if not EVENT_NAME_RE.match(name):
            raise FlowstacksError(f"Invalid event name *{name}* in *@trigger* decorator. Only "
                                  "alphanumeric characters, underscores(_), dashes(-) and "
                                  "dots(.) are allowed.", where=where)
        mapping = {k.lower(): v for k, v in ev.parameters.items()}
        unknown = sorted(set(mapping) - set(params))
        if unknown:
            raise FlowstacksError(f"Parameter *{unknown[0]}* defined in the event mappings for "
                                  "*@trigger* decorator not found in the flow.", where=where)
        out.append({"name": name, "type": "event", "parameters": mapping, "filters": {}})
    # One event with no mapping: every parameter is filled from the same-named payload key.
    if len(out) == 1 and not out[0]["parameters"]:
        out[0]["parameters"] = {p: p for p in params}
    for spec in flow.trigger_on_finish:
        up = resolve_upstream(spec, fd.project_name, fd.branch_name)
        out.append({"name": up.event_name, "type": "run", "parameters": {},
                    "filters": {"auto-generated-by-metaflow": True, "project_name": up.project,
                                "branch_name": up.branch}})
    for trig in out:
        trig["sanitized_name"] = sensor_dependency_name(trig["name"])
    return out


def _filters(trig: dict[str, Any], required: set[str]) -> list[dict[str, Any]]:
    exprs = [{"expr": "name == '%s'" % trig["name"],
              "fields": [{"name": "name", "path": "body.payload.name"}]}]
    exprs += [{"expr": "true == true", "fields": [{"name": "field", "path": f"body.payload.{v}"}]}
              for k, v in trig["parameters"].items() if k in required]
    # str(True) == 'True': the payload's boolean compares as Python prints it
    # (docs/metaflow-contract.md#events).
    exprs += [{"expr": "field == '%s'" % v, "fields": [{"name": "field", "path": f"body.payload.{k}"}]}
              for k, v in trig["filters"].items() if v]
    return exprs


def _param_template(key: str, is_json: bool) -> str:
    value = ('{{- $pv:=(get $.Input.body.payload "%s") -}}{{ if kindIs "string" $pv }}'
             '{{- $pv | toRawJson -}}{{- else -}}{{ $pv | toRawJson | toRawJson }}{{- end -}}' % key
             if is_json else '{{- (get $.Input.body.payload "%s" | toRawJson) -}}' % key)
    return ('{{ if (hasKey $.Input.body.payload "%s") }}%s{{- else -}}'
            '{{ (fail "use-default-instead") }}{{- end -}}' % (key, value))


def sensor(ctx: StackContext, fd: FlowDeployment, annotations: dict[str, str],
           labels: dict[str, str], parameters: list[dict[str, Any]],
           trigs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Sensor that submits a Workflow from the template when its events arrive."""
    if not trigs:
        return None
    k8s = ctx.config.kubernetes
    name = fd.argo_template_name
    by_lower = {p["name"].lower(): p for p in parameters}
    required = {p.name.lower() for p in fd.flow.parameters if p.required}
    arg_params = [{"name": p["name"], "value": p["value"]} for p in parameters] + [
        {"name": t["sanitized_name"], "value": "null"} for t in trigs]
    trigger_params = [
        {"src": {"dependencyName": t["sanitized_name"],
                 "dataTemplate": _param_template(v, by_lower[k]["type"] == "JSON"),
                 "value": by_lower[k]["value"], "useRawData": False},
         "dest": "spec.arguments.parameters.#(name=%s).value" % by_lower[k]["name"]}
        for t in trigs for k, v in t["parameters"].items()
    ] + [
        {"src": {"dependencyName": t["sanitized_name"], "dataKey": "body.payload",
                 "value": "null", "useRawData": False},
         "dest": "spec.arguments.parameters.#(name=%s).value" % t["sanitized_name"]}
        for t in trigs
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "Sensor",
        "metadata": {"name": fd.argo_sensor_name,
                     "namespace": k8s.argo_events_sensor_namespace or k8s.namespace,
                     "labels": {**labels, "app.kubernetes.io/name": "metaflow-sensor"},
                     "annotations": annotations},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "metaflow-sensor",
                                        "app.kubernetes.io/part-of": "metaflow"},
                             "annotations": annotations},
                "container": {"name": "main", "resources": {"requests": dict(SENSOR_RESOURCES),
                                                            "limits": dict(SENSOR_RESOURCES)}},
                "serviceAccountName": k8s.argo_events_service_account,
            },
            "replicas": 1,
            "eventBusName": k8s.argo_events_event_bus,
            "triggers": [{"template": {"name": name, "k8s": {
                "operation": "create",
                "source": {"resource": {
                    "apiVersion": API_VERSION,
                    "kind": "Workflow",
                    "metadata": {
                        "generateName": f"{name}-",
                        "namespace": k8s.namespace,
                        "annotations": {"metaflow/triggered_by": metaflow_json(
                            [{"name": t["name"], "type": t["type"]} for t in trigs])},
                    },
                    "spec": {"arguments": {"parameters": arg_params},
                             "workflowTemplateRef": {"name": name}},
                }},
                "parameters": trigger_params,
            }}}],
            "dependencies": [
                {"name": t["sanitized_name"], "eventName": k8s.argo_events_event,
                 "eventSourceName": k8s.argo_events_event_source,
                 "filters": {"exprs": _filters(t, required)}}
                for t in trigs
            ],
        },
    }


def event_parameters(trigs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Workflow arguments that carry each event's payload into the run."""
    return [{"name": t["sanitized_name"], "value": "null", "description": EVENT_PARAM_DESCRIPTION}
            for t in trigs]
