"""One Airflow task per Metaflow step: the KubernetesPodOperator arguments as plain data, with
the ``@kubernetes`` attributes Metaflow resolves for ``airflow create``.

Source: Metaflow 2.19.39 ``plugins/airflow/airflow.py`` (``_to_job``, ``_get_retry_delay``),
``airflow_utils.py`` (``_kubernetes_pod_operator_args``) and
``plugins/kubernetes/kubernetes_decorator.py`` (``init``, ``step_init``), ``kube_utils.py``.
"""

from __future__ import annotations

from typing import Any

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Step
from flowstacks.render.airflow.checks import runtime_limit
from flowstacks.render.airflow.command import FOREACH_TASK_ID, TASK_ID, pod_command, step_commands
from flowstacks.render.airflow.env import task_env
from flowstacks.render.kubernetes import service_account_name
from flowstacks.render.metaflow_runtime import (
    KUBERNETES_DEFAULTS, RETRY_DEFAULT_MINUTES, attribute_number, decorator_spec,
)
from flowstacks.render.walk import StepIndex

STARTUP_TIMEOUT = 60 * 60  # AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS


def kubernetes_attributes(ctx: StackContext, step: Step) -> dict[str, Any]:
    """The ``@kubernetes`` attributes Metaflow resolves for a step deployed with
    ``airflow create`` (``KubernetesDecorator.init`` + ``step_init``)."""
    compute, attrs = ctx.config.compute, dict(KUBERNETES_DEFAULTS)
    # config.compute plays METAFLOW_KUBERNETES_CPU/MEMORY/DISK/CONTAINER_IMAGE: it only
    # replaces a value still equal to Metaflow's default.
    attrs.update(cpu=attribute_number(compute.cpu), memory=attribute_number(compute.memory),
                 disk=attribute_number(compute.disk), image=compute.image,
                 service_account=service_account_name(ctx), namespace=ctx.config.airflow.namespace)
    if compute.gpu:
        attrs["gpu"] = compute.gpu
    static = step.decorator("kubernetes")
    if static:
        # the namespace and service account the author did not write are the loader's own
        # Metaflow config defaults: the stack's stand in for them (as on Argo,
        # render/argo/command.py given_attribute), Metaflow's deployer uses its config's
        attrs.update({k: v for k, v in static.attributes.items() if v is not None and k in attrs
                      and (k not in ("namespace", "service_account") or k in static.given)})
    resources = step.decorator("resources")
    if resources:
        for key, value in resources.attributes.items():
            if key in ("gpu", "shared_memory") and value is not None:
                attrs[key] = value
            if key in ("cpu", "memory", "disk"):
                # "We use the larger of @resources and @batch attributes" (step_init): a str of a
                # float, so 8192 becomes "8192.0".
                attrs[key] = str(max(float(attrs[key] or 0), float(value or 0)))
    return attrs


def _resources(attrs: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``kube_utils.qos_requests_and_limits`` + the GPU limit."""
    values = {"cpu": str(attrs["cpu"]), "memory": "%sM" % attrs["memory"],
              "ephemeral-storage": "%sM" % attrs["disk"]}
    guaranteed = str(attrs["qos"]).lower() == "guaranteed"
    limits = dict(values) if guaranteed else {}
    if attrs.get("gpu") is not None:
        limits["%s.com/gpu" % str(attrs["gpu_vendor"]).lower()] = str(attrs["gpu"])
    return {"requests": values, "limits": limits}


def _annotations(ctx: StackContext, fd: FlowDeployment) -> dict[str, str]:
    return {
        "metaflow/production_token": ctx.production_token,
        "metaflow/owner": ctx.owner,
        "metaflow/user": ctx.owner,
        "metaflow/flow_name": fd.flow.name,
        "metaflow/project_name": fd.project_name,
        "metaflow/branch_name": fd.branch_name,
        "metaflow/project_flow_name": fd.project_flow_name,
    }


def _labels(ctx: StackContext) -> dict[str, str]:
    return {
        "app": "metaflow",
        "app.kubernetes.io/name": "metaflow-task",
        "app.kubernetes.io/part-of": "metaflow",
        "app.kubernetes.io/created-by": ctx.owner,
    }


def asset(project: str, branch: str, flow: str) -> dict[str, str]:
    """The Asset a flow's end task updates: named like the Metaflow event Argo would publish
    (``metaflow.<pfn>.end``, docs/metaflow-contract.md#events), with a ``metaflow://`` URI."""
    return {"name": f"metaflow.{project}.{branch}.{flow}.end",
            "uri": f"metaflow://{project}/{branch}/{flow}"}


def cluster_kwargs(ctx: StackContext) -> dict[str, Any]:
    """How the pod operator reaches the cluster, as ``Airflow._to_job`` sets it: a connection,
    a kubeconfig context and/or file, each with ``in_cluster=False``. With none of them Metaflow
    writes ``in_cluster=True``; flowstacks leaves it to the provider (in-cluster first, then
    kubeconfig: the same on a real cluster, and the pod can be built off-cluster, DIFFERENCES.md)
    unless ``airflow_in_cluster`` is configured."""
    conn_id = ctx.config.airflow.kubernetes_conn_id
    platform = ctx.platform
    kwargs: dict[str, Any] = {}
    if platform.airflow_in_cluster is not None:
        kwargs["in_cluster"] = platform.airflow_in_cluster
    if conn_id:
        kwargs.update(kubernetes_conn_id=conn_id, in_cluster=False)
    if platform.airflow_kubeconfig_context:
        kwargs.update(cluster_context=platform.airflow_kubeconfig_context, in_cluster=False)
    if platform.airflow_kubeconfig_file:
        kwargs.update(config_file=platform.airflow_kubeconfig_file, in_cluster=False)
    return kwargs


def variable(step: str) -> str:
    """The DAG file's Python variable of a step's task."""
    return f"step_{step}"


def task_context(ctx: StackContext, fd: FlowDeployment, step: Step, code_url: str,
                 code_sha: str) -> dict[str, Any]:
    """Plain data for one KubernetesPodOperator task (one Metaflow step)."""
    flow = fd.flow
    contains_foreach = any(s.type == "foreach" for s in flow.steps)
    task_id = FOREACH_TASK_ID if contains_foreach else TASK_ID
    attrs = kubernetes_attributes(ctx, step)
    static = step.decorator("kubernetes") is not None  # statically defined: not re-passed
    spec = None if static else decorator_spec("kubernetes", attrs.items())
    cmds = step_commands(ctx, fd, step, spec, task_id)
    mapped = StepIndex(flow).follows_foreach(step)
    retry = step.decorator("retry")
    kwargs: dict[str, Any] = {
        "task_id": step.name,
        "name": step.name,
        "namespace": attrs["namespace"],
        "service_account_name": attrs["service_account"],
        "image": attrs["image"],
        "cmds": pod_command(fd, step, task_id, code_url, cmds),
        "env_vars": task_env(ctx, fd, step, code_url, code_sha, task_id),
        "annotations": _annotations(ctx, fd),
        "labels": _labels(ctx),
        "node_selector": attrs["node_selector"],
        "retries": step.retry_times,
        "startup_timeout_seconds": STARTUP_TIMEOUT,
        "get_logs": True,
        "do_xcom_push": True,
        "log_events_on_failure": True,
        # is_delete_operator_pod=True in Metaflow; the provider renamed it on_finish_action.
        "on_finish_action": "delete_pod",
        "retry_exponential_backoff": False,
        "reattach_on_restart": False,
    }
    kwargs.update(cluster_kwargs(ctx))
    secrets = (step.decorator("kubernetes").attributes.get("secrets") if static else None) or []
    if isinstance(secrets, str):
        secrets = secrets.split(",")
    return {
        "variable": variable(step.name),
        "step": step.name,
        "mapped": mapped,
        "map_over": variable(step.in_funcs[0]) if mapped else None,
        "kwargs": kwargs,
        "resources": _resources(attrs),
        "execution_timeout": runtime_limit(step),
        # @retry(minutes_between_retries) -> retry_delay (Airflow._get_retry_delay)
        "retry_delay": (60 * int(retry.attributes.get("minutes_between_retries",
                                                      RETRY_DEFAULT_MINUTES))
                        if retry else None),
        "secrets": list(secrets),
        # every end step updates its flow's Asset: downstreams anywhere can wait for it
        "outlets": ([asset(fd.project_name, fd.branch_name, flow.name)]
                    if step.type == "end" else []),
        "upstream": [variable(p) for p in step.in_funcs],
    }
