"""One flow on Argo: its WorkflowTemplate, CronWorkflow and Sensor as Kubernetes custom resources."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from flowstacks.deploy.components.secrets import reveal
from flowstacks.render.argo import ArgoObjects


def _custom_resource(name: str, doc: dict[str, Any], opts: pulumi.ResourceOptions) -> CustomResource:
    return CustomResource(name, api_version=doc["apiVersion"], kind=doc["kind"],
                          metadata=doc["metadata"], spec=reveal(doc["spec"]), opts=opts)


class ArgoFlow(pulumi.ComponentResource):
    """The rendered objects, created in the order Argo needs them: the template first, then the
    CronWorkflow and Sensor that reference it by name."""

    def __init__(self, name: str, *, objects: ArgoObjects, protect: bool = False,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:argo:Flow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=protect)
        self.template = _custom_resource(f"{name}-template", objects.template, child)
        after = pulumi.ResourceOptions(parent=self, protect=protect, depends_on=[self.template])
        self.cron = (_custom_resource(f"{name}-cron", objects.cron, after)
                     if objects.cron else None)
        self.sensor = (_custom_resource(f"{name}-sensor", objects.sensor, after)
                       if objects.sensor else None)
        self.resources = [r for r in (self.template, self.cron, self.sensor) if r is not None]
        self.template_name = objects.template["metadata"]["name"]
        self.register_outputs({"template": self.template_name})
