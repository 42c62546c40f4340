"""An IRSA identity: an IAM role (trust and policies as rendered) and the Kubernetes service
account annotated with its ARN, so that EKS hands the role's credentials to the pods. Shared by
the Argo and Airflow backends."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from flowstacks.iam.documents import RoleDocument
from flowstacks.render.serialize import compact_json

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
MANAGED_BY = {"app.kubernetes.io/managed-by": "flowstacks"}


class IrsaServiceAccount(pulumi.ComponentResource):
    """``role`` and ``service_account`` in ``namespace``; the service account's logical name is
    ``<role>-<sa_suffix>``."""

    def __init__(self, name: str, *, role: RoleDocument, service_account: str, namespace: str,
                 sa_suffix: str, protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:k8s:IrsaServiceAccount", name, None, opts)
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
            f"{role.name}-{sa_suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=service_account, namespace=namespace, labels=MANAGED_BY,
                # tags as annotations: branch names and tokens are not always valid label values
                annotations={IRSA_ANNOTATION: self.role.arn, **role.tags}),
            opts=child)
        self.register_outputs({"role_arn": self.role.arn, "service_account": service_account})
