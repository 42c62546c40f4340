"""The environment of an Airflow task pod, in the order Metaflow 2.19.39's ``Airflow._to_job``
writes it (docs/metaflow-contract.md#task-environment)."""

from __future__ import annotations

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Step
from flowstacks.render.airflow.command import (
    AIRFLOW_JOB_ID, AIRFLOW_RUN_ID, ATTEMPT, PARAMETERS, RUN_ID,
)
from flowstacks.render.metaflow_runtime import (
    CODE_METADATA_JSON, DATASTORE, card_root, config_value_env, datatools_root,
    image_python_version, metaflow_version_env,
)
from flowstacks.render.platform_env import secrets_env


# One `<Flow>/<Metaflow run id>` per triggering Asset: the Asset's URI ends in the upstream flow
# (tasks.asset), and the upstream run's Metaflow id is RUN_ID computed from its Airflow run.
TRIGGER = ("{% for a, events in triggering_asset_events.items() %}{{ a.uri.split('/')[-1] }}"
           "/airflow-{{ [events[-1].source_run_id, events[-1].source_dag_id] | run_id_creator }}"
           "{{ ' ' if not loop.last }}{% endfor %}")


def task_env(ctx: StackContext, fd: FlowDeployment, step: Step, code_url: str, code_sha: str,
             task_id: str) -> dict[str, str]:
    """``Airflow._to_job`` env, in Metaflow's order (a dict keeps the first position of a key
    set twice, as Metaflow's ``env.update`` does)."""
    flow, owner, root = fd.flow, ctx.owner, ctx.config.aws.datastore_root
    # the image's Python, as the code package's INFO records it (Metaflow: the deployer's)
    python = image_python_version(ctx.config.compute.image)
    env: dict[str, str] = dict(step.environment)
    if step.name == flow.start.name and flow.parameters:
        env["METAFLOW_PARAMETERS"] = PARAMETERS
    env.update({
        "METAFLOW_CODE_URL": code_url,
        "METAFLOW_FLOW_NAME": flow.name,
        "METAFLOW_STEP_NAME": step.name,
        "METAFLOW_OWNER": owner,
        # metadata.get_runtime_environment("airflow") of the local metadata provider
        "METAFLOW_RUNTIME_NAME": "airflow",
        "USER": owner,
        "METAFLOW_VERSION": metaflow_version_env(owner, flow.file, flow.name,
                                                 ctx.production_token, python),
    })
    env.update(secrets_env(ctx.platform))  # @secrets support, before Metaflow's own variables
    env.update({
        "METAFLOW_CODE_METADATA": CODE_METADATA_JSON,
        "METAFLOW_CODE_SHA": code_sha,
        "METAFLOW_CODE_DS": DATASTORE,
        # Airflow pods run as the deployer (docs/metaflow-contract.md#airflow): METAFLOW_USER
        # is the owner.
        "METAFLOW_USER": owner,
    })
    if ctx.platform.task_service_url:  # Metaflow's None values are dropped from the env
        env["METAFLOW_SERVICE_URL"] = ctx.platform.task_service_url
    env.update({
        "METAFLOW_SERVICE_HEADERS": ctx.service_headers,
        "METAFLOW_DATASTORE_SYSROOT_S3": root,
        "METAFLOW_DATATOOLS_S3ROOT": datatools_root(root),
        "METAFLOW_DEFAULT_DATASTORE": DATASTORE,
        "METAFLOW_DEFAULT_METADATA": "service",
        "METAFLOW_KUBERNETES_WORKLOAD": "1",
        "METAFLOW_RUNTIME_ENVIRONMENT": "kubernetes",
        "METAFLOW_CARD_S3ROOT": card_root(root),
        "METAFLOW_RUN_ID": RUN_ID,
        "METAFLOW_AIRFLOW_TASK_ID": task_id,
        "METAFLOW_AIRFLOW_DAG_RUN_ID": AIRFLOW_RUN_ID,
        "METAFLOW_AIRFLOW_JOB_ID": AIRFLOW_JOB_ID,
        "METAFLOW_PRODUCTION_TOKEN": ctx.production_token,
        "METAFLOW_ATTEMPT_NUMBER": ATTEMPT,
    })
    if ctx.config.aws.s3_endpoint_url:
        env["METAFLOW_S3_ENDPOINT_URL"] = ctx.config.aws.s3_endpoint_url
    if flow.trigger_on_finish:
        # flowstacks' extension (Metaflow refuses @trigger_on_finish on Airflow): the runs whose
        # end Assets started this run, read by the flow's top-level --trigger option (Metaflow's
        # CLI takes its options from METAFLOW_<OPTION>) -> current.trigger; empty when started
        # by hand or by the schedule
        env["METAFLOW_TRIGGER"] = TRIGGER
    if flow.configs:
        # Beyond Metaflow's Airflow deployer, which omits it: without it a task of a flow with a
        # Config cannot read its values and fails (found by run-local; Step Functions and Argo
        # pass it, docs/metaflow-contract.md#config).
        env["METAFLOW_FLOW_CONFIG_VALUE"] = config_value_env(sorted(c.name for c in flow.configs))
    return env
