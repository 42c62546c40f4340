"""One flow deployed to Step Functions: its state machine and the EventBridge rules that start it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from flowstacks.deploy.secrets import Secrets, reveal
from flowstacks.render.serialize import compact_json
from flowstacks.render.sfn import SCHEDULE_INPUT, EventRuleSpec, resolve_references_json


@dataclass(frozen=True)
class StepFunctionsFlowArgs:
    state_machine_name: str
    definition_json: str  # the ASL, with references to job definitions resolved at deploy time
    job_definitions: tuple[str, ...]  # the names the definition references
    job_definition_arns: dict[str, pulumi.Output[str]]  # of the stack's JobDefinitions
    role_arn: pulumi.Input[str]  # the execution role
    rules: tuple[EventRuleSpec, ...]
    events_role_arn: pulumi.Input[str] | None  # the role EventBridge starts executions with
    tags: dict[str, str]
    secrets: Secrets = field(default_factory=dict)


class StepFunctionsFlow(pulumi.ComponentResource):
    """``aws.sfn.StateMachine`` named as Metaflow names it (logical name: the component's), plus
    a rule + target per trigger (logical names: the rules' own Metaflow-style names)."""

    def __init__(self, name: str, args: StepFunctionsFlowArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:sfn:Flow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        used = {n: args.job_definition_arns[n] for n in args.job_definitions}

        def definition(arns: dict[str, Any]) -> str:
            return resolve_references_json(args.definition_json, arns)

        self.state_machine = aws.sfn.StateMachine(
            name, name=args.state_machine_name, role_arn=args.role_arn, type="STANDARD",
            definition=reveal(pulumi.Output.all(**used).apply(definition), args.secrets),
            tags=args.tags, opts=child)
        self.arn = self.state_machine.arn
        self.resources: list[pulumi.Resource] = [self.state_machine]
        for rule in args.rules:
            event_rule = aws.cloudwatch.EventRule(
                rule.name, name=rule.name, description=rule.description,
                schedule_expression=rule.schedule_expression,
                event_pattern=compact_json(rule.event_pattern) if rule.event_pattern else None,
                event_bus_name=rule.event_bus, tags=args.tags, opts=child)
            self.resources.append(event_rule)
            self.resources.append(aws.cloudwatch.EventTarget(
                rule.name, rule=event_rule.name, target_id=rule.name, arn=self.state_machine.arn,
                role_arn=args.events_role_arn,
                input=(None if rule.input_transformer else
                       compact_json(rule.input if rule.input is not None else SCHEDULE_INPUT)),
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    input_template=rule.input_transformer["InputTemplate"],
                    input_paths=rule.input_transformer.get("InputPathsMap"),
                ) if rule.input_transformer else None,
                event_bus_name=rule.event_bus, opts=child))
        self.register_outputs({"arn": self.state_machine.arn})
