"""Pure Argo renderer: one flow in one namespace -> WorkflowTemplate (+ CronWorkflow, + Sensor).

Matches what ``python flow.py [--branch B] [--production] argo-workflows create`` deploys with
Metaflow 2.19.39 (docs/metaflow-contract.md#argo), minus what would make output non-deterministic
(no deployment timestamp) and minus every ``null`` field (Argo 3.6+/4.x schemas reject them).
Differences kept on purpose are listed in tests/argo/DIFFERENCES.md.

Layout: :mod:`.dag` (DAG shape), :mod:`.command` (task script, compute), :mod:`.env` (task env),
:mod:`.events` (cron, sensor), :mod:`.checks` (what is refused), :mod:`.parallel` and :mod:`.jobset`
(a ``@parallel`` step's JobSet); this module assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow, Step
from flowstacks.render.argo import command as cmd
from flowstacks.render.argo import events
from flowstacks.render.argo import jobset
from flowstacks.render.argo import parallel as gang
from flowstacks.render.argo.checks import (
    CRON_WORKFLOW_NAME_MAX, DNS1123_SUBDOMAIN_MAX, check_kubernetes_name, check_steps,
)
from flowstacks.render.argo.dag import dag_templates, graph_structure, param, sanitize
from flowstacks.render.argo.env import ARGO_USER, env_list, error_hook_env, step_env
from flowstacks.render.argo.switch import SWITCH, Conditionals
from flowstacks.render.artifact import Artifact
from flowstacks.render.metaflow_runtime import (
    DEFAULT_MAX_WORKERS, DEFAULT_RUNTIME_LIMIT, CodePackageRef,
)
from flowstacks.render.serialize import metaflow_json, yaml_documents

API_VERSION = events.API_VERSION
PARALLELISM = DEFAULT_MAX_WORKERS  # --max-workers default
ERROR_HOOK = "error-msg-capture-hook"
ERROR_HOOK_PREFLIGHT = "capture-error-hook-fn-preflight"
BASE_LABELS = {"app.kubernetes.io/part-of": "metaflow"}
# What Argo's executor in every task pod does with the pod's service account (Argo >= 3.4
# reports outputs such as task-id through WorkflowTaskResults): the namespace Role it needs.
EXECUTOR_RULES = [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
                   "verbs": ["create", "patch"]}]
# A @parallel step's resource template (.jobset) runs as the namespace's task service account:
# Argo's executor creates the JobSet, then reads it until its success or failure condition holds
# and takes the join's outputs from it (jsonPath).
JOBSET_RULES = [{"apiGroups": [jobset.API_VERSION.split("/")[0]], "resources": ["jobsets"],
                 "verbs": ["create", "get"]}]
TITLE = "workflows.argoproj.io/title"
DESCRIPTION = "workflows.argoproj.io/description"


def creates_jobsets(template: dict[str, Any]) -> bool:
    """Whether a WorkflowTemplate has a resource template that creates a JobSet (a
    ``@parallel`` step, :mod:`.jobset`)."""
    return any(jobset.API_VERSION in ((t.get("resource") or {}).get("manifest") or "")
               for t in (template.get("spec") or {}).get("templates") or [])


def executor_rules(creates_jobsets: bool) -> list[dict[str, Any]]:
    """The namespace Role of the task service account: JobSets only for a stack whose templates
    create them."""
    return EXECUTOR_RULES + (JOBSET_RULES if creates_jobsets else [])


@dataclass(frozen=True)
class ArgoObjects:
    """What one flow deploys to Argo (``cron``/``sensor`` None when the flow has none)."""

    template: dict[str, Any]
    cron: dict[str, Any] | None
    sensor: dict[str, Any] | None

    def documents(self) -> list[dict[str, Any]]:
        return [d for d in (self.template, self.cron, self.sensor) if d is not None]

    def artifact(self) -> Artifact:
        """``argo/<template name>.yaml``: the template, then its CronWorkflow and Sensor, as one
        multi-document stream that ``kubectl apply -f`` takes as is."""
        return Artifact(f"argo/{self.template['metadata']['name']}.yaml",
                        yaml_documents(self.documents()))


def parameters(fd: FlowDeployment) -> list[dict[str, Any]]:
    """``ArgoWorkflows._process_parameters``: every value JSON-encoded (JSON ones twice)."""
    out = []
    seen: set[str] = set()
    for p in fd.flow.parameters:
        where = f"{fd.flow.file} ({fd.flow.name})"
        if p.name.lower() == "script":
            raise FlowstacksError(f"Parameter name *{p.name}* is a reserved word when running on "
                                  "Argo Workflows. Please use a different name for your parameter.",
                                  where=where)
        if p.name.lower() in seen:
            raise FlowstacksError(f"Parameter *{p.name}* is specified twice. Note that parameter "
                                  "names are case-insensitive.", where=where)
        seen.add(p.name.lower())
        if p.required and not p.has_default and fd.flow.schedule is not None:
            raise FlowstacksError(f"The parameter *{p.name}* does not have a default and is "
                                  "required. Scheduling such parameters via Argo CronWorkflows "
                                  "is not currently supported.", where=where)
        value = p.default
        if value is None:
            encoded = "null"
        elif p.type == "JSON":
            encoded = metaflow_json(value if isinstance(value, str) else metaflow_json(value))
        else:
            encoded = metaflow_json(value)
        # IncludeFile: Metaflow writes FilePathClass.name ("FilePath") and, last, its is_text
        # and encoding (ArgoWorkflows._process_parameters)
        is_file = p.file_is_text is not None
        entry = {"python_var_name": p.attribute or p.name, "name": p.name, "value": encoded,
                 "type": "FilePath" if is_file else p.type, "description": p.help,
                 "is_required": p.required}
        if is_file:
            entry.update(is_text=p.file_is_text, encoding=p.file_encoding or "utf-8")
        out.append(entry)
    return out


def base_annotations(ctx: StackContext, fd: FlowDeployment) -> dict[str, str]:
    """``_base_kubernetes_annotations`` without ``metaflow/deployment_timestamp``."""
    ann = {
        "metaflow/production_token": ctx.production_token,
        "metaflow/owner": ctx.owner,
        "metaflow/user": ARGO_USER,
        "metaflow/flow_name": fd.flow.name,
        "metaflow/project_name": fd.project_name,
        "metaflow/branch_name": fd.branch_name,
        "metaflow/project_flow_name": fd.project_flow_name,
        TITLE: fd.project_flow_name,
    }
    # Metaflow strips the class's __doc__ as written: inner lines keep their indentation.
    doc = fd.flow.doc_raw if fd.flow.doc_raw is not None else fd.flow.doc
    if doc and doc.strip():
        ann[DESCRIPTION] = doc.strip()
    return ann


def flow_annotations(ctx: StackContext, fd: FlowDeployment, params: list[dict[str, Any]],
                     trigs: list[dict[str, Any]]) -> dict[str, str]:
    """Annotations that describe the schedule, parameters and triggers to the Argo UI."""
    ann: dict[str, str] = {}
    sched = events.cron_schedule(fd)
    if sched:
        ann["metaflow/cron"] = metaflow_json({"schedule": sched[0], "tz": sched[1]})
    if params:
        ann["metaflow/parameters"] = metaflow_json({p["name"]: p for p in params})
    if trigs:
        k8s = ctx.config.kubernetes
        ann["metaflow/triggers"] = metaflow_json([{"name": t["name"], "type": t["type"]}
                                                  for t in trigs])
        ann["metaflow/sensor_name"] = fd.argo_sensor_name
        ann["metaflow/sensor_namespace"] = k8s.argo_events_sensor_namespace or k8s.namespace
    return ann


def _inputs_outputs(flow: Flow, step: Step) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shape = cmd.step_shape(flow, step)
    inputs = [] if shape.is_start or shape.parallel_join_of else [param("input-paths")]
    if shape.after_foreach:
        inputs.append(param("split-index"))
    if shape.parallel_join_of:
        inputs += [param(gang.NUM_PARALLEL), param(gang.ENTROPY)]
    elif shape.foreach_join_of:
        inputs.append(param("split-cardinality"))
    elif shape.parallel_step:
        inputs += [param(n) for n in (gang.NUM_PARALLEL, gang.ENTROPY, gang.JOBSET_NAME,
                                      gang.WORKER_COUNT)]
        if cmd.retries(step)[1]:
            inputs.append(param(gang.RETRY_COUNT))
    if shape.last_in_foreach:
        inputs += [param("split-index"), param("root-input-path")]
    # a @parallel step's task ids are minted at run time: its JobSet reports the gang instead
    outputs = [] if step.type == "end" or shape.parallel_step else [
        {"name": "task-id", "valueFrom": {"path": "/mnt/out/task_id"}}]
    if step.type == SWITCH:  # the case the step chose, for the when: of the cases
        outputs.append({"name": "switch-step", "valueFrom": {"path": "/mnt/out/switch_step"}})
    if step.type == "foreach":
        outputs += [{"name": "num-splits", "valueFrom": {"path": "/mnt/out/splits"}},
                    {"name": "split-cardinality",
                     "valueFrom": {"path": "/mnt/out/split_cardinality"}}]
    if gang.is_parallel_foreach(step):
        outputs += [{"name": gang.NUM_PARALLEL, "valueFrom": {"path": "/mnt/out/num_parallel"}},
                    {"name": gang.ENTROPY, "valueFrom": {"path": "/mnt/out/task_id_entropy"}}]
    return inputs, outputs


def _volumes(opts: cmd.PodOptions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts): "out" passes task ids to later tasks, then tmpfs, Metaflow's /dev/shm
    volume "dhsm" and the persistent volume claims (``empty_dir_volume``, ``pvc_volumes``)."""
    volumes: list[dict[str, Any]] = [{"name": "out", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"mountPath": "/mnt/out", "name": "out"}]
    if opts.tmpfs_size:
        volumes.append({"name": "tmpfs-ephemeral-volume",
                        "emptyDir": {"sizeLimit": f"{opts.tmpfs_size}Mi", "medium": "Memory"}})
        mounts.append({"mountPath": opts.tmpfs_path, "name": "tmpfs-ephemeral-volume"})
    if opts.shared_memory != 0:  # size 0: no volume; None: an unsized one, never mounted
        volumes.append({"name": "dhsm", "emptyDir": {
            **({"sizeLimit": f"{opts.shared_memory}Mi"} if opts.shared_memory else {}),
            "medium": "Memory"}})
    if opts.shared_memory:
        mounts.append({"mountPath": "/dev/shm", "name": "dhsm"})
    for claim, path in (opts.pvcs or {}).items():
        volumes.append({"name": claim, "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"mountPath": path, "name": claim})
    return volumes, mounts


def container_template(ctx: StackContext, fd: FlowDeployment, step: Step, package: CodePackageRef,
                       service_account: str, params: list[dict[str, Any]],
                       trigs: list[dict[str, Any]]) -> dict[str, Any]:
    """One step's pod: the task script, its env, compute, retries and timeout, and the pod
    options of a ``@kubernetes`` written in the flow (its service account wins, as in Metaflow)."""
    compute = cmd.step_compute(ctx, step)
    opts = cmd.pod_options(ctx, step)
    inputs, outputs = _inputs_outputs(fd.flow, step)
    _, total_retries, minutes = cmd.retries(step)
    volumes, mounts = _volumes(opts)
    env = step_env(ctx, fd, step, package, trigs)
    if opts.tmpfs_size and opts.tmpfs_tempdir:
        env["METAFLOW_TEMPDIR"] = opts.tmpfs_path
    if gang.is_parallel_step(step):  # a JobSet runs it (.jobset)
        return jobset.resource_template(
            ctx, step, cmd.step_command(ctx, fd, step, package, service_account, params), env,
            opts.service_account or service_account, base_annotations(ctx, fd),
            dict(BASE_LABELS), inputs, executor_service_account=service_account)
    # a recursive switch's DAG task runs the steps template named as the step (.dag), which
    # runs this container as recursive-<step>
    recursive = Conditionals(fd.flow).is_recursive(step.name)
    template: dict[str, Any] = {
        "name": sanitize(f"recursive-{step.name}" if recursive else step.name),
        "activeDeadlineSeconds": step.timeout_seconds or DEFAULT_RUNTIME_LIMIT,
        "serviceAccountName": opts.service_account or service_account,
        "inputs": {"parameters": inputs},
        "outputs": {"parameters": outputs},
        "failFast": True,
    }
    if total_retries:
        template["retryStrategy"] = {"retryPolicy": "Always", "limit": total_retries,
                                     "backoff": {"duration": f"{minutes}m"}}
    template.update({
        "metadata": {"annotations": {"metaflow/step_name": step.name,
                                     "metaflow/attempt": cmd.retry_count(step),
                                     **opts.annotations},
                     "labels": dict(opts.labels)},
        "volumes": volumes,
        "nodeSelector": dict(opts.node_selector),
    })
    if opts.tolerations:
        template["tolerations"] = opts.tolerations
    template["container"] = {
        "name": sanitize(step.name),
        "command": ["bash", "-c", cmd.step_command(ctx, fd, step, package, service_account,
                                                   params)],
        "env": env_list(env),
        "envFrom": [{"secretRef": {"name": name}} for name in opts.secrets],
        "image": compute.image,
        "resources": {"limits": compute.limits(), "requests": compute.requests()},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    return template


def error_hook_templates(ctx: StackContext, fd: FlowDeployment, package: CodePackageRef,
                         service_account: str) -> list[dict[str, Any]]:
    """``onExit`` hook: when a run fails, record its error message (Metaflow default)."""
    image = cmd.step_compute(ctx, fd.flow.start).image
    return [
        {"name": ERROR_HOOK, "serviceAccountName": service_account, "container": {
            "name": "main",
            "command": ["bash", "-c", cmd.error_hook_command(fd.flow, package)],
            "env": env_list(error_hook_env(ctx, package), with_field_refs=False),
            "envFrom": [],
            "image": image,
            "resources": {"limits": {"cpu": "200m", "memory": "500Mi"},
                          "requests": {"cpu": "200m", "memory": "100Mi"}},
        }},
        {"name": ERROR_HOOK_PREFLIGHT, "steps": [[{
            "name": ERROR_HOOK_PREFLIGHT, "template": ERROR_HOOK,
            "when": "{{workflow.status}} != Succeeded"}]]},
    ]


def workflow_template(ctx: StackContext, fd: FlowDeployment, package: CodePackageRef,
                      service_account: str, params: list[dict[str, Any]],
                      trigs: list[dict[str, Any]]) -> dict[str, Any]:
    """The WorkflowTemplate of one flow (``ArgoWorkflows._compile_workflow_template``)."""
    flow = fd.flow
    base = base_annotations(ctx, fd)
    extra = flow_annotations(ctx, fd, params, trigs)
    run_id = {"metaflow/run_id": "argo-{{workflow.name}}"}
    run_base = {k: v for k, v in base.items() if k not in (TITLE, DESCRIPTION)}
    arguments = [
        {k: v for k, v in (("name", p["name"]), ("value", p["value"]),
                           ("description", p["description"])) if v is not None}
        for p in params
    ] + events.event_parameters(trigs)
    steps = sorted(flow.steps, key=lambda s: s.name)  # Metaflow iterates the graph by name
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkflowTemplate",
        "metadata": {
            "name": fd.argo_template_name,
            "namespace": ctx.config.kubernetes.namespace,
            "annotations": {**extra, **base,
                            "metaflow/dag": metaflow_json({"graph_structure": graph_structure(flow)})},
            "labels": {**BASE_LABELS, "app.kubernetes.io/name": "metaflow-flow"},
        },
        "spec": {
            "parallelism": PARALLELISM,
            "workflowMetadata": {
                "labels": {**BASE_LABELS, "app.kubernetes.io/name": "metaflow-run"},
                "annotations": {**extra, **run_base, **run_id},
            },
            "arguments": {"parameters": arguments},
            "podMetadata": {
                "labels": {**BASE_LABELS, "app.kubernetes.io/name": "metaflow-task"},
                "annotations": {**extra, **base, **run_id},
            },
            "entrypoint": flow.name,
            "onExit": ERROR_HOOK_PREFLIGHT,
            "hooks": {},
            "templates": dag_templates(flow)
            + [container_template(ctx, fd, s, package, service_account, params, trigs)
               for s in steps]
            + error_hook_templates(ctx, fd, package, service_account),
        },
    }


def render_flow(ctx: StackContext, fd: FlowDeployment, package: CodePackageRef,
                service_account: str) -> ArgoObjects:
    """Every Argo object of one flow in one namespace (pure, deterministic)."""
    check_kubernetes_name(fd.argo_template_name, "WorkflowTemplate", fd, DNS1123_SUBDOMAIN_MAX)
    check_steps(fd, ctx.config.kubernetes.namespace)
    params = parameters(fd)
    trigs = events.triggers(ctx, fd)
    cron = events.cron_workflow(ctx, fd)
    if cron is not None:
        check_kubernetes_name(cron["metadata"]["name"], "CronWorkflow", fd, CRON_WORKFLOW_NAME_MAX)
    sensor = events.sensor(ctx, fd, base_annotations(ctx, fd), dict(BASE_LABELS), params, trigs)
    if sensor is not None:
        check_kubernetes_name(fd.argo_sensor_name, "Sensor", fd, DNS1123_SUBDOMAIN_MAX)
    template = workflow_template(ctx, fd, package, service_account, params, trigs)
    objects = ArgoObjects(template=template, cron=cron, sensor=sensor)
    for doc in objects.documents():
        # The namespace tags (the stack's metaflow/* tags) as annotations: branch names and tokens
        # are not always valid label values. Metaflow's own annotations keep their values and order.
        meta = doc["metadata"]
        meta["annotations"] = {**meta.get("annotations", {}),
                               **{k: v for k, v in ctx.tags.items()
                                  if k not in meta.get("annotations", {})}}
    return objects
