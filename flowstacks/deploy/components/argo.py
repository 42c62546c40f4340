"""Argo Workflows backend (DESIGN §3, issue 5): per namespace an IRSA task role and its service
account; per flow the code package, WorkflowTemplate, CronWorkflow (@schedule) and Sensor
(@trigger/@trigger_on_finish).

Artifacts: ``argo/<template name>.yaml`` holds the template followed by its CronWorkflow and
Sensor as one multi-document YAML stream (``kubectl apply -f`` takes it as is), and
``iam/<role>.json`` the task role.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pulumi

from flowstacks.deploy.components import BackendResult, FlowBatches
from flowstacks.deploy.components.argo_flow import ArgoFlow
from flowstacks.deploy.components.argo_identity import ArgoTaskIdentity
from flowstacks.deploy.components.code_package import CodePackageObject, build_flow_package
from flowstacks.iam.irsa import irsa_role, service_account_name
from flowstacks.model.deployment import StackContext
from flowstacks.render.argo import ArgoObjects, render_flow
from flowstacks.render.serialize import compact_json


def _project_dir() -> Path:
    return Path(pulumi.Config("flowstacks").get("projectDir") or ".")


async def deploy_stack(ctx: StackContext) -> BackendResult:
    """Render every flow of ``ctx`` for Argo and create the stack's resources."""
    result = BackendResult()
    namespace = ctx.config.kubernetes.namespace
    service_account = service_account_name(ctx)
    # Render everything first: a name Kubernetes refuses stops the stack before any resource.
    # Until its batch is created a flow's objects are kept as compact JSON (a tenth of the
    # memory of the trees) and its YAML artifact is written out.
    rendered: deque = deque()
    for fd in ctx.flows:
        package = build_flow_package(ctx, fd, _project_dir())
        objects = render_flow(ctx, fd, package, service_account)
        result.artifacts.append(objects.artifact())
        rendered.append((fd, package, compact_json([objects.template, objects.cron, objects.sensor])))
    role = irsa_role(ctx, service_account, namespace)
    ArgoTaskIdentity(f"{ctx.stack}-argo-tasks", role=role, service_account=service_account,
                     namespace=namespace, protect=ctx.protect)
    result.artifacts.append(role.artifact())
    batches = FlowBatches()
    while rendered:  # each flow's rendering is released as it is created
        fd, package, text = rendered.popleft()
        code = CodePackageObject(f"{fd.project_flow_name}-package", package=package,
                                 tags=ctx.tags, protect=ctx.protect)
        flow = ArgoFlow(fd.project_flow_name, objects=ArgoObjects(*json.loads(text)),
                        protect=ctx.protect)
        result.objects[fd.flow.name] = flow.template_name
        await batches.add(code, flow)
    return result
