"""A namespace's IAM role, exactly as its reviewed ``iam/<role>.json`` says: the one role
component of every backend (the Step Functions roles, the IRSA task roles with their Kubernetes
service account, the deployer role)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from flowstacks.iam.documents import RoleDocument
from flowstacks.render.serialize import compact_json

# The Pulumi type of the component by use. A component's type is part of its children's URNs:
# these are the types of the three role components this one replaced, so that existing stacks
# keep their roles (a new type would make Pulumi replace every role).
NAMESPACE_ROLE = "flowstacks:iam:NamespaceRole"
IRSA_ROLE = "flowstacks:k8s:IrsaServiceAccount"
DEPLOYER_ROLE = "flowstacks:index:DeployerRole"

BOUNDARY_POLICY = "flowstacks:iam:BoundaryPolicy"

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# The stack's boundary policy once the program has made it (BoundaryPolicy): every role that
# names a boundary waits for it, so the bootstrap run creates the policy before the roles.
CURRENT_BOUNDARY: ContextVar[pulumi.Resource | None] = ContextVar("flowstacks_boundary",
                                                                  default=None)
MANAGED_BY = {"app.kubernetes.io/managed-by": "flowstacks"}


@dataclass(frozen=True)
class ServiceAccountArgs:
    """The Kubernetes service account bound to the role through IRSA."""

    name: str
    namespace: str
    suffix: str  # its logical name is "<role component>-<suffix>"


@dataclass(frozen=True)
class RoleArgs:
    document: RoleDocument
    # Inline policies: the role is created whole by one call (the deployer role, which a
    # bootstrap run creates); else one RolePolicy resource per policy.
    inline_policies: bool = False
    service_account: ServiceAccountArgs | None = None
    pulumi_type: str = NAMESPACE_ROLE
    # The logical name of the role resource and the stem of its policies' and service
    # account's: the component's name, unless existing stacks named them otherwise (logical
    # names are part of URNs: the IRSA role is named like its IAM role, the deployer's role
    # "<component>-role").
    resource_name: str | None = None


class NamespaceRole(pulumi.ComponentResource):
    """The role (logical name ``<name>``: the component's, or ``args.resource_name``), its
    policies (``<name>-<policy>``) and, for IRSA, the service account (``<name>-<suffix>``)
    annotated with the role's ARN so that EKS hands its credentials to the pods."""

    def __init__(self, name: str, args: RoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(args.pulumi_type, name, None, opts)
        name = args.resource_name or name
        child = pulumi.ResourceOptions(parent=self)
        document = args.document
        policies = sorted(document.policies.items())
        boundary = CURRENT_BOUNDARY.get() if document.permissions_boundary else None
        self.role = aws.iam.Role(
            name, name=document.name, assume_role_policy=compact_json(document.assume_role_policy),
            inline_policies=[aws.iam.RoleInlinePolicyArgs(name=k, policy=compact_json(v))
                             for k, v in policies] if args.inline_policies else None,
            permissions_boundary=document.permissions_boundary,
            tags=document.tags, opts=pulumi.ResourceOptions(
                parent=self, depends_on=[boundary] if boundary is not None else None))
        self.policies = [] if args.inline_policies else [
            aws.iam.RolePolicy(f"{name}-{policy_name}", role=self.role.id, name=policy_name,
                               policy=compact_json(policy), opts=child)
            for policy_name, policy in policies
        ]
        self.arn = self.role.arn
        self.service_account = None
        outputs = {"arn": self.arn, "name": document.name}
        sa = args.service_account
        if sa is not None:
            self.service_account = k8s.core.v1.ServiceAccount(
                f"{name}-{sa.suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=sa.name, namespace=sa.namespace, labels=MANAGED_BY,
                    # tags as annotations: branch names and tokens are not always label values
                    annotations={IRSA_ANNOTATION: self.arn, **document.tags}),
                opts=child)
            outputs["service_account"] = sa.name
        self.register_outputs(outputs)


@dataclass(frozen=True)
class TaskIdentityArgs:
    """The identity of a namespace's task pods (Argo, Airflow): the IRSA role document, whose
    trust admits exactly ``service_account`` in ``namespace``."""

    role: RoleDocument
    service_account: str
    namespace: str
    # Argo: the namespace Role of the service account (flowstacks.render.argo.executor_rules)
    executor_rules: tuple[dict, ...] = ()


@dataclass(frozen=True)
class BoundaryPolicyArgs:
    """The namespace's permissions boundary (flowstacks/iam/boundary.py)."""

    name: str
    document: dict[str, Any]
    tags: dict[str, str]


class BoundaryPolicy(pulumi.ComponentResource):
    """The managed policy every role of the namespace carries as its permissions boundary.
    Created by the stack's bootstrap run, like the deployer role: the deployer may only read it."""

    def __init__(self, name: str, args: BoundaryPolicyArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(BOUNDARY_POLICY, name, None, opts)
        self.policy = aws.iam.Policy(
            name, name=args.name, policy=compact_json(args.document),
            description="flowstacks: the most any role of this Metaflow namespace may do",
            tags=args.tags, opts=pulumi.ResourceOptions(parent=self))
        self.arn = self.policy.arn
        self.register_outputs({"arn": self.arn, "name": args.name})
