"""The namespace's deployer role (the identity CI uses for ``pulumi up -s <stack>``)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from flowstacks.iam.documents import RoleDocument
from flowstacks.render.serialize import compact_json


class DeployerRole(pulumi.ComponentResource):
    """One IAM role with its inline policy. Created by the stack's bootstrap run (an admin's
    first ``pulumi up``); the role's own policy denies it any change to itself."""

    def __init__(self, name: str, *, document: RoleDocument, protect: bool,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:index:DeployerRole", name, None, opts)
        self.role = aws.iam.Role(
            f"{name}-role",
            name=document.name,
            assume_role_policy=compact_json(document.assume_role_policy),
            inline_policies=[aws.iam.RoleInlinePolicyArgs(name=k, policy=compact_json(v))
                             for k, v in sorted(document.policies.items())],
            tags=document.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})
