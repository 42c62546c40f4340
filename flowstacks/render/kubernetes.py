"""What the two Kubernetes backends (Argo, Airflow) share that is flowstacks' own choice, not
Metaflow's: the service account the namespace's task pods run as. The IRSA role that trusts it is
built in :mod:`flowstacks.iam.irsa` from the same name."""

from __future__ import annotations

from flowstacks.model.deployment import StackContext

# Kubernetes object names: DNS-1123 subdomain; a token prefix is lowercase letters, digits, '-'.
SERVICE_ACCOUNT_SUFFIX = "tasks"


def service_account_name(ctx: StackContext) -> str:
    """The service account the namespace's pods run as: the configured one, or
    ``<token prefix>-tasks`` (one per Metaflow namespace, a valid Kubernetes name whatever the
    stack name, e.g. ``test.feature_x`` or ``user.John.Doe``)."""
    return ctx.config.kubernetes.service_account or f"{ctx.token_prefix}-{SERVICE_ACCOUNT_SUFFIX}"
