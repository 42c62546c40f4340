"""The identity of a namespace's Airflow task pods: an IRSA role and its service account."""

from __future__ import annotations

import pulumi

from flowstacks.deploy.components.role import (
    IRSA_ROLE, NamespaceRole, RoleArgs, ServiceAccountArgs, TaskIdentityArgs,
)


class AirflowTaskIdentity(pulumi.ComponentResource):
    """The pods' service account, bound to the role (``<name>-irsa``) through IRSA."""

    def __init__(self, name: str, args: TaskIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:airflow:TaskIdentity", name, None, opts)
        self.identity = NamespaceRole(f"{name}-irsa", RoleArgs(
            args.role, service_account=ServiceAccountArgs(args.service_account, args.namespace, "sa"),
            pulumi_type=IRSA_ROLE, resource_name=args.role.name), pulumi.ResourceOptions(parent=self))
        self.register_outputs({"role_arn": self.identity.arn,
                               "service_account": args.service_account})
