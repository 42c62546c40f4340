"""The shell command and compute of one Argo task, as Metaflow 2.19.39's Argo deployer writes them.

Source: ``plugins/argo/argo_workflows.py`` (``_container_templates``) and
``plugins/kubernetes/kubernetes_decorator.py`` (``step_init``); the shell shared with the other
backends is in :mod:`flowstacks.render.metaflow_runtime`. The strings here are the *final* argv
text, i.e. what Metaflow's ``shlex.split('bash -c "%s"')`` leaves (its ``\\"`` become plain ``"``).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from typing import Any

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow, Step
from flowstacks.render.argo import parallel as gang
from flowstacks.render.argo.switch import Conditionals
from flowstacks.render.metaflow_runtime import (
    CATCH_FALLBACK_RETRIES, INIT_SCRIPT, KUBERNETES_DEFAULTS, LOGS_DIR, RETRY_DEFAULT_MINUTES,
    RETRY_DEFAULT_TIMES, CodePackageRef, attribute_number, decorator_spec, mflog_env,
    package_commands, script_name, task_script, top_level_options,
)
from flowstacks.render.walk import StepIndex

RUN_ID = "argo-{{workflow.name}}"
TASK_ID = "$METAFLOW_TASK_ID"
INPUT_PATHS_FILE = "/tmp/mf-input-paths"
EXECUTABLE = "python"
INTERNAL_DECORATOR = "argo_workflows_internal:auto-emit-argo-events=1"


@dataclass(frozen=True)
class Compute:
    """What ``@kubernetes`` resolves to for one step (after ``@resources``)."""

    cpu: str
    memory: str
    disk: str
    image: str
    gpu: str | None
    static: bool  # a @kubernetes written in the flow: not re-passed with --with

    def requests(self) -> dict[str, str]:
        """kube_utils.qos_requests_and_limits for the burstable class: requests only."""
        return {"cpu": self.cpu, "memory": f"{self.memory}M", "ephemeral-storage": f"{self.disk}M"}

    def limits(self) -> dict[str, str]:
        vendor = KUBERNETES_DEFAULTS["gpu_vendor"]
        return {f"{vendor}.com/gpu": self.gpu} if self.gpu is not None else {}


def step_compute(ctx: StackContext, step: Step) -> Compute:
    """Resources of one step: compute defaults, a static ``@kubernetes``, then ``@resources``,
    taking the larger value as ``KubernetesDecorator.step_init`` does (which turns every
    numeric attribute into a float string, e.g. ``4.0``, as soon as ``@resources`` exists)."""
    c = ctx.config.compute
    k8s = step.decorator("kubernetes")
    attrs: dict[str, Any] = {"cpu": attribute_number(c.cpu), "memory": attribute_number(c.memory),
                             "disk": attribute_number(c.disk), "image": c.image,
                             "gpu": str(c.gpu) if c.gpu else None}
    if k8s:
        attrs.update({k: (str(v) if k != "image" else v) for k, v in k8s.attributes.items()
                      if k in attrs and v is not None})
    res = step.decorator("resources")
    if res:
        if res.attributes.get("gpu") is not None:
            attrs["gpu"] = str(res.attributes["gpu"])
        for key in ("cpu", "memory", "disk"):
            if key in res.attributes:
                mine, theirs = attrs[key], res.attributes[key]
                attrs[key] = str(max(float(mine or 0), float(theirs or 0)))
    return Compute(cpu=attrs["cpu"], memory=attrs["memory"], disk=attrs["disk"],
                   image=attrs["image"], gpu=attrs["gpu"], static=k8s is not None)


@dataclass(frozen=True)
class PodOptions:
    """The pod-level options of ``@kubernetes`` as ``KubernetesDecorator.step_init`` resolves
    them and ``_container_templates`` renders them (labels, annotations, volumes, scheduling)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]] | None
    secrets: list[str]
    pvcs: dict[str, str] | None
    tmpfs_size: int | None  # MiB; None: no tmpfs
    tmpfs_path: str
    tmpfs_tempdir: bool
    shared_memory: int | None  # None: an unsized /dev/shm volume, 0: none
    service_account: str | None
    namespace: str | None


def _key_values(value: Any) -> dict[str, str]:
    """``node_selector="a=b,c=d"`` or a dict (``kube_utils.parse_kube_keyvalue_list``)."""
    if not value:
        return {}
    if isinstance(value, str):
        return dict(item.split("=", 1) for item in value.split(",") if item)
    return {str(k): str(v) for k, v in value.items()}


def given_attribute(step: Step, decorator: str, name: str) -> Any:
    """An attribute the flow's author wrote (not a default the loader's Metaflow config filled
    in: the stack's own namespace and service account stand in for those)."""
    deco = step.decorator(decorator)
    if deco is None or name not in deco.given:
        return None
    return deco.attributes.get(name) or None


def pod_options(ctx: StackContext, step: Step) -> PodOptions:
    """A static ``@kubernetes``'s pod options (Metaflow's defaults without one)."""
    k8s = step.decorator("kubernetes")
    a = {**KUBERNETES_DEFAULTS, **{k: v for k, v in (k8s.attributes if k8s else {}).items()
                                   if v is not None}}
    secrets = a.get("secrets") or []
    tmpfs_size = None
    if a.get("use_tmpfs") or a.get("tmpfs_size"):
        # kubernetes_decorator.step_init: half the memory when no size is given
        tmpfs_size = int(a["tmpfs_size"]) if a.get("tmpfs_size") else int(
            float(step_compute(ctx, step).memory)) // 2
    shm = a.get("shared_memory")
    return PodOptions(
        labels={str(k): str(v) for k, v in (a.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (a.get("annotations") or {}).items()},
        node_selector=_key_values(a.get("node_selector")),
        tolerations=list(a["tolerations"]) if a.get("tolerations") else None,
        secrets=[secrets] if isinstance(secrets, str) else [str(x) for x in secrets],
        pvcs=dict(a["persistent_volume_claims"]) if a.get("persistent_volume_claims") else None,
        tmpfs_size=tmpfs_size,
        tmpfs_path=str(a.get("tmpfs_path") or "/metaflow_temp"),
        tmpfs_tempdir=bool(a.get("tmpfs_tempdir", True)),
        shared_memory=None if shm is None else int(shm),
        service_account=given_attribute(step, "kubernetes", "service_account"),
        namespace=given_attribute(step, "kubernetes", "namespace"),
    )


def retries(step: Step) -> tuple[int, int, int]:
    """(user code retries, total retries, minutes between retries) from @retry and @catch."""
    user, errors, minutes = 0, 0, RETRY_DEFAULT_MINUTES
    retry = step.decorator("retry")
    if retry:
        user = int(retry.attributes.get("times", RETRY_DEFAULT_TIMES))
        minutes = retry.attributes.get("minutes_between_retries", minutes)
    if step.decorator("catch"):
        errors = CATCH_FALLBACK_RETRIES
    return user, user + errors, int(minutes)


def retry_count(step: Step) -> str:
    """``{{retries}}`` only exists when the template has a retryStrategy
    (docs/metaflow-contract.md#argo); a JobSet's manifest cannot read it, so a ``@parallel``
    step gets it as its ``retryCount`` input."""
    if not retries(step)[1]:
        return "0"
    return gang.RETRY_COUNT_VALUE if gang.is_parallel_step(step) else "{{retries}}"


def kubernetes_spec(ctx: StackContext, compute: Compute, service_account: str) -> str:
    """``make_decorator_spec()`` of the dynamically attached ``@kubernetes``: its resolved
    defaults with this step's compute, service account and namespace."""
    attrs = dict(KUBERNETES_DEFAULTS)
    attrs.update(cpu=compute.cpu, memory=compute.memory, disk=compute.disk, image=compute.image,
                 service_account=service_account, namespace=ctx.config.kubernetes.namespace,
                 gpu=compute.gpu)
    return decorator_spec("kubernetes", attrs.items(), escape_quotes=False)


def _top_level(ctx: StackContext, fd: FlowDeployment, step: Step,
                         service_account: str) -> list[str]:
    """``--with`` for dynamic decorators, the @project flags, then the fixed runtime options."""
    words: list[str] = []
    compute = step_compute(ctx, step)
    if not compute.static:
        words += ["--with", shlex.quote(kubernetes_spec(ctx, compute, service_account))]
    if not step.decorator("environment"):
        words += ["--with", shlex.quote("environment:vars={}")]
    words += [shlex.quote(w) if not w.startswith("--") else w for w in fd.top_level_args()]
    return words + top_level_options(ctx.platform.metadata, ctx.config.aws.datastore_root,
                                     INTERNAL_DECORATOR)


def _pathspec(flow: Flow, step_name: str, task_id: str) -> str:
    return f"{flow.name}/{RUN_ID}/{step_name}/{task_id}"


@dataclass(frozen=True)
class StepShape:
    """How a step sits in the graph, as far as its command is concerned."""

    is_start: bool
    after_foreach: bool  # a parent is a foreach: the task gets a split index
    foreach_join_of: str | None  # the step inside the foreach that this join gathers
    last_in_foreach: bool  # inside a foreach and feeding its join: needs root-input-path
    feeds_join_in_foreach: bool = False  # inside a foreach, its first next step is a join
    parallel_step: bool = False  # @parallel: a JobSet's control and workers run it
    parallel_join_of: str | None = None  # the @parallel step this join gathers


def step_shape(flow: Flow, step: Step) -> StepShape:
    steps = StepIndex(flow)
    after_foreach = steps.follows_foreach(step)
    foreach_join_of = None
    if steps.is_foreach_join(step):
        foreach_join_of = next(n for n in step.in_funcs if steps[n].is_inside_foreach)
    last = False
    feeds_join = bool(step.is_inside_foreach and step.next and steps[step.next[0]].type == "join")
    if feeds_join:
        join = steps[step.next[0]]
        last = any(steps[p].type == "foreach" and steps[p].matching_join == join.name
                   for p in join.split_parents) and not after_foreach
    parallel_join_of = (foreach_join_of if foreach_join_of and gang.is_parallel_foreach(
        steps[step.split_parents[-1]]) else None)
    return StepShape(step.name == flow.start.name, after_foreach, foreach_join_of, last,
                     feeds_join, gang.is_parallel_step(step), parallel_join_of)


def parameter_file_name(template_name: str) -> str:
    """Metaflow draws 10 random letters for the parameters file; flowstacks derives them from the
    template name so output stays deterministic (difference D4 in tests/argo/DIFFERENCES.md)."""
    digest = hashlib.sha1(template_name.encode("utf-8")).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest[:10])


def step_command(ctx: StackContext, fd: FlowDeployment, step: Step, package: CodePackageRef,
                 service_account: str, parameters: list[dict[str, Any]]) -> str:
    """The ``bash -c`` script of one step's container (docs/metaflow-contract.md#step-command)."""
    flow = fd.flow
    shape = step_shape(flow, step)
    script = script_name(flow.file)
    attempt = retry_count(step)
    user_retries = retries(step)[0]
    top = " ".join(_top_level(ctx, fd, step, service_account))

    cond = Conditionals(flow)
    # some inputs may never have run (a switch's other cases): their unresolved Argo expressions
    # are passed base64-encoded and sorted out by conditional_input_paths
    conditional_inputs = (cond.reads_conditional_inputs(step) and not shape.foreach_join_of
                          and not shape.feeds_join_in_foreach)
    # a @parallel join rebuilds its input paths from the gang's size and entropy
    no_inputs = shape.is_start or shape.parallel_join_of is not None
    input_paths = "" if no_inputs else "$(echo $INPUT_PATHS)"
    paths_expr = "export INPUT_PATHS=''" if no_inputs else (
        "export INPUT_PATHS={{=toBase64(inputs.parameters['input-paths'])}}" if conditional_inputs
        else "export INPUT_PATHS={{inputs.parameters.input-paths}}")
    task_idx = "{{inputs.parameters.split-index}}" if shape.after_foreach or shape.last_in_foreach else ""
    root = "{{inputs.parameters.root-input-path}}" if shape.last_in_foreach else None
    task_str = "-".join([step.name, "{{workflow.creationTimestamp}}", root or input_paths, task_idx])
    task_expr = f"export METAFLOW_TASK_ID=(t-$(echo {task_str} | md5sum | cut -d ' ' -f 1 | tail -c 9))"
    if shape.parallel_step:  # minted from the gang's entropy: the join can name every member
        task_expr = f"export METAFLOW_TASK_ID={gang.TASK_ID}"

    cmds: list[str] = []
    if shape.is_start:
        params_id = f"{TASK_ID}-params"
        pfile = parameter_file_name(fd.argo_template_name)
        csv = " ".join("%s,%s,{{=toBase64(workflow.parameters['%s'])}}"
                       % (p["name"], "t" if p["value"] == "null" else "f", p["name"])
                       for p in parameters)
        cmds.append(f"python -m metaflow.plugins.argo.set_parameters {pfile} {csv} && . `pwd`/{pfile}")
        init_cmd = f"{EXECUTABLE} {script} {top} init --run-id {RUN_ID} --task-id {params_id}"
        exists = f"{EXECUTABLE} {script} dump --max-value-size=0 {RUN_ID}/_parameters/{params_id}"
        cmds.append(f"if ! {exists} >/dev/null 2>/dev/null; then {init_cmd}; fi")
        input_paths = f"{RUN_ID}/_parameters/{params_id}"
    elif cond.reads_conditional_inputs(step) and not shape.foreach_join_of:
        input_paths = ("$(python -m metaflow.plugins.argo.conditional_input_paths %s %s)"
                       % (input_paths, ",".join(cond.skippable_inputs(step))))
    elif shape.parallel_join_of:
        input_paths = gang.join_input_paths(RUN_ID, shape.parallel_join_of)
    elif shape.foreach_join_of:
        input_paths = ("$(python -m metaflow.plugins.argo.generate_input_paths %s "
                       "{{workflow.creationTimestamp}} %s {{inputs.parameters.split-cardinality}})"
                       % (shape.foreach_join_of, input_paths))
    cmds.append(f"echo {input_paths} >> {INPUT_PATHS_FILE}")
    step_cmd = (f"{EXECUTABLE} {script} {top} step {step.name} --run-id {RUN_ID} "
                f"--task-id {TASK_ID} --retry-count {attempt} "
                f"--max-user-code-retries {user_retries} --input-paths-filename {INPUT_PATHS_FILE}")
    if shape.parallel_step:  # control: 0, workers: their job index + 1
        step_cmd += f" --split-index {gang.SPLIT_INDEX} {gang.UBF_OPTION}"
    elif shape.after_foreach:
        step_cmd += " --split-index {{inputs.parameters.split-index}}"
    cmds.append(step_cmd)
    return task_script([INIT_SCRIPT, LOGS_DIR, paths_expr, task_expr],
                       _pathspec(flow, step.name, TASK_ID), attempt, package.url, " && ".join(cmds))


def error_hook_command(flow: Flow, package: CodePackageRef) -> str:
    """The exit hook that records why a run failed (``_error_msg_capture_hook_templates``)."""
    parts = [INIT_SCRIPT, LOGS_DIR, mflog_env(_pathspec(flow, "_run_capture_error", "1"), "0")]
    # Metaflow drops the last package command here (flush_mflogs), as for its exit hooks.
    parts += package_commands(package.url)[:-1]
    parts += [
        "mflog 'Error capture hook is starting.'",
        "argo_error=$(python -m 'metaflow.plugins.argo.capture_error')",
        "export METAFLOW_ARGO_ERROR=$argo_error",
        "python -c 'import json, os; error_obj=os.getenv(\"METAFLOW_ARGO_ERROR\");"
        "data=json.loads(error_obj); print(data[\"message\"])'",
        'if [ -n "${METAFLOW_ARGO_WORKFLOWS_CAPTURE_ERROR_SCRIPT}" ]; then '
        'eval "${METAFLOW_ARGO_WORKFLOWS_CAPTURE_ERROR_SCRIPT}"; fi',
    ]
    return " && ".join(parts)
