"""The AWS Batch job definitions the state machines of a namespace submit to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flowstacks.render.serialize import compact_json
from flowstacks.render.sfn import JobDefinitionSpec


@dataclass(frozen=True)
class JobDefinitionsArgs:
    specs: dict[str, JobDefinitionSpec]  # name -> spec, every distinct definition of the stack
    tags: dict[str, str]


class JobDefinitions(pulumi.ComponentResource):
    """One ``aws.batch.JobDefinition`` per distinct spec, named as Metaflow names it (a name
    that is the definition's content address, not derived from the component's)."""

    def __init__(self, name: str, args: JobDefinitionsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:sfn:JobDefinitions", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.definitions = {
            spec.name: aws.batch.JobDefinition(
                spec.name, name=spec.name, type="container",
                container_properties=compact_json(spec.container_properties),
                platform_capabilities=list(spec.platform_capabilities) or None,
                propagate_tags=spec.propagate_tags, tags=args.tags, opts=child)
            for spec in sorted(args.specs.values(), key=lambda s: s.name)
        }
        self.arns = {n: d.arn for n, d in self.definitions.items()}
        self.register_outputs({"arns": self.arns})
