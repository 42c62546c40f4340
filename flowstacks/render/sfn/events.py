"""EventBridge rules that start a flow's state machine: ``@schedule`` as Metaflow writes it,
``@trigger_on_finish`` and ``@trigger`` as flowstacks adds them (docs/metaflow-contract.md#events).

Source: Metaflow 2.19.39 ``plugins/aws/step_functions/event_bridge_client.py`` and
``step_functions.py`` (``schedule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowstacks.errors import FlowstacksError, MetaflowRuleError, Problems
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow
from flowstacks.naming.deployers import b32sha1, eventbridge_rule_name, sfn_state_machine_name
from flowstacks.naming.events import resolve_upstream
from flowstacks.render.sfn.checks import check_flow, schedule_expression, where
from flowstacks.render.sfn.context import partition

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
SCHEDULE_INPUT = {"Parameters": "{}"}  # what Metaflow's schedule target passes
# The source of the custom events a @trigger rule accepts (publish them with
# PutEvents(Source=EVENT_SOURCE, DetailType=<event name>, Detail=<payload JSON>)).
EVENT_SOURCE = "metaflow"
# The execution input key that carries the triggering run (`<Flow>/sfn-<execution>`) to the
# tasks' --trigger option (METAFLOW_TRIGGER): current.trigger (plugins/events_decorator.py).
TRIGGER_KEY = "Trigger"
# EventBridge InputPathsMap takes plain JSONPath: event fields named like identifiers only.
_FIELD_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
MSG_SEVERAL_UPSTREAMS = (
    "@trigger_on_finish(flows=[{flows}]) starts the flow once every upstream flow has finished "
    "(Metaflow's sensor waits for all of them); an EventBridge rule starts it on each upstream "
    "event, so on Step Functions this would run after any one of them. flowstacks refuses "
    "rather than change the meaning.")


@dataclass(frozen=True)
class EventRuleSpec:
    """One EventBridge rule that starts the flow's state machine, and what its target passes:
    ``input`` (a constant) or ``input_transformer`` (``InputPathsMap`` + ``InputTemplate``)."""

    name: str
    description: str
    schedule_expression: str | None = None
    event_pattern: dict[str, Any] | None = None
    event_bus: str | None = None  # None: the default bus
    input: dict[str, Any] | None = None
    input_transformer: dict[str, Any] | None = None


def _json_string(text: str) -> str:
    """``text`` as the inside of a JSON string literal (quotes and backslashes escaped)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _parameters_template(params: dict[str, str]) -> tuple[dict[str, str], str]:
    """InputPathsMap and the ``Parameters`` JSON string of a template that maps event fields
    (``$.detail.<field>``) into the flow's Parameters, as strings (the flow's Parameter types
    convert them, as for ``step-functions trigger --param value``)."""
    paths = {f"p{i}": f"$.detail.{field}" for i, field in enumerate(params.values())}
    inner = ", ".join(f'"{name}": "<p{i}>"' for i, name in enumerate(params))
    return paths, "{" + inner + "}"


def event_rules(ctx: StackContext, dep: FlowDeployment) -> list[EventRuleSpec]:
    """The rules of ``dep``: ``@schedule`` as Metaflow names and writes it; ``@trigger_on_finish``
    on the upstream state machine's SUCCEEDED status in this account (the upstream resolved
    against this deployment's project and branch), passing the upstream run to ``--trigger``;
    ``@trigger`` events as custom events from :data:`EVENT_SOURCE` in this account whose
    ``detail-type`` is the event name, on the configured bus, mapping the event's fields into
    the flow's Parameters (docs/metaflow-contract.md#step-functions-triggers)."""
    flow, aws = dep.flow, ctx.config.aws
    rules: list[EventRuleSpec] = []
    check_flow(flow)
    check_triggers(flow)
    expression = schedule_expression(flow)
    if expression:
        rules.append(EventRuleSpec(
            name=dep.eventbridge_rule_name,
            description=f"Metaflow generated rule for {dep.eventbridge_rule_name}",
            schedule_expression=f"cron({expression})", input=dict(SCHEDULE_INPUT)))
    for spec in flow.trigger_on_finish:
        try:
            upstream = resolve_upstream(spec, dep.project_name, dep.branch_name)
        except MetaflowRuleError as exc:
            raise MetaflowRuleError(exc.message, where=where(flow)) from None
        pfn = upstream.project_flow_name or upstream.flow
        upstream_sm = sfn_state_machine_name(pfn, aws.state_machine_prefix)
        upstream_arn = (f"arn:{partition(aws.region)}:states:{aws.region}:{aws.account_id}:"
                        f"stateMachine:{upstream_sm}")
        # No dot after the flow name: rule names stay recognisably in this namespace
        # (policy pack names-in-namespace); the hash tells apart same-named upstream flows.
        name = eventbridge_rule_name(
            f"{dep.state_machine_name}-after-{upstream.flow}-{b32sha1(upstream_sm)[:8].lower()}")
        rules.append(EventRuleSpec(
            name=name, description=f"Start {dep.state_machine_name} when {upstream_sm} succeeds",
            event_pattern={"source": ["aws.states"], "account": [aws.account_id],
                           "detail-type": [EXECUTION_STATUS_CHANGE],
                           "detail": {"status": ["SUCCEEDED"], "stateMachineArn": [upstream_arn]}},
            input_transformer={
                "InputPathsMap": {"execution": "$.detail.name"},
                # the run id of an upstream execution is sfn-<execution name>
                "InputTemplate": ('{"Parameters": "{}", "%s": "%s/sfn-<execution>"}'
                                  % (TRIGGER_KEY, upstream.flow)),
            }))
    for trigger in flow.triggers:
        event = trigger.resolved_name(dep.project_name, dep.branch_name)
        name = eventbridge_rule_name(
            f"{dep.state_machine_name}-event-{b32sha1(event)[:8].lower()}")
        paths, parameters = _parameters_template(trigger.parameters)
        transformer = {"InputTemplate": '{"Parameters": "%s"}' % _json_string(parameters)}
        if paths:
            transformer["InputPathsMap"] = paths
        rules.append(EventRuleSpec(
            name=name, description=f"Start {dep.state_machine_name} on event {event}",
            event_pattern={"source": [EVENT_SOURCE], "account": [aws.account_id],
                           "detail-type": [event]},
            event_bus=None if aws.event_bus == "default" else aws.event_bus,
            input=None if paths else dict(SCHEDULE_INPUT),
            input_transformer=transformer if paths else None))
    return rules


def check_triggers(flow: Flow) -> None:
    """What flowstacks cannot wire faithfully on EventBridge, refused (all problems at once):
    several upstream flows (AND), event fields that are not plain names, parameters the flow
    does not declare."""
    problems = Problems()
    if len(flow.trigger_on_finish) > 1:
        flows = ", ".join(repr(u.flow) for u in flow.trigger_on_finish)
        problems.add(FlowstacksError(
            MSG_SEVERAL_UPSTREAMS.format(flows=flows), where=where(flow),
            hint="deploy this namespace with --orchestrator argo or airflow (both wait for every "
                 "upstream), or trigger on one flow that runs after the others"))
    declared = {p.name for p in flow.parameters}
    for trigger in flow.triggers:
        for param, field in trigger.parameters.items():
            if param not in declared:
                problems.add(FlowstacksError(
                    f"@trigger event {trigger.name!r} maps field {field!r} to parameter "
                    f"{param!r}, which {flow.name} does not declare", where=where(flow)))
            if not field or not set(field) <= _FIELD_OK:
                problems.add(FlowstacksError(
                    f"@trigger event {trigger.name!r}: field {field!r} cannot be read by an "
                    "EventBridge input path (letters, digits, '_' and '-' only)",
                    where=where(flow)))
    problems.raise_all()
