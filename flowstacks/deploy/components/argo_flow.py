"""One flow on Argo: its WorkflowTemplate, CronWorkflow and Sensor as Kubernetes custom resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from flowstacks.deploy.secrets import Secrets, reveal
from flowstacks.render.argo import ArgoObjects


@dataclass(frozen=True)
class ArgoFlowArgs:
    objects: ArgoObjects
    secrets: Secrets = field(default_factory=dict)


class ArgoFlow(pulumi.ComponentResource):
    """The rendered objects (``<name>-template``, ``-cron``, ``-sensor``), created in the order
    Argo needs them: the template first, then the CronWorkflow and Sensor that reference it."""

    def __init__(self, name: str, args: ArgoFlowArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:argo:Flow", name, None, opts)
        objects = args.objects

        def custom_resource(part: str, doc: dict[str, Any],
                            opts: pulumi.ResourceOptions) -> CustomResource:
            return CustomResource(f"{name}-{part}", api_version=doc["apiVersion"], kind=doc["kind"],
                                  metadata=doc["metadata"], spec=reveal(doc["spec"], args.secrets),
                                  opts=opts)

        self.template = custom_resource("template", objects.template,
                                        pulumi.ResourceOptions(parent=self))
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.template])
        self.cron = custom_resource("cron", objects.cron, after) if objects.cron else None
        self.sensor = custom_resource("sensor", objects.sensor, after) if objects.sensor else None
        self.resources = [r for r in (self.template, self.cron, self.sensor) if r is not None]
        self.template_name = objects.template["metadata"]["name"]
        self.register_outputs({"template": self.template_name})
