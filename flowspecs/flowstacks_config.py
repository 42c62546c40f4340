"""flowstacks config of the example project: which namespaces exist and how each deploys."""
from flowstacks.model.config import (
    Aws, Kubernetes, OrchestratorChoice, ProjectConfig, StackSpec,
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
    aws=Aws(
        region="us-east-1",
        account_id="123456789012",
        datastore_root="s3://example-metaflow/metaflow",
        batch_job_queue="metaflow-prod-queue",
        dynamodb_table="metaflow-sfn-state",
    ),
    kubernetes=Kubernetes(namespace="metaflow"),
)
