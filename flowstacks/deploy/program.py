"""The Pulumi program: one stack = one Metaflow namespace. ``infra/__main__.py`` (real CLI) and
``flowstacks synth`` (mock engine) both call :func:`main`, which builds the stack's options once
and runs :func:`deploy` with them."""

from __future__ import annotations

from dataclasses import replace
from typing import Awaitable

import pulumi

from flowstacks.deploy.artifact_sink import ArtifactSink
from flowstacks.deploy.backends import BackendResult, add_role, backend
from flowstacks.deploy.components.providers import stack_providers
from flowstacks.deploy.components.role import (
    CURRENT_BOUNDARY, DEPLOYER_ROLE, BoundaryPolicy, BoundaryPolicyArgs, NamespaceRole, RoleArgs,
)
from flowstacks.iam.boundary import boundary_artifact, boundary_document, boundary_name
from flowstacks.deploy.options import StackOptions, default_project, stack_options
from flowstacks.deploy.platform_stack import PLATFORM_STACK, plan_platform
from flowstacks.deploy.placeholders import find_placeholders, refuse_placeholders
from flowstacks.iam.deployer import deployer_role
from flowstacks.load.project import ProjectDir
from flowstacks.model.deployment import StackContext
from flowstacks.policy.check import NAMING_OUTPUT
from flowstacks.render.artifact import Artifact
from flowstacks.render.summary import client_snippet, render_summary


def export_outputs(ctx: StackContext, result: BackendResult, deployer: NamespaceRole) -> None:
    """Per flow the orchestrator object, the Metaflow namespace and a client snippet; the
    namespace's facts; the naming settings that differ from Metaflow's (the policy rules need
    them to tell this namespace's names; Metaflow's defaults export nothing)."""
    pulumi.export("deployer_role", deployer.arn)
    pulumi.export("project", ctx.project_name)
    pulumi.export("namespace", ctx.namespace)
    pulumi.export("production_token", ctx.production_token)
    pulumi.export("orchestrator", ctx.orchestrator)
    naming = ctx.naming.exported()
    if naming:
        pulumi.export(NAMING_OUTPUT, naming)
    pulumi.export("flows", {
        f.flow.name: {
            "orchestrator_object": result.objects.get(f.flow.name),
            "namespace": ctx.namespace,
            "metaflow": client_snippet(ctx, f.flow.name),
        }
        for f in ctx.flows
    })


async def deploy(options: StackOptions) -> list[Artifact]:
    """Create every resource of the stack and export its outputs. Returns the reviewer
    artifacts (those written to the artifact folder as they were made keep only their path)."""
    ctx = options.context
    if not pulumi.runtime.is_dry_run():  # `pulumi up`: example values never reach a cloud
        refuse_placeholders(ctx.stack, find_placeholders(
            ctx.config, ctx.platform, ctx.orchestrator, options.project.config_file))
    # every resource is created with the stack's explicit providers, never Pulumi's defaults
    options = replace(options, providers=tuple(stack_providers(ctx)))
    # the namespace's permissions boundary first: every role the backend makes carries it
    boundary = BoundaryPolicy("boundary", BoundaryPolicyArgs(
        boundary_name(ctx), boundary_document(ctx), dict(ctx.tags)),
        options.component_options())
    CURRENT_BOUNDARY.set(boundary.policy)
    options.artifacts.append(boundary_artifact(ctx))
    result = await backend(ctx.orchestrator).deploy_stack(options)
    document = deployer_role(ctx, result.passed_roles)
    # created by the stack's bootstrap run (an admin's first `pulumi up`)
    deployer = NamespaceRole("deployer", RoleArgs(
        document, inline_policies=True, pulumi_type=DEPLOYER_ROLE, resource_name="deployer-role"),
        options.component_options())
    export_outputs(ctx, result, deployer)
    add_role(options, result, document)
    options.artifacts.append(render_summary(ctx, result.roles))
    return list(options.artifacts)


def main(project: ProjectDir | None = None, artifacts: ArtifactSink | None = None,
         offline: bool | None = None) -> Awaitable[list[Artifact]]:
    """The program, under the Pulumi CLI (``pulumi.run``, no arguments: everything from the
    stack and its Pulumi config) and under ``flowstacks synth`` (its loaded project, its
    artifact folder, offline). Asynchronous: flows are registered a batch at a time."""
    if pulumi.get_stack() == PLATFORM_STACK:
        return deploy_platform(project)
    return deploy(stack_options(project, artifacts, offline))


async def deploy_platform(project: ProjectDir | None) -> list[Artifact]:
    """The opt-in ``platform`` stack (:mod:`flowstacks.deploy.platform_stack`)."""
    from flowstacks.deploy.components.platform import PlatformObjects

    from flowstacks.deploy.components.providers import providers

    project = project or default_project()
    plan = plan_platform(project)
    if not pulumi.runtime.is_dry_run():  # its account is the prod class's
        config, platform = project.stack_platform("prod")
        refuse_placeholders(PLATFORM_STACK, find_placeholders(
            config, platform, "step-functions", project.config_file))
    made = providers(plan.region, plan.account_id, plan.kubernetes_context,
                     kubernetes=bool(plan.namespaces))
    PlatformObjects("platform", plan, pulumi.ResourceOptions(providers=made))
    pulumi.export("project", project.project_name)
    pulumi.export("platform", {"tables": list(plan.tables), "namespaces": list(plan.namespaces),
                               "elsewhere": list(plan.elsewhere)})
    return []
