"""EventBridge rules that start a flow's state machine: ``@schedule`` as Metaflow writes it,
``@trigger_on_finish`` and ``@trigger`` as flowstacks adds them (docs/metaflow-contract.md#events).

Source: Metaflow 2.19.39 ``plugins/aws/step_functions/event_bridge_client.py`` and
``step_functions.py`` (``schedule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowstacks.errors import MetaflowRuleError
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.naming.deployers import b32sha1, eventbridge_rule_name, sfn_state_machine_name
from flowstacks.naming.events import resolve_upstream
from flowstacks.render.sfn.checks import check_flow, schedule_expression, where
from flowstacks.render.sfn.context import partition

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
SCHEDULE_INPUT = {"Parameters": "{}"}  # what Metaflow's schedule target passes


@dataclass(frozen=True)
class EventRuleSpec:
    """One EventBridge rule that starts the flow's state machine."""

    name: str
    description: str
    schedule_expression: str | None = None
    event_pattern: dict[str, Any] | None = None
    event_bus: str | None = None  # None: the default bus


def event_rules(ctx: StackContext, dep: FlowDeployment) -> list[EventRuleSpec]:
    """The rules of ``dep``: ``@schedule`` as Metaflow names and writes it; ``@trigger_on_finish``
    on the upstream state machine's SUCCEEDED status (the upstream resolved against this
    deployment's project and branch); ``@trigger`` events as custom events whose ``detail-type``
    is the event name, on the configured bus."""
    flow, aws = dep.flow, ctx.config.aws
    rules: list[EventRuleSpec] = []
    check_flow(flow)
    expression = schedule_expression(flow)
    if expression:
        rules.append(EventRuleSpec(
            name=dep.eventbridge_rule_name,
            description=f"Metaflow generated rule for {dep.eventbridge_rule_name}",
            schedule_expression=f"cron({expression})"))
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
            event_pattern={"source": ["aws.states"], "detail-type": [EXECUTION_STATUS_CHANGE],
                           "detail": {"status": ["SUCCEEDED"], "stateMachineArn": [upstream_arn]}}))
    for trigger in flow.triggers:
        event = trigger.resolved_name(dep.project_name, dep.branch_name)
        name = eventbridge_rule_name(
            f"{dep.state_machine_name}-event-{b32sha1(event)[:8].lower()}")
        rules.append(EventRuleSpec(
            name=name, description=f"Start {dep.state_machine_name} on event {event}",
            event_pattern={"detail-type": [event]},
            event_bus=None if aws.event_bus == "default" else aws.event_bus))
    return rules
