"""flowstacks config of run-local's shape corpus: one project; prod on Step Functions, prod.af on Airflow."""
from flowstacks.model.config import OrchestratorChoice, Platform, ProjectConfig, StackSpec

CONFIG = ProjectConfig(
    project="shapes",
    owner="platform-team",
    orchestrators=OrchestratorChoice(user="step-functions", test="step-functions", prod="step-functions"),
    stacks=[
        # Step Functions refuses AND over several upstreams (flowstacks: EventBridge has no AND)
        StackSpec(name="prod", configs={"settings": "settings/prod.json"},
                  flows=["BranchFlow", "ConfigFlow", "ForeachFlow", "AfterForeachFlow", "NestedFlow"]),
        # Airflow refuses a nested foreach (Metaflow's own rule): NestedFlow runs on Step Functions only
        StackSpec(name="prod.af", orchestrator="airflow", configs={"settings": "settings/prod.json"},
                  flows=["BranchFlow", "ConfigFlow", "ForeachFlow", "AfterForeachFlow", "AfterBothFlow"]),
    ],
    platform=Platform(
        region="us-east-1",
        account_id="123456789012",
        datastore_root="s3://shapes-metaflow/metaflow",
        batch_job_queue="shapes-queue",
        service_url="https://metaflow.shapes.example.com/api",
        secrets_backend="aws-secrets-manager",
        secrets_region="us-east-1",
    ),
)
