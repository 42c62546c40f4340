"""flowstacks config of the example project: which namespaces exist and how each deploys."""
from flowstacks.model.config import (
    Kubernetes, OrchestratorChoice, Platform, ProjectConfig, StackSpec,
)

CONFIG = ProjectConfig(
    project="example_project",
    owner="platform-team",
    orchestrators=OrchestratorChoice(user="argo", test="argo", prod="step-functions"),
    stacks=[
        StackSpec(name="prod", configs={"settings": "settings/prod.json"}),
        StackSpec(name="prod.staging", orchestrator="argo", configs={"settings": "settings/prod.json"}),
        StackSpec(name="test.feature_x"),
    ],
    # The Metaflow platform of every namespace; what is left out comes from the Metaflow config
    # in effect (METAFLOW_* variables, ~/.metaflowconfig), as `python flow.py ... create` reads it.
    platform=Platform(
        region="us-east-1",
        account_id="123456789012",
        datastore_root="s3://example-metaflow/metaflow",
        batch_job_queue="metaflow-prod-queue",
        service_url="https://metaflow.example.com/api",  # runs show up in the Metaflow client
        secrets_backend="aws-secrets-manager",  # @secrets(sources=["<secret name>"])
        secrets_region="us-east-1",
        # events to the Argo webhook carry the service auth key (flowstacks:serviceAuthKey):
        # a pod without it cannot start a triggered flow
        argo_events_webhook_auth="service",
        # each namespace reads and writes under s3://example-metaflow/metaflow/<branch> (the
        # default layout); test/user may read prod's models (never write): off by default
        # read_prod_datastore=True,
    ),
    # per namespace class, what differs: prod records its runs in its own metadata service
    # (every Step Functions stack keeps its foreach state in its own DynamoDB table, named for its
    # namespace: <project>.<branch>.sfn-state)
    platform_overrides={"prod": Platform(service_url="https://metaflow-prod.example.com/api")},
    kubernetes=Kubernetes(namespace="metaflow"),  # Argo's pods (Airflow's: airflow.namespace)
)
