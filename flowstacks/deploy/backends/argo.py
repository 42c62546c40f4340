"""The Argo Workflows backend: per namespace an IRSA task role and its service account; per flow
the code package, WorkflowTemplate, CronWorkflow (``@schedule``) and Sensor (``@trigger`` /
``@trigger_on_finish``).

Artifacts: ``argo/<template name>.yaml`` holds the template followed by its CronWorkflow and
Sensor as one multi-document YAML stream (``kubectl apply -f`` takes it as is), and
``iam/<role>.json`` the task role.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

from flowstacks.deploy.backends import (
    BackendResult, FlowBatches, FlowRender, add_role, flow_renders,
)
from flowstacks.deploy.components.argo_flow import ArgoFlow, ArgoFlowArgs
from flowstacks.deploy.components.argo_identity import ArgoTaskIdentity
from flowstacks.deploy.components.code_package import package_object
from flowstacks.deploy.components.include_file import included_file_objects
from flowstacks.deploy.components.role import TaskIdentityArgs
from flowstacks.deploy.options import StackOptions
from flowstacks.deploy.packages import package_file
from flowstacks.iam.irsa import irsa_role, service_account_name
from flowstacks.render.argo import ArgoObjects, creates_jobsets, executor_rules, render_flow
from flowstacks.render.serialize import compact_json


@dataclass
class RenderedObjects:
    """One flow rendered, kept until its batch is created: its objects as compact JSON (a
    tenth of the memory of the trees)."""

    render: FlowRender
    objects_json: str


async def deploy_stack(options: StackOptions) -> BackendResult:
    """Render every flow of the stack for Argo, then create the stack's resources."""
    ctx = options.context
    result = BackendResult()
    namespace = ctx.config.kubernetes.namespace
    service_account = service_account_name(ctx)
    # Render everything first: a name Kubernetes refuses stops the stack before any resource.
    rendered: deque = deque()
    jobsets = False  # whether a @parallel step's resource template creates JobSets
    for flow in flow_renders(options, service_account):
        objects = render_flow(ctx, flow.deployment, flow.package, flow.task_identity)
        jobsets = jobsets or creates_jobsets(objects.template)
        options.artifacts.append(objects.artifact())  # written out now
        rendered.append(RenderedObjects(flow, compact_json(
            [objects.template, objects.cron, objects.sensor])))
    role = irsa_role(ctx, service_account, namespace)
    protected = options.component_options()
    rules = tuple(executor_rules(jobsets))
    ArgoTaskIdentity(f"{ctx.stack}-argo-tasks",
                     TaskIdentityArgs(role, service_account, namespace, rules), protected)
    add_role(options, result, role)
    batches = FlowBatches()
    while rendered:  # each flow's rendering is released as it is created
        item = rendered.popleft()
        fd, package = item.render.deployment, item.render.package
        code = package_object(f"{fd.project_flow_name}-package", package, package_file(
            package, options.project_dir, options.write_packages), ctx.tags, protected)
        # IncludeFile defaults: uploaded as Metaflow's deployer uploads them (the template's
        # parameter default is their descriptor)
        included = included_file_objects(fd.project_flow_name, fd.flow,
                                         ctx.config.aws.datastore_root, options.project_dir,
                                         ctx.tags, protected)
        flow = ArgoFlow(fd.project_flow_name, ArgoFlowArgs(
            ArgoObjects(*json.loads(item.objects_json)), options.secrets), protected)
        result.objects[fd.flow.name] = flow.template_name
        await batches.add(code, *included, flow)
    return result
