"""The Argo resource template of a ``@parallel`` step: a Kubernetes JobSet, as Metaflow 2.19.39
writes it (``plugins/kubernetes/kubernetes_jobsets.py`` ``KubernetesArgoJobSet``, called from
``plugins/argo/argo_workflows.py`` ``_container_templates``).

The JobSet has two replicated jobs running the step's one command: ``control`` (one pod,
``UBF_CONTEXT=ubf_control``, split index 0) and ``worker`` (``num_parallel - 1`` pods, split index
job index + 1). Every pod finds the control pod at ``MF_MASTER_ADDR`` (the JobSet's headless
service) and the gang's size in ``MF_WORLD_SIZE``. Argo creates the JobSet from the manifest
*text* (YAML, written by :func:`flowstacks.render.serialize.metaflow_yaml`), substituting
``{{inputs.parameters.*}}`` first; the worker count is the one unquoted expression, so that the
controller reads an integer. The template reports the gang's ``task-id-entropy`` and
``num-parallel`` from the JobSet's labels (``jsonPath``) for the join.
docs/metaflow-contract.md#argo-parallel.
"""

from __future__ import annotations

from typing import Any

from flowstacks.model.deployment import StackContext
from flowstacks.model.flow import Step
from flowstacks.render.argo import command as cmd
from flowstacks.render.argo import parallel as gang
from flowstacks.render.argo.dag import sanitize
from flowstacks.render.metaflow_runtime import DEFAULT_RUNTIME_LIMIT
from flowstacks.render.serialize import metaflow_yaml

# metaflow_config KUBERNETES_JOBSET_GROUP / KUBERNETES_JOBSET_VERSION defaults
API_VERSION = "jobset.x-k8s.io/v1alpha2"
NAME = "{{inputs.parameters.jobset-name}}"
WORKER_REPLICAS = "{{=asInt(inputs.parameters.workerCount)}}"
JOB_TTL_SECONDS = 7 * 24 * 60 * 60  # "Remove job after a week"
SUCCESS = "status.terminalState == Completed"
FAILURE = "status.terminalState == Failed"
# unbounded_foreach.py UBF_CONTROL / UBF_TASK
UBF_CONTROL, UBF_TASK = "ubf_control", "ubf_task"
# What each gang pod reads about itself through the Downward API, in Metaflow's order.
JOB_INDEX = "metadata.annotations['jobset.sigs.k8s.io/job-index']"
FIELD_REFS = {
    "MF_WORKER_REPLICA_INDEX": JOB_INDEX,
    "JOBSET_RESTART_ATTEMPT": "metadata.annotations['jobset.sigs.k8s.io/restart-attempt']",
    "METAFLOW_KUBERNETES_JOBSET_NAME": "metadata.annotations['jobset.sigs.k8s.io/jobset-name']",
    "METAFLOW_KUBERNETES_POD_NAMESPACE": "metadata.namespace",
    "METAFLOW_KUBERNETES_POD_NAME": "metadata.name",
    "METAFLOW_KUBERNETES_POD_ID": "metadata.uid",
    "METAFLOW_KUBERNETES_SERVICE_ACCOUNT_NAME": "spec.serviceAccountName",
    "METAFLOW_KUBERNETES_NODE_IP": "status.hostIP",
    "TASK_ID_SUFFIX": JOB_INDEX,
}


def control_address(namespace: str) -> str:
    """The control pod's DNS name (``kubernetes_jobsets._make_domain_name``: job ``control``,
    job index 0, pod index 0, under the JobSet's headless service)."""
    return f"{NAME}-control-0-0.{NAME}.{namespace}.svc.cluster.local"


def _kubernetes_attribute(step: Step, name: str) -> Any:
    deco = step.decorator("kubernetes")
    return deco.attributes.get(name) if deco else None


def gang_env(env: dict[str, str], namespace: str, port: int | None) -> dict[str, str]:
    """The step's environment plus the gang's wiring, shared by control and workers.
    ``MF_MASTER_PORT`` is ``str(port)``: Metaflow writes ``"None"`` without ``@kubernetes(port=)``."""
    return {**env,
            "MF_MASTER_ADDR": control_address(namespace),
            "MF_MASTER_PORT": str(port),
            "MF_WORLD_SIZE": "{{inputs.parameters.num-parallel}}",
            "MF_PARALLEL_CONTROL_TASK_ID": "control-{{inputs.parameters.task-id-entropy}}-0"}


def _volumes(opts: cmd.PodOptions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) of ``JobSetSpec.dump``: tmpfs, a sized /dev/shm, the claims; no "out"
    volume (a JobSet's outputs come from its labels) and no unsized /dev/shm."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if opts.tmpfs_size:
        volumes.append({"emptyDir": {"medium": "Memory", "sizeLimit": f"{opts.tmpfs_size}Mi"},
                        "name": "tmpfs-ephemeral-volume"})
        mounts.append({"mountPath": opts.tmpfs_path, "name": "tmpfs-ephemeral-volume"})
    if opts.shared_memory:
        volumes.append({"emptyDir": {"medium": "Memory", "sizeLimit": f"{opts.shared_memory}Mi"},
                        "name": "dhsm"})
        mounts.append({"mountPath": "/dev/shm", "name": "dhsm"})
    for claim, path in (opts.pvcs or {}).items():
        volumes.append({"name": claim, "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"mountPath": path, "name": claim})
    return volumes, mounts


def replicated_job(role: str, replicas: int | str, env: dict[str, str], namespace: str,
                   pod: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """One replicated job (``JobSetSpec.dump``): Kubernetes retries nothing (Argo does), the
    pod's deadline is the step's timeout."""
    container = dict(pod["container"])
    container["env"] = ([{"name": k, "value": v} for k, v in env.items()]
                        + [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": path}}}
                           for k, path in FIELD_REFS.items()])
    spec = {k: v for k, v in pod.items() if k != "container"}
    spec["containers"] = [container]
    return {
        "name": role,
        "replicas": replicas,
        "template": {
            "metadata": {"namespace": namespace},
            "spec": {
                "backoffLimit": 0, "completions": 1, "parallelism": 1,
                "template": {"metadata": {**meta, "namespace": namespace}, "spec": spec},
                "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            },
        },
    }


def manifest(ctx: StackContext, step: Step, command: str, env: dict[str, str],
             service_account: str, annotations: dict[str, str],
             labels: dict[str, str]) -> dict[str, Any]:
    """The JobSet object (before it becomes text)."""
    namespace = ctx.config.kubernetes.namespace
    compute = cmd.step_compute(ctx, step)
    opts = cmd.pod_options(ctx, step)
    port = _kubernetes_attribute(step, "port")
    port = int(port) if port else None
    volumes, mounts = _volumes(opts)
    container: dict[str, Any] = {
        "command": ["bash", "-c", command],
        "envFrom": [{"secretRef": {"name": name}} for name in opts.secrets],
        "image": compute.image,
        "name": sanitize(step.name),
        "ports": [{"containerPort": port}] if port is not None else [],
        "resources": {"limits": compute.limits(), "requests": compute.requests()},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    pull_policy = _kubernetes_attribute(step, "image_pull_policy")
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    pod: dict[str, Any] = {
        "activeDeadlineSeconds": step.timeout_seconds or DEFAULT_RUNTIME_LIMIT,
        "container": container,
        "imagePullSecrets": [{"name": s} for s in
                             _kubernetes_attribute(step, "image_pull_secrets") or []],
        "restartPolicy": "Never",
        "serviceAccountName": opts.service_account or service_account,
        "setHostnameAsFQDN": True,
        "subdomain": NAME,
        "terminationGracePeriodSeconds": 0,
        "tolerations": [_toleration(t) for t in opts.tolerations or []],
        "volumes": volumes,
    }
    if opts.node_selector:
        pod["nodeSelector"] = dict(opts.node_selector)
    shared = gang_env(env, namespace, port)
    meta = {"annotations": annotations, "labels": labels}
    control = {**shared, "UBF_CONTEXT": UBF_CONTROL, "MF_CONTROL_INDEX": "0",
               "TASK_ID_PREFIX": "control"}
    worker = {**shared, "UBF_CONTEXT": UBF_TASK, "TASK_ID_PREFIX": "worker"}
    return {
        "apiVersion": API_VERSION,
        "kind": "JobSet",
        "metadata": {"annotations": annotations, "labels": labels, "name": NAME},
        "spec": {
            "replicatedJobs": [replicated_job("control", 1, control, namespace, pod, meta),
                               replicated_job("worker", WORKER_REPLICAS, worker, namespace,
                                              pod, meta)],
            "suspend": False,
            # Metaflow writes these null; the JobSet API drops them (they are text to Argo)
            "startupPolicy": None, "successPolicy": None, "failurePolicy": None,
            "network": None,
        },
        "status": None,
    }


def _toleration(given: dict[str, Any]) -> dict[str, Any]:
    """``V1Toleration(**given)`` serialised: camelCase keys, no ``None``."""
    return {("tolerationSeconds" if k == "toleration_seconds" else k): v
            for k, v in given.items() if v is not None}


def manifest_text(job_set: dict[str, Any]) -> str:
    """The manifest as Metaflow's text: YAML with the worker count unquoted."""
    return metaflow_yaml(job_set).replace(f"'{WORKER_REPLICAS}'", WORKER_REPLICAS)


def resource_template(ctx: StackContext, step: Step, command: str,
                      env: dict[str, str], service_account: str, base: dict[str, str],
                      base_labels: dict[str, str], inputs: list[dict[str, Any]], *,
                      executor_service_account: str) -> dict[str, Any]:
    """The step's Argo template: create the JobSet, wait for its terminal state. It runs as
    ``executor_service_account``, the namespace's task service account, whose Role allows
    creating and reading JobSets (flowstacks.render.argo.workflow.JOBSET_RULES); Metaflow's names
    none, so it runs as the workflow's (the namespace's ``default``), which rarely may."""
    opts = cmd.pod_options(ctx, step)
    labels = {**opts.labels, **base_labels,
              "task_id_entropy": "{{inputs.parameters.task-id-entropy}}",
              "num_parallel": "{{inputs.parameters.num-parallel}}",
              "metaflow/argo-workflows-name": "{{workflow.name}}",
              "workflows.argoproj.io/workflow": "{{workflow.name}}"}
    annotations = {**opts.annotations, **base, "metaflow/step_name": step.name,
                   "metaflow/attempt": cmd.retry_count(step), "metaflow/run_id": cmd.RUN_ID}
    job_set = manifest(ctx, step, command, env, service_account, annotations, labels)
    template: dict[str, Any] = {
        "name": sanitize(step.name),
        "serviceAccountName": executor_service_account,
        "resource": {"action": "create", "setOwnerReference": True, "successCondition": SUCCESS,
                     "failureCondition": FAILURE, "manifest": manifest_text(job_set)},
        "inputs": {"parameters": inputs},
        "outputs": {"parameters": [
            {"name": gang.ENTROPY, "valueFrom": {"jsonPath": "{.metadata.labels.task_id_entropy}"}},
            {"name": gang.NUM_PARALLEL, "valueFrom": {"jsonPath": "{.metadata.labels.num_parallel}"}},
        ]},
    }
    _, total, minutes = cmd.retries(step)
    if total:
        template["retryStrategy"] = {"retryPolicy": "Always", "limit": total,
                                     "backoff": {"duration": f"{minutes}m"}}
    return template
