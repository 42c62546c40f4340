"""The identity of a namespace's Argo task pods: an IRSA role and the service account bound to it."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.iam.documents import RoleDocument
from infra.render.argo import EXECUTOR_RULES
from infra.render.serialize import compact_json

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


class ArgoTaskIdentity(pulumi.ComponentResource):
    """``role`` as rendered (trust admits exactly ``service_account``), the service account,
    annotated with the role ARN so that EKS hands its credentials to the pods, and the namespace
    Role + RoleBinding Argo's executor needs to report task outputs."""

    def __init__(self, name: str, *, role: RoleDocument, service_account: str, namespace: str,
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:argo:TaskIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=protect)
        self.role = aws.iam.Role(
            role.name, name=role.name, assume_role_policy=compact_json(role.assume_role_policy),
            tags=role.tags, opts=child)
        self.policies = [
            aws.iam.RolePolicy(f"{role.name}-{policy_name}", role=self.role.id, name=policy_name,
                               policy=compact_json(document), opts=child)
            for policy_name, document in role.policies.items()
        ]
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{role.name}-argo-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=service_account, namespace=namespace,
                labels={"app.kubernetes.io/managed-by": "flowstacks"},
                # tags as annotations: branch names and tokens are not always label values
                annotations={IRSA_ANNOTATION: self.role.arn, **role.tags}),
            opts=child)
        rbac_meta = k8s.meta.v1.ObjectMetaArgs(
            name=f"{service_account}-executor", namespace=namespace,
            labels={"app.kubernetes.io/managed-by": "flowstacks"}, annotations=role.tags)
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
