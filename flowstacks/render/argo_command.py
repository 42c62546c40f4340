"""The shell command and compute of one Argo task, as Metaflow 2.19.39's Argo deployer writes them.

Source: ``plugins/argo/argo_workflows.py`` (``_container_templates``), ``metaflow_environment.py``
(``get_package_commands``), ``mflog/__init__.py`` (``export_mflog_env_vars``,
``bash_capture_logs``), ``plugins/kubernetes/kubernetes_decorator.py`` (``defaults``,
``step_init``) and ``util.dict_to_cli_options``. The strings here are the *final* argv text, i.e.
what Metaflow's ``shlex.split('bash -c "%s"')`` leaves (its ``\\"`` become plain ``"``).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from typing import Any

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow, Step
from flowstacks.load.code_package import CodePackage
from flowstacks.render.serialize import metaflow_json

RUN_ID = "argo-{{workflow.name}}"
TASK_ID = "$METAFLOW_TASK_ID"
INPUT_PATHS_FILE = "/tmp/mf-input-paths"
DATASTORE = "s3"
METADATA = "local"  # the oracle's METAFLOW_DEFAULT_METADATA; flowstacks has no metadata service
ENVIRONMENT = "local"
EXECUTABLE = "python"
# timeout_decorator.DEFAULT_RUNTIME_LIMIT: 5 days when a step has no @timeout.
DEFAULT_RUNTIME_LIMIT = 5 * 24 * 60 * 60
# retry_decorator defaults; catch_decorator.NUM_FALLBACK_RETRIES.
RETRY_DEFAULT_TIMES = 3
RETRY_DEFAULT_MINUTES = "2"
CATCH_FALLBACK_RETRIES = 3
# kubernetes_decorator: attributes not derived from compute settings.
K8S_GPU_VENDOR = "nvidia"
K8S_TMPFS_PATH = "/metaflow_temp"
K8S_HOSTNAME_RESOLUTION_TIMEOUT = 600
K8S_QOS = "burstable"

_INIT_SCRIPT = '${METAFLOW_INIT_SCRIPT:+eval "${METAFLOW_INIT_SCRIPT}"}'
_MFLOG_FN = ('mflog(){ T=$(date -u -Ins|tr , .); echo "[MFLOG|0|${T:0:26}Z|task|$T]$1" '
             ">> $MFLOG_STDOUT; echo $1;  }")
_FLUSH_FN = "flush_mflogs(){ python -m metaflow.mflog.save_logs; }"
_CAPTURE = ("flush_mflogs && (%s) 1>> >(python -m metaflow.mflog.tee task $MFLOG_STDOUT) "
            "2>> >(python -m metaflow.mflog.tee task $MFLOG_STDERR >&2)")
_SAVE_LOGS = "python -m metaflow.mflog.save_logs"


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
        return {f"{K8S_GPU_VENDOR}.com/gpu": self.gpu} if self.gpu is not None else {}


def _plain_number(value: Any) -> str:
    """Compute defaults as Metaflow's own string defaults ("1", "4096"), not "1.0"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def step_compute(ctx: StackContext, step: Step) -> Compute:
    """Resources of one step: compute defaults, a static ``@kubernetes``, then ``@resources``,
    taking the larger value as ``KubernetesDecorator.step_init`` does (which turns every
    numeric attribute into a float string, e.g. ``4.0``, as soon as ``@resources`` exists)."""
    c = ctx.config.compute
    k8s = step.decorator("kubernetes")
    attrs: dict[str, Any] = {"cpu": _plain_number(c.cpu), "memory": _plain_number(c.memory),
                             "disk": _plain_number(c.disk), "image": c.image,
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
    """``{{retries}}`` only exists when the template has a retryStrategy (SPEC §4)."""
    return "{{retries}}" if retries(step)[1] else "0"


def kubernetes_spec(ctx: StackContext, compute: Compute, service_account: str) -> str:
    """``make_decorator_spec()`` of the dynamically attached ``@kubernetes``: non-None attributes
    in ``KubernetesDecorator.defaults`` order, scalars verbatim, dicts as JSON."""
    items: list[tuple[str, Any]] = [
        ("cpu", compute.cpu), ("memory", compute.memory), ("disk", compute.disk),
        ("image", compute.image), ("service_account", service_account),
        ("namespace", ctx.config.kubernetes.namespace), ("gpu", compute.gpu),
        ("gpu_vendor", K8S_GPU_VENDOR), ("labels", {}), ("annotations", {}),
        ("tmpfs_tempdir", True), ("tmpfs_path", K8S_TMPFS_PATH),
        ("hostname_resolution_timeout", K8S_HOSTNAME_RESOLUTION_TIMEOUT), ("qos", K8S_QOS),
        ("extended_resources", {}),
    ]
    parts = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, (bool, int, float, str)):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={metaflow_json(value)}")
    return "kubernetes:" + ",".join(parts)


def top_level_options(ctx: StackContext, fd: FlowDeployment, step: Step,
                      service_account: str) -> list[str]:
    """``--with`` for dynamic decorators, the @project flags, then the fixed runtime options."""
    words: list[str] = []
    compute = step_compute(ctx, step)
    if not compute.static:
        words += ["--with", shlex.quote(kubernetes_spec(ctx, compute, service_account))]
    if not step.decorator("environment"):
        words += ["--with", shlex.quote("environment:vars={}")]
    words += [shlex.quote(w) if not w.startswith("--") else w for w in fd.top_level_args()]
    return words + [
        "--quiet", f"--metadata={METADATA}", f"--environment={ENVIRONMENT}",
        f"--datastore={DATASTORE}", f"--datastore-root={ctx.config.aws.datastore_root}",
        "--event-logger=nullSidecarLogger", "--monitor=nullSidecarMonitor", "--no-pylint",
        "--with=argo_workflows_internal:auto-emit-argo-events=1",
    ]


def package_commands(package: CodePackage) -> list[str]:
    """``MetaflowEnvironment.get_package_commands`` for an S3 code package."""
    download = (
        "python -c 'import boto3, os; ep=os.getenv(\"METAFLOW_S3_ENDPOINT_URL\"); "
        "boto3.client(\"s3\", **({\"endpoint_url\":ep} if ep else {}))"
        f".download_file(\"{package.bucket}\", \"{package.key}\", \"job.tar\")'"
    )
    return [
        _MFLOG_FN, _FLUSH_FN, "mflog 'Setting up task environment.'",
        "if [ -z $METAFLOW_SKIP_INSTALL_DEPENDENCIES ]; then python -m pip install -qqq "
        "--no-compile --no-cache-dir --disable-pip-version-check boto3 requests; fi",
        "mkdir metaflow", "cd metaflow", "mkdir .metaflow",
        "i=0; while [ $i -le 5 ]; do mflog 'Downloading code package...'; "
        f"{download} && mflog 'Code package downloaded.' && break; sleep 10; i=$((i+1)); done",
        f"if [ $i -gt 5 ]; then mflog 'Failed to download code package from {package.url} "
        "after 6 tries. Exiting...' && exit 1; fi",
        "TAR_OPTIONS='--warning=no-timestamp' tar -xzf job.tar -C .",
        "export PYTHONPATH=$(pwd)/.mf_code:$(printenv PYTHONPATH)",
        "export METAFLOW_EXTRACTED_ROOT=$(pwd)",
        "mflog 'Task is starting.'",
    ]


def mflog_env(flow: Flow, step_name: str, task_id: str, attempt: str) -> str:
    return (f"export PYTHONUNBUFFERED=x MF_PATHSPEC={flow.name}/{RUN_ID}/{step_name}/{task_id} "
            f"MF_DATASTORE={DATASTORE} MF_ATTEMPT={attempt} "
            "MFLOG_STDOUT=$PWD/.logs/mflog_stdout MFLOG_STDERR=$PWD/.logs/mflog_stderr")


@dataclass(frozen=True)
class StepShape:
    """How a step sits in the graph, as far as its command is concerned."""

    is_start: bool
    after_foreach: bool  # a parent is a foreach: the task gets a split index
    foreach_join_of: str | None  # the step inside the foreach that this join gathers
    last_in_foreach: bool  # inside a foreach and feeding its join: needs root-input-path


def step_shape(flow: Flow, step: Step) -> StepShape:
    steps = {s.name: s for s in flow.steps}
    after_foreach = any(steps[n].type == "foreach" for n in step.in_funcs)
    foreach_join_of = None
    if step.type == "join" and step.split_parents and steps[step.split_parents[-1]].type == "foreach":
        foreach_join_of = next(n for n in step.in_funcs if steps[n].is_inside_foreach)
    last = False
    if step.is_inside_foreach and step.next and steps[step.next[0]].type == "join":
        join = steps[step.next[0]]
        last = any(steps[p].type == "foreach" and steps[p].matching_join == join.name
                   for p in join.split_parents) and not after_foreach
    return StepShape(step.name == flow.start.name, after_foreach, foreach_join_of, last)


def parameter_file_name(template_name: str) -> str:
    """Metaflow draws 10 random letters for the parameters file; flowstacks derives them from the
    template name so output stays deterministic (difference D4 in tests/argo/DIFFERENCES.md)."""
    digest = hashlib.sha1(template_name.encode("utf-8")).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest[:10])


def step_command(ctx: StackContext, fd: FlowDeployment, step: Step, package: CodePackage,
                 service_account: str, parameters: list[dict[str, Any]]) -> str:
    """The ``bash -c`` script of one step's container (SPEC §4)."""
    flow = fd.flow
    shape = step_shape(flow, step)
    script = flow.file.rsplit("/", 1)[-1]
    attempt = retry_count(step)
    user_retries = retries(step)[0]
    top = " ".join(top_level_options(ctx, fd, step, service_account))

    input_paths = "" if shape.is_start else "$(echo $INPUT_PATHS)"
    paths_expr = "export INPUT_PATHS=''" if shape.is_start else \
        "export INPUT_PATHS={{inputs.parameters.input-paths}}"
    task_idx = "{{inputs.parameters.split-index}}" if shape.after_foreach or shape.last_in_foreach else ""
    root = "{{inputs.parameters.root-input-path}}" if shape.last_in_foreach else None
    task_str = "-".join([step.name, "{{workflow.creationTimestamp}}", root or input_paths, task_idx])
    task_expr = f"export METAFLOW_TASK_ID=(t-$(echo {task_str} | md5sum | cut -d ' ' -f 1 | tail -c 9))"
    init = [_INIT_SCRIPT, "mkdir -p $PWD/.logs", paths_expr, task_expr,
            mflog_env(flow, step.name, TASK_ID, attempt)] + package_commands(package)

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
    elif shape.foreach_join_of:
        input_paths = ("$(python -m metaflow.plugins.argo.generate_input_paths %s "
                       "{{workflow.creationTimestamp}} %s {{inputs.parameters.split-cardinality}})"
                       % (shape.foreach_join_of, input_paths))
    cmds.append(f"echo {input_paths} >> {INPUT_PATHS_FILE}")
    step_cmd = (f"{EXECUTABLE} {script} {top} step {step.name} --run-id {RUN_ID} "
                f"--task-id {TASK_ID} --retry-count {attempt} "
                f"--max-user-code-retries {user_retries} --input-paths-filename {INPUT_PATHS_FILE}")
    if shape.after_foreach:
        step_cmd += " --split-index {{inputs.parameters.split-index}}"
    cmds.append(step_cmd)
    body = " && ".join(init + [_CAPTURE % " && ".join(cmds)])
    return f"{body}; c=$?; {_SAVE_LOGS}; exit $c"


def error_hook_command(flow: Flow, package: CodePackage) -> str:
    """The exit hook that records why a run failed (``_error_msg_capture_hook_templates``)."""
    parts = [_INIT_SCRIPT, "mkdir -p $PWD/.logs", mflog_env(flow, "_run_capture_error", "1", "0")]
    # Metaflow drops the last package command here, which is not "Task is starting." in 2.19.39.
    parts += package_commands(package)
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
