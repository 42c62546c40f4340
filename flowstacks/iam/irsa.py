"""IRSA task roles: the IAM role a namespace's pods assume through their Kubernetes service account.

Shared by the Argo and Airflow backends (both run Metaflow tasks as pods). Pure: no pulumi, no I/O.
"""

from __future__ import annotations

from flowstacks.iam.documents import RoleDocument, datastore_statements, irsa_trust, policy, role_name
from flowstacks.model.deployment import StackContext

ROLE_PURPOSE = "k8s-task"
POLICY_NAME = "metaflow-datastore"
# Kubernetes object names: DNS-1123 subdomain; a token prefix is lowercase letters, digits, '-'.
SERVICE_ACCOUNT_SUFFIX = "tasks"


def service_account_name(ctx: StackContext) -> str:
    """The service account the namespace's pods run as: the configured one, or
    ``<token prefix>-tasks`` (one per Metaflow namespace, a valid Kubernetes name whatever the
    stack name, e.g. ``test.feature_x`` or ``user.John.Doe``)."""
    return ctx.config.kubernetes.service_account or f"{ctx.token_prefix}-{SERVICE_ACCOUNT_SUFFIX}"


def irsa_role(ctx: StackContext, service_account: str, k8s_namespace: str,
              purpose: str = ROLE_PURPOSE) -> RoleDocument:
    """The task role of one namespace: assumable only by ``system:serviceaccount:<ns>:<sa>``
    through the configured OIDC provider, allowed only the datastore access Metaflow tasks of
    this project's flows need, tagged with the namespace's token/project/branch."""
    return RoleDocument(
        name=role_name(ctx, purpose),
        assume_role_policy=irsa_trust(ctx.config.kubernetes.oidc_provider_arn, k8s_namespace,
                                      service_account),
        policies={POLICY_NAME: policy(*datastore_statements(ctx))},
        tags=dict(ctx.tags),
    )
