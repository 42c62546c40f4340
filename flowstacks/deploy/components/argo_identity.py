"""The identity of a namespace's Argo task pods: an IRSA role and the service account bound to it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from flowstacks.deploy.components.irsa import MANAGED_BY, IrsaServiceAccount
from flowstacks.iam.documents import RoleDocument
from flowstacks.render.argo import EXECUTOR_RULES


class ArgoTaskIdentity(pulumi.ComponentResource):
    """``role`` as rendered (trust admits exactly ``service_account``), the service account,
    annotated with the role ARN so that EKS hands its credentials to the pods, and the namespace
    Role + RoleBinding Argo's executor needs to report task outputs."""

    def __init__(self, name: str, *, role: RoleDocument, service_account: str, namespace: str,
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:argo:TaskIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=protect)
        self.identity = IrsaServiceAccount(
            f"{name}-irsa", role=role, service_account=service_account, namespace=namespace,
            sa_suffix="argo-sa", protect=protect, opts=pulumi.ResourceOptions(parent=self))
        self.role, self.service_account = self.identity.role, self.identity.service_account
        rbac_meta = k8s.meta.v1.ObjectMetaArgs(
            name=f"{service_account}-executor", namespace=namespace,
            labels=MANAGED_BY, annotations=role.tags)
        self.executor_role = k8s.rbac.v1.Role(
            f"{role.name}-argo-executor", metadata=rbac_meta, rules=EXECUTOR_RULES, opts=child)
        self.executor_binding = k8s.rbac.v1.RoleBinding(
            f"{role.name}-argo-executor", metadata=rbac_meta,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                             name=f"{service_account}-executor"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=service_account,
                                              namespace=namespace)],
            opts=pulumi.ResourceOptions(parent=self, protect=protect,
                                        depends_on=[self.executor_role, self.service_account]))
        self.register_outputs({"role_arn": self.role.arn, "service_account": service_account})
