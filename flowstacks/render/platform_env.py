"""Task environment entries that follow from the stack's platform settings (secrets backend,
S3 encryption), as Metaflow 2.19.39's deployers add them when Metaflow is configured with them
(docs/metaflow-contract.md#platform-settings).

Sources: ``plugins/aws/batch/batch.py`` (``create_job``), ``plugins/argo/argo_workflows.py``
(``_container_templates``), ``plugins/airflow/airflow.py`` (``_to_job``): each adds
``METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE`` and ``METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION`` when
set, and Batch and Argo (not Airflow) ``METAFLOW_S3_SERVER_SIDE_ENCRYPTION``. A setting that is
not configured is left out (Metaflow drops None values). The metadata service URL and headers
sit at fixed places of each backend's env and are written there.
"""

from __future__ import annotations

from flowstacks.model.platform import ResolvedPlatform


def secrets_env(platform: ResolvedPlatform) -> list[tuple[str, str]]:
    """What ``@secrets`` reads in the task: the default backend type and Secrets Manager region."""
    pairs = [("METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE", platform.secrets_backend),
             ("METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION", platform.secrets_region)]
    return [(k, v) for k, v in pairs if v is not None]


def encryption_env(platform: ResolvedPlatform) -> list[tuple[str, str]]:
    """``METAFLOW_S3_SERVER_SIDE_ENCRYPTION``: the ServerSideEncryption of every S3 upload."""
    if platform.s3_server_side_encryption is None:
        return []
    return [("METAFLOW_S3_SERVER_SIDE_ENCRYPTION", platform.s3_server_side_encryption)]
