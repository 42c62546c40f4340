"""The Step Functions backend: one namespace's state machines and what they need.

Per flow: the code package object, the state machine and its EventBridge rules. Per namespace:
the Batch job definitions the states submit to, the three roles of :mod:`flowstacks.iam.sfn` and,
when a flow has a foreach, the namespace's own DynamoDB table of foreach state (issue 16).
Artifacts: ``step-functions/<state machine>.asl.json`` and ``iam/<role>.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from flowstacks.errors import Problems
from flowstacks.deploy.backends import (
    BackendResult, FlowBatches, FlowRender, add_role, flow_renders,
)
from flowstacks.deploy.components.code_package import package_object
from flowstacks.deploy.components.include_file import included_file_objects
from flowstacks.deploy.components.role import NamespaceRole, RoleArgs
from flowstacks.deploy.components.sfn_batch import JobDefinitions, JobDefinitionsArgs
from flowstacks.deploy.components.sfn_flow import StepFunctionsFlow, StepFunctionsFlowArgs
from flowstacks.deploy.components.sfn_table import ForeachStateTable, ForeachStateTableArgs
from flowstacks.deploy.options import StackOptions
from flowstacks.deploy.packages import package_file
from flowstacks.iam.sfn import passed_roles, sfn_roles, task_role_arn
from flowstacks.render.artifact import Artifact
from flowstacks.render.serialize import canonical_json, compact_json
from flowstacks.render.sfn import (
    EventRuleSpec, JobDefinitionSpec, SfnInputs, StateNeeds, event_rules, render_state_machine,
)


@dataclass
class RenderedMachine:
    """One flow rendered, kept until its batch is created: the definition as text only (the
    tree is ten times larger)."""

    render: FlowRender
    state_machine_name: str
    definition_json: str
    job_definitions: dict[str, JobDefinitionSpec]
    needs: StateNeeds
    rules: tuple[EventRuleSpec, ...]


def render(flow: FlowRender) -> tuple[RenderedMachine, Artifact]:
    """The state machine and rules of one flow, and its reviewer artifact."""
    ctx, fd = flow.context, flow.deployment
    rendering = render_state_machine(ctx, fd, SfnInputs(
        code_package_sha=flow.package.sha, code_package_url=flow.package.url,
        task_role_arn=flow.task_identity, metaflow_version=flow.metaflow_version))
    artifact = Artifact(f"step-functions/{rendering.state_machine_name}.asl.json",
                        canonical_json(rendering.definition))
    return RenderedMachine(flow, rendering.state_machine_name, compact_json(rendering.definition),
                           rendering.job_definitions, rendering.needs,
                           tuple(event_rules(ctx, fd))), artifact


async def deploy_stack(options: StackOptions) -> BackendResult:
    """Render every flow of the stack, then create the namespace's resources."""
    ctx = options.context
    result = BackendResult()
    machines = []
    problems = Problems()  # every flow's problems, reported together
    for flow in flow_renders(options, task_role_arn(ctx)):  # all rendering first
        with problems.collect():
            machine, artifact = render(flow)
            options.artifacts.append(artifact)
            machines.append(machine)
    problems.raise_all()
    started = [m.state_machine_name for m in machines if m.rules]
    roles = sfn_roles(ctx, [m.needs for m in machines], started)

    protected = options.component_options()
    execution = NamespaceRole("sfn-execution-role", RoleArgs(roles.execution), protected)
    if roles.task:
        NamespaceRole("batch-task-role", RoleArgs(roles.task), protected)
    events = (NamespaceRole("sfn-events-role", RoleArgs(roles.events), protected)
              if roles.events else None)
    specs = {n: s for m in machines for n, s in m.job_definitions.items()}
    jobdefs = JobDefinitions("job-definitions", JobDefinitionsArgs(specs, ctx.tags), protected)
    result.passed_roles = passed_roles(ctx, roles, specs.values())

    # The namespace's own foreach-state table (issue 16), when a state machine uses one; with
    # dynamodb_table_layout 'shared' the table is a prerequisite created elsewhere.
    tables = sorted({t for m in machines for t in m.needs.dynamodb_tables})
    table = None
    if ctx.platform.owns_dynamodb_table and tables:
        assert tables == [ctx.dynamodb_table], tables
        table = ForeachStateTable("foreach-state", ForeachStateTableArgs(tables[0], ctx.tags),
                                  protected)

    batches = FlowBatches()
    for machine in machines:
        name, package = machine.render.name, machine.render.package
        code = package_object(f"{name}-code-package", package, package_file(
            package, options.project_dir, options.write_packages), ctx.tags, protected)
        included = included_file_objects(name, machine.render.deployment.flow,
                                         ctx.config.aws.datastore_root, options.project_dir,
                                         ctx.tags, protected)
        flow = StepFunctionsFlow(name, StepFunctionsFlowArgs(
            state_machine_name=machine.state_machine_name,
            definition_json=machine.definition_json,
            job_definitions=tuple(machine.job_definitions), job_definition_arns=jobdefs.arns,
            role_arn=execution.arn, rules=machine.rules,
            events_role_arn=events.arn if events else None, tags=ctx.tags,
            secrets=options.secrets),
            pulumi.ResourceOptions.merge(protected, pulumi.ResourceOptions(depends_on=[table]))
            if table and machine.needs.dynamodb_tables else protected)
        machine.definition_json = ""  # created: the text need not stay in memory
        result.objects[name] = flow.arn
        await batches.add(code, *included, flow)
    for document in roles.all():
        add_role(options, result, document)
    return result
