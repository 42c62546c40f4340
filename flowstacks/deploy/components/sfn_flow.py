"""One flow deployed to Step Functions: its state machine and the EventBridge rules that start it."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from flowstacks.deploy.components.secrets import reveal
from flowstacks.render.serialize import canonical_json
from flowstacks.render.sfn import SCHEDULE_INPUT, EventRuleSpec, resolve_references_json


class StepFunctionsFlow(pulumi.ComponentResource):
    """``aws.sfn.StateMachine`` named as Metaflow names it, plus a rule + target per trigger."""

    def __init__(self, name: str, *, state_machine_name: str, definition_json: str,
                 job_definitions: list[str], role_arn: pulumi.Input[str],
                 job_definition_arns: dict[str, pulumi.Output[str]], rules: list[EventRuleSpec],
                 events_role_arn: pulumi.Input[str] | None, tags: dict[str, str],
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:sfn:Flow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=protect)
        used = {n: job_definition_arns[n] for n in job_definitions}

        def definition(arns: dict[str, Any]) -> str:
            return resolve_references_json(definition_json, arns)

        self.state_machine = aws.sfn.StateMachine(
            name, name=state_machine_name, role_arn=role_arn, type="STANDARD",
            definition=reveal(pulumi.Output.all(**used).apply(definition)), tags=tags, opts=child)
        self.arn = self.state_machine.arn
        self.resources: list[pulumi.Resource] = [self.state_machine]
        for rule in rules:
            event_rule = aws.cloudwatch.EventRule(
                rule.name, name=rule.name, description=rule.description,
                schedule_expression=rule.schedule_expression,
                event_pattern=canonical_json(rule.event_pattern, indent=None)
                if rule.event_pattern else None,
                event_bus_name=rule.event_bus, tags=tags, opts=child)
            self.resources.append(event_rule)
            self.resources.append(aws.cloudwatch.EventTarget(
                rule.name, rule=event_rule.name, target_id=rule.name, arn=self.state_machine.arn,
                role_arn=events_role_arn, input=canonical_json(SCHEDULE_INPUT, indent=None),
                event_bus_name=rule.event_bus, opts=child))
        self.register_outputs({"arn": self.state_machine.arn})
