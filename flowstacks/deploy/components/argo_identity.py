"""The identity of a namespace's Argo task pods: an IRSA role and the service account bound to it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from flowstacks.deploy.components.role import (
    IRSA_ROLE, MANAGED_BY, NamespaceRole, RoleArgs, ServiceAccountArgs, TaskIdentityArgs,
)
from flowstacks.render.argo import EXECUTOR_RULES


class ArgoTaskIdentity(pulumi.ComponentResource):
    """The role as rendered (``<name>-irsa``; trust admits exactly the service account), the
    service account, annotated with the role ARN so that EKS hands its credentials to the pods,
    and the namespace Role + RoleBinding Argo's executor needs to report task outputs (named
    ``<role>-argo-executor``, as existing stacks have them)."""

    def __init__(self, name: str, args: TaskIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:argo:TaskIdentity", name, None, opts)
        sa = args.service_account
        self.identity = NamespaceRole(f"{name}-irsa", RoleArgs(
            args.role, service_account=ServiceAccountArgs(sa, args.namespace, "argo-sa"),
            pulumi_type=IRSA_ROLE, resource_name=args.role.name), pulumi.ResourceOptions(parent=self))
        rbac_meta = k8s.meta.v1.ObjectMetaArgs(
            name=f"{sa}-executor", namespace=args.namespace, labels=MANAGED_BY,
            annotations=args.role.tags)
        executor = f"{args.role.name}-argo-executor"
        self.executor_role = k8s.rbac.v1.Role(
            executor, metadata=rbac_meta, rules=list(args.executor_rules) or EXECUTOR_RULES,
            opts=pulumi.ResourceOptions(parent=self))
        self.executor_binding = k8s.rbac.v1.RoleBinding(
            executor, metadata=rbac_meta,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                             name=f"{sa}-executor"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=sa,
                                              namespace=args.namespace)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[
                self.executor_role, self.identity.service_account]))
        self.register_outputs({"role_arn": self.identity.arn, "service_account": sa})
