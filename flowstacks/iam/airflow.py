"""IAM of an Airflow namespace: the IRSA role its task pods assume (pure)."""

from __future__ import annotations

from flowstacks.iam.documents import RoleDocument
from flowstacks.iam.irsa import irsa_role, service_account_name
from flowstacks.model.deployment import StackContext


def task_role(ctx: StackContext) -> RoleDocument:
    """The IRSA role of the namespace's task pods (shared builder, same rules as Argo): trusted
    by exactly the pods' service account in the Airflow pods' namespace."""
    return irsa_role(ctx, service_account_name(ctx), ctx.config.airflow.namespace)
