"""The AWS Batch job definitions the state machines of a namespace submit to."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from flowstacks.render.serialize import canonical_json
from flowstacks.render.sfn import JobDefinitionSpec


class JobDefinitions(pulumi.ComponentResource):
    """One ``aws.batch.JobDefinition`` per distinct spec, named as Metaflow names it."""

    def __init__(self, name: str, *, specs: dict[str, JobDefinitionSpec], tags: dict[str, str],
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:sfn:JobDefinitions", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=protect)
        self.definitions = {
            spec.name: aws.batch.JobDefinition(
                spec.name, name=spec.name, type="container",
                container_properties=canonical_json(spec.container_properties, indent=None),
                platform_capabilities=list(spec.platform_capabilities) or None,
                propagate_tags=spec.propagate_tags, tags=tags, opts=child)
            for spec in sorted(specs.values(), key=lambda s: s.name)
        }
        self.arns = {n: d.arn for n, d in self.definitions.items()}
        self.register_outputs({"arns": self.arns})
