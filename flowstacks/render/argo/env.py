"""The environment of Argo task pods, in the order Metaflow 2.19.39 writes it
(docs/metaflow-contract.md#task-environment).

Source: ``plugins/argo/argo_workflows.py`` (``_container_templates``,
``_error_msg_capture_hook_templates``). Values Metaflow reads from the deployer's machine
(``METAFLOW_S3_ENDPOINT_URL``, python version, git info in ``METAFLOW_VERSION``) are left out or
fixed; see tests/argo/DIFFERENCES.md. The metadata service, secrets backend and S3 encryption come
from the stack's platform settings (``ctx.platform``).
"""

from __future__ import annotations

from typing import Any

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Step
from flowstacks.render.argo.command import RUN_ID, retry_count
from flowstacks.render.metaflow_runtime import (
    CODE_METADATA_JSON, DATASTORE, KUBERNETES_POD_FIELD_ENV, CodePackageRef, card_root,
    config_value_env, datatools_root, metaflow_version_env, script_name,
)
from flowstacks.render.platform_env import encryption_env, secrets_env

ARGO_USER = "argo-workflows"
# metaflow_config defaults flowstacks does not expose as settings
FETCH_EC2_METADATA = "False"

# Downward-API values every task reads about its own pod (appended after the plain values);
# argo_workflows.py adds the namespace under a second name first.
FIELD_REFS = (("METAFLOW_KUBERNETES_NAMESPACE", "metadata.namespace"),
              *KUBERNETES_POD_FIELD_ENV.items())


def _code(package: CodePackageRef, ctx: StackContext) -> dict[str, str]:
    env = {
        "METAFLOW_CODE_METADATA": CODE_METADATA_JSON,
        "METAFLOW_CODE_URL": package.url,
        "METAFLOW_CODE_SHA": package.sha,
        "METAFLOW_CODE_DS": DATASTORE,
    }
    if ctx.platform.task_service_url:  # Metaflow's None values are dropped from the env
        env["METAFLOW_SERVICE_URL"] = ctx.platform.task_service_url
    env["METAFLOW_SERVICE_HEADERS"] = ctx.service_headers
    env["METAFLOW_USER"] = ARGO_USER
    return env


def metaflow_version(ctx: StackContext, fd: FlowDeployment) -> str:
    """``METAFLOW_VERSION``: Metaflow's environment info, without the deployer's python and git
    details (they would make output depend on the machine that renders it)."""
    return metaflow_version_env(ctx.owner, fd.flow.file, fd.flow.name, ctx.production_token,
                                python_version=None)


def step_env(ctx: StackContext, fd: FlowDeployment, step: Step, package: CodePackageRef,
             triggers: list[dict[str, Any]]) -> dict[str, str]:
    """Plain environment of one step's container: @environment vars first, then Metaflow's."""
    aws, k8s = ctx.config.aws, ctx.config.kubernetes
    root = aws.datastore_root
    env: dict[str, str] = dict(step.environment)
    env.update(_code(package, ctx))
    env.update({
        "METAFLOW_DATASTORE_SYSROOT_S3": root,
        "METAFLOW_DATATOOLS_S3ROOT": datatools_root(root),
        "METAFLOW_DEFAULT_DATASTORE": DATASTORE,
        "METAFLOW_DEFAULT_METADATA": ctx.platform.metadata,
        "METAFLOW_CARD_S3ROOT": card_root(root),
        "METAFLOW_KUBERNETES_WORKLOAD": "1",
        "METAFLOW_KUBERNETES_FETCH_EC2_METADATA": FETCH_EC2_METADATA,
        "METAFLOW_RUNTIME_ENVIRONMENT": "kubernetes",
        "METAFLOW_OWNER": ctx.owner,
        # Argo Events: finished tasks publish metaflow.<pfn>.<step> so @trigger_on_finish works.
        "METAFLOW_ARGO_EVENTS_EVENT": k8s.argo_events_event,
        "METAFLOW_ARGO_EVENTS_EVENT_BUS": k8s.argo_events_event_bus,
        "METAFLOW_ARGO_EVENTS_EVENT_SOURCE": k8s.argo_events_event_source,
        "METAFLOW_ARGO_EVENTS_SERVICE_ACCOUNT": k8s.argo_events_service_account,
        "METAFLOW_ARGO_EVENTS_WEBHOOK_URL": k8s.argo_events_webhook_url,
        "METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH": k8s.argo_events_webhook_auth,
        "METAFLOW_FLOW_FILENAME": script_name(fd.flow.file),
        "METAFLOW_FLOW_NAME": fd.flow.name,
        "METAFLOW_STEP_NAME": step.name,
        "METAFLOW_RUN_ID": RUN_ID,
        "METAFLOW_RETRY_COUNT": retry_count(step),
        "METAFLOW_PRODUCTION_TOKEN": ctx.production_token,
        "ARGO_WORKFLOW_TEMPLATE": fd.argo_template_name,
        "ARGO_WORKFLOW_NAME": "{{workflow.name}}",
        "ARGO_WORKFLOW_NAMESPACE": k8s.namespace,
        # LocalMetadataProvider.get_runtime_environment("argo-workflows")
        "METAFLOW_RUNTIME_NAME": ARGO_USER,
        "USER": ctx.owner,
    })
    if aws.s3_endpoint_url:
        env["METAFLOW_S3_ENDPOINT_URL"] = aws.s3_endpoint_url
    env.update(secrets_env(ctx.platform))  # @secrets support
    env["METAFLOW_ARGO_WORKFLOWS_KUBERNETES_SECRETS"] = ""
    env["METAFLOW_ARGO_WORKFLOWS_ENV_VARS_TO_SKIP"] = ""
    for trig in triggers:
        env[f"METAFLOW_ARGO_EVENT_PAYLOAD_{trig['type']}_{trig['sanitized_name']}"] = (
            "{{workflow.parameters.%s}}" % trig["sanitized_name"])
    env.update(encryption_env(ctx.platform))  # S3 upload headers
    env["METAFLOW_VERSION"] = metaflow_version(ctx, fd)
    if fd.flow.configs:
        # Config values travel in the code package (docs/metaflow-contract.md#code-package).
        env["METAFLOW_FLOW_CONFIG_VALUE"] = config_value_env(c.name for c in fd.flow.configs)
    return env


def error_hook_env(ctx: StackContext, package: CodePackageRef) -> dict[str, str]:
    """Environment of the exit hook that captures a failed run's error."""
    env = _code(package, ctx)
    if ctx.config.aws.s3_endpoint_url:
        env["METAFLOW_S3_ENDPOINT_URL"] = ctx.config.aws.s3_endpoint_url
    env.update({
        "METAFLOW_DEFAULT_DATASTORE": DATASTORE,
        "METAFLOW_DEFAULT_METADATA": ctx.platform.metadata,
        "METAFLOW_OWNER": ctx.owner,
        "METAFLOW_WORKFLOW_NAME": "{{workflow.name}}",
        "METAFLOW_WORKFLOW_NAMESPACE": "{{workflow.namespace}}",
        "METAFLOW_ARGO_WORKFLOW_FAILURES": "{{workflow.failures}}",
    })
    return env


def env_list(env: dict[str, str], with_field_refs: bool = True) -> list[dict[str, Any]]:
    """Kubernetes ``EnvVar`` list: plain values, then the downward-API references."""
    out: list[dict[str, Any]] = [{"name": k, "value": str(v)} for k, v in env.items()]
    if with_field_refs:
        out += [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": path}}}
                for k, path in FIELD_REFS]
    return out
