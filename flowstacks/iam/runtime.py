"""Grants that follow from the stack's platform settings (pure): the secrets the flows'
``@secrets`` read and the datastore's KMS key. Appended to the task roles of every backend
(Step Functions' Batch task role, the Argo and Airflow IRSA roles) and, for the key, to the
deployer role (it uploads the code packages)."""

from __future__ import annotations

from typing import Any

from flowstacks.iam.documents import statement
from flowstacks.iam.secrets import secret_grants
from flowstacks.model.deployment import StackContext

# What an SSE-KMS bucket asks of a reader (kms:Decrypt) and of a writer (kms:GenerateDataKey)
# (S3 user guide, "Using server-side encryption with AWS KMS keys").
KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]


def kms_statements(ctx: StackContext, sid: str = "DatastoreKey") -> list[dict[str, Any]]:
    """Use of the configured datastore key, and of no other key; none when there is no key."""
    key = ctx.platform.kms_key_arn
    return [statement(sid, KMS_ACTIONS, [key])] if key else []


def secrets_statements(ctx: StackContext) -> list[dict[str, Any]]:
    """``secretsmanager:GetSecretValue`` on exactly the secrets the stack's flows name in
    ``@secrets`` (``sts:AssumeRole`` on the roles named to read them instead)."""
    grants = secret_grants(ctx)
    out = []
    if grants.secrets:
        out.append(statement("FlowSecrets", ["secretsmanager:GetSecretValue"],
                             list(grants.secrets)))
    if grants.roles:
        out.append(statement("FlowSecretRoles", ["sts:AssumeRole"], list(grants.roles)))
    return out


def task_statements(ctx: StackContext) -> list[dict[str, Any]]:
    """Everything a task role needs beyond the datastore objects and the foreach state."""
    return kms_statements(ctx) + secrets_statements(ctx)
