"""The Pulumi program: one stack = one Metaflow namespace. ``infra/__main__.py`` (real CLI) and
``flowstacks synth`` (mock engine) both call :func:`main`, which builds the stack's options once
and runs :func:`deploy` with them."""

from __future__ import annotations

from typing import Awaitable

import pulumi

from flowstacks.deploy.artifact_sink import ArtifactSink
from flowstacks.deploy.backends import BackendResult, add_role, backend
from flowstacks.deploy.components import protected_resources
from flowstacks.deploy.components.role import (
    CURRENT_BOUNDARY, DEPLOYER_ROLE, BoundaryPolicy, BoundaryPolicyArgs, NamespaceRole, RoleArgs,
)
from flowstacks.iam.boundary import boundary_artifact, boundary_document, boundary_name
from flowstacks.deploy.options import StackOptions, stack_options
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
    # the namespace's permissions boundary first: every role the backend makes carries it
    boundary = BoundaryPolicy("boundary", BoundaryPolicyArgs(
        boundary_name(ctx), boundary_document(ctx), dict(ctx.tags)),
        protected_resources(ctx.protect))
    CURRENT_BOUNDARY.set(boundary.policy)
    options.artifacts.append(boundary_artifact(ctx))
    result = await backend(ctx.orchestrator).deploy_stack(options)
    document = deployer_role(ctx, result.passed_roles)
    # created by the stack's bootstrap run (an admin's first `pulumi up`)
    deployer = NamespaceRole("deployer", RoleArgs(
        document, inline_policies=True, pulumi_type=DEPLOYER_ROLE, resource_name="deployer-role"),
        protected_resources(ctx.protect))
    export_outputs(ctx, result, deployer)
    add_role(options, result, document)
    options.artifacts.append(render_summary(ctx, result.roles))
    return list(options.artifacts)


def main(project: ProjectDir | None = None, artifacts: ArtifactSink | None = None,
         offline: bool | None = None) -> Awaitable[list[Artifact]]:
    """The program, under the Pulumi CLI (``pulumi.run``, no arguments: everything from the
    stack and its Pulumi config) and under ``flowstacks synth`` (its loaded project, its
    artifact folder, offline). Asynchronous: flows are registered a batch at a time."""
    return deploy(stack_options(project, artifacts, offline))
