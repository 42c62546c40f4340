"""The Step Functions backend: ``deploy_stack(ctx)`` wires one namespace's resources.

Per flow: the code package object, the state machine and its EventBridge rules. Per namespace:
the Batch job definitions the states submit to and the three roles of :mod:`flowstacks.iam.sfn`.
Rendering is done up front by the pure layers, so a bad flow fails before any resource exists.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pulumi

from flowstacks.load import code_package as pkg
from flowstacks.deploy.components import BackendResult, FlowBatches
from flowstacks.deploy.components.code_package import CodePackageObject, build_flow_package
from flowstacks.deploy.components.sfn_batch import JobDefinitions
from flowstacks.deploy.components.sfn_flow import StepFunctionsFlow
from flowstacks.deploy.components.sfn_roles import NamespaceRole
from flowstacks.iam.sfn import passed_roles, sfn_roles, task_role_arn
from flowstacks.model.deployment import StackContext
from flowstacks.render.artifact import Artifact
from flowstacks.render.serialize import canonical_json
from flowstacks.render.sfn import SfnInputs, event_rules, render_state_machine


def _project_dir() -> Path:
    return Path(pulumi.Config("flowstacks").get("projectDir") or ".")


async def deploy_stack(ctx: StackContext) -> BackendResult:
    """Render every flow of ``ctx``, then create the namespace's resources."""
    project_dir = _project_dir()
    version = pkg.installed_metaflow_version()
    result = BackendResult()
    packages, renderings, rules, definitions = {}, {}, {}, {}
    for dep in ctx.flows:  # all rendering first: errors leave nothing half-created
        package = build_flow_package(ctx, dep, project_dir)
        packages[dep.flow.name] = package
        rendering = render_state_machine(ctx, dep, SfnInputs(
            code_package_sha=package.sha, code_package_url=package.url,
            task_role_arn=task_role_arn(ctx), metaflow_version=version))
        rules[dep.flow.name] = event_rules(ctx, dep)
        # from here on the definition is needed as text only (the tree is ten times larger)
        definitions[dep.flow.name] = canonical_json(rendering.definition, indent=None)
        result.artifacts.append(Artifact(f"step-functions/{rendering.state_machine_name}.asl.json",
                                         canonical_json(rendering.definition)))
        renderings[dep.flow.name] = replace(rendering, definition={})
    started = [renderings[f].state_machine_name for f, r in rules.items() if r]
    roles = sfn_roles(ctx, [r.needs for r in renderings.values()], started)

    protect = ctx.protect
    execution = NamespaceRole("sfn-execution-role", document=roles.execution, protect=protect)
    if roles.task:
        NamespaceRole("batch-task-role", document=roles.task, protect=protect)
    events = (NamespaceRole("sfn-events-role", document=roles.events, protect=protect)
              if roles.events else None)
    specs = {n: s for r in renderings.values() for n, s in r.job_definitions.items()}
    jobdefs = JobDefinitions("job-definitions", specs=specs, tags=ctx.tags, protect=protect)
    result.passed_roles = passed_roles(ctx, roles, specs.values())

    batches = FlowBatches()
    for dep in ctx.flows:
        name = dep.flow.name
        package = CodePackageObject(f"{name}-code-package", package=packages.pop(name),
                                    tags=ctx.tags, protect=protect)
        flow = StepFunctionsFlow(
            name, state_machine_name=renderings[name].state_machine_name,
            definition_json=definitions.pop(name),
            job_definitions=list(renderings[name].job_definitions), role_arn=execution.arn,
            job_definition_arns=jobdefs.arns, rules=rules[name],
            events_role_arn=events.arn if events else None, tags=ctx.tags, protect=protect)
        result.objects[name] = flow.arn
        await batches.add(package, flow)
    result.artifacts += [role.artifact() for role in roles.all()]
    return result
