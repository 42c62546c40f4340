"""The Pulumi program: one stack = one Metaflow namespace. ``infra/__main__.py`` (real CLI) and
``flowstacks synth`` (mock engine) both call :func:`deploy`."""

from __future__ import annotations

from pathlib import Path
from typing import Awaitable

import pulumi

from flowstacks.deploy.components import backend
from flowstacks.deploy.components.deployer import DeployerRole
from flowstacks.deploy.components.secrets import secret_inputs
from flowstacks.iam.deployer import deployer_role
from flowstacks.model.deployment import StackContext, secret_placeholder
from flowstacks.load.project import ProjectDir
from flowstacks.render.artifact import Artifact
from flowstacks.render.serialize import metaflow_json
from flowstacks.render.summary import client_snippet, render_summary


async def deploy(project_dir: Path | str, stack: str, orchestrator: str | None = None,
                 token_index: int = 0) -> list[Artifact]:
    """Create every resource of ``stack`` and export, per flow, the orchestrator object, the
    Metaflow namespace and a client snippet. Returns the reviewer artifacts."""
    project = ProjectDir(Path(project_dir), orchestrator or None)
    ctx = project.stack_context(stack, token_index)
    if "serviceAuthKey" in secret_inputs():  # Metaflow's METAFLOW_SERVICE_AUTH_KEY, kept secret
        ctx = ctx.model_copy(update={"service_headers": metaflow_json(
            {"x-api-key": secret_placeholder("serviceAuthKey")})})
    result = await backend(ctx.orchestrator).deploy_stack(ctx)
    deployer_doc = deployer_role(ctx)
    deployer = DeployerRole("deployer", document=deployer_doc, protect=ctx.protect)
    pulumi.export("deployer_role", deployer.arn)
    pulumi.export("project", ctx.project_name)
    pulumi.export("namespace", ctx.namespace)
    pulumi.export("production_token", ctx.production_token)
    pulumi.export("orchestrator", ctx.orchestrator)
    pulumi.export("flows", {
        f.flow.name: {
            "orchestrator_object": result.objects.get(f.flow.name),
            "namespace": ctx.namespace,
            "metaflow": client_snippet(ctx, f.flow.name),
        }
        for f in ctx.flows
    })
    result.artifacts.append(deployer_doc.artifact())
    roles = [a.path[len("iam/"):-len(".json")] for a in result.artifacts if a.path.startswith("iam/")]
    result.artifacts.append(render_summary(ctx, roles))
    return list(result.artifacts)


def main() -> Awaitable[list[Artifact]]:
    """The program, under the Pulumi CLI (``pulumi.run``) and under ``flowstacks synth`` alike:
    the stack name is the namespace; ``flowstacks:*`` config comes from
    ``stacks/Pulumi.<stack>.yaml``. Asynchronous: flows are registered a batch at a time."""
    config = pulumi.Config("flowstacks")
    return deploy(config.get("projectDir") or ".", pulumi.get_stack(),
                  config.get("orchestrator") or None,
                  config.get_int("productionTokenIndex") or 0)
