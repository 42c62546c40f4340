"""IRSA task roles: the IAM role a namespace's pods assume through their Kubernetes service account.

Shared by the Argo and Airflow backends (both run Metaflow tasks as pods). Pure: no pulumi, no I/O.
"""

from __future__ import annotations

from flowstacks.iam.boundary import boundary_arn
from flowstacks.iam.documents import RoleDocument, datastore_statements, irsa_trust, policy, role_name
from flowstacks.iam.runtime import task_statements
from flowstacks.model.deployment import StackContext
# The pods' service account is named where the renderers write it into pod specs; the role
# trusts that same name (iam imports render, never the reverse).
from flowstacks.render.kubernetes import service_account_name

__all__ = ["POLICY_NAME", "ROLE_PURPOSE", "irsa_role", "service_account_name"]

ROLE_PURPOSE = "k8s-task"
POLICY_NAME = "metaflow-datastore"


def irsa_role(ctx: StackContext, service_account: str, k8s_namespace: str,
              purpose: str = ROLE_PURPOSE) -> RoleDocument:
    """The task role of one namespace: assumable only by ``system:serviceaccount:<ns>:<sa>``
    through the configured OIDC provider, allowed only the datastore access Metaflow tasks of
    this project's flows need, tagged with the namespace's token/project/branch."""
    return RoleDocument(
        name=role_name(ctx, purpose),
        assume_role_policy=irsa_trust(ctx.config.kubernetes.oidc_provider_arn, k8s_namespace,
                                      service_account),
        # + @secrets and the datastore's KMS key, when the stack uses them
        policies={POLICY_NAME: policy(*datastore_statements(ctx), *task_statements(ctx))},
        tags=dict(ctx.tags),
        permissions_boundary=boundary_arn(ctx),
    )
