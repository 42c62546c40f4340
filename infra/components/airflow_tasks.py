"""The identity of a namespace's Airflow task pods: an IRSA role and its service account."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.iam.documents import RoleDocument
from infra.render.serialize import compact_json


class AirflowTaskIdentity(pulumi.ComponentResource):
    """``role`` (trust and inline policies as rendered) and the Kubernetes service account
    the pods run as, annotated with the role ARN so EKS injects its credentials."""

    def __init__(self, name: str, *, role: RoleDocument, service_account: str, namespace: str,
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:airflow:TaskIdentity", name, None, opts)
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
            f"{role.name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=service_account, namespace=namespace,
                labels={"app.kubernetes.io/managed-by": "flowstacks"},
                # tag values (branch names, tokens) may not be valid label values: annotations
                annotations={"eks.amazonaws.com/role-arn": self.role.arn, **role.tags}),
            opts=child)
        self.register_outputs({"role_arn": self.role.arn, "service_account": service_account})
