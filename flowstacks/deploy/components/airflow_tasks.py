"""The identity of a namespace's Airflow task pods: an IRSA role and its service account."""

from __future__ import annotations

import pulumi

from flowstacks.deploy.components.irsa import IrsaServiceAccount
from flowstacks.iam.documents import RoleDocument


class AirflowTaskIdentity(pulumi.ComponentResource):
    """The pods' service account, bound to ``role`` through IRSA."""

    def __init__(self, name: str, *, role: RoleDocument, service_account: str, namespace: str,
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:airflow:TaskIdentity", name, None, opts)
        self.identity = IrsaServiceAccount(
            f"{name}-irsa", role=role, service_account=service_account, namespace=namespace,
            sa_suffix="sa", protect=protect, opts=pulumi.ResourceOptions(parent=self))
        self.role = self.identity.role
        self.register_outputs({"role_arn": self.role.arn, "service_account": service_account})
