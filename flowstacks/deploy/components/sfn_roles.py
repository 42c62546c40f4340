"""The IAM roles of a Step Functions namespace (documents from :mod:`flowstacks.iam.sfn`)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from flowstacks.iam.documents import RoleDocument
from flowstacks.render.serialize import canonical_json


class NamespaceRole(pulumi.ComponentResource):
    """One role with its inline policies, exactly as the reviewed ``iam/<role>.json`` says."""

    def __init__(self, name: str, *, document: RoleDocument, protect: bool = False,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:iam:NamespaceRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=protect)
        self.role = aws.iam.Role(
            name, name=document.name,
            assume_role_policy=canonical_json(document.assume_role_policy, indent=None),
            tags=document.tags, opts=child)
        self.policies = [
            aws.iam.RolePolicy(f"{name}-{policy_name}", role=self.role.id, name=policy_name,
                               policy=canonical_json(doc, indent=None), opts=child)
            for policy_name, doc in sorted(document.policies.items())
        ]
        self.arn = self.role.arn
        self.register_outputs({"arn": self.role.arn, "name": document.name})
