"""Airflow 3 DAG files for one stack: one context (plain data) per flow, rendered through
``templates/airflow_dag.py.j2`` (SPEC §2.3, §4, §5.1, §5.3).

The runtime contract is Metaflow 2.19.39's Airflow deployer (``plugins/airflow/airflow.py``,
``airflow_utils.py``, ``kubernetes/kubernetes.py:_command``): the same pod command, flags, run and
task ids (md5 of the Airflow run), XCom input paths, env, annotations and labels. What changes is
the Airflow API (Airflow 3: ``airflow.sdk``, ``schedule=``, the current KubernetesPodOperator
path) and ``@trigger_on_finish``, which Metaflow refuses on Airflow and flowstacks maps to Assets.

Pure: no pulumi, no environment, no clock. Same input, byte-identical output.
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

import jinja2

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.iam.documents import RoleDocument
from flowstacks.iam.irsa import irsa_role, service_account_name
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow, Step
from flowstacks.naming.deployers import AIRFLOW_ID_LEN
from flowstacks.naming.events import resolve_upstream
from flowstacks.render.artifact import Artifact
from flowstacks.render.serialize import metaflow_json
from flowstacks.render.sfn import image_python_version

TEMPLATE = "airflow_dag.py.j2"
METAFLOW_VERSION = "2.19.39"
# Metaflow puts now() here; a DAG file must not change when nothing changed, and Airflow 3
# does not back-fill (catchup=False), so a fixed past date is equivalent.
START_DATE = (2024, 1, 1)

# --- airflow_utils.AIRFLOW_MACROS (jinja evaluated by Airflow at run time) ---------------------
RUN_ID = "airflow-{{ [run_id, dag_run.dag_id] | run_id_creator }}"
TASK_ID = "airflow-{{ [run_id, ti.task_id, dag_run.dag_id] | task_id_creator  }}"
FOREACH_TASK_ID = ("airflow-{{ [run_id, ti.task_id, dag_run.dag_id, ti.map_index] "
                   "| task_id_creator  }}")
ATTEMPT = "{{ task_instance.try_number - 1 }}"
AIRFLOW_RUN_ID = "{{ run_id }}"
# Metaflow uses {{ ti.job_id }}; Airflow 3's RuntimeTaskInstance has no job_id (it would render
# empty), so the task instance's own id fills the same bookkeeping slot (DIFFERENCES.md).
AIRFLOW_JOB_ID = "{{ ti.id }}"
FOREACH_SPLIT_INDEX = "{{ ti.map_index }}"
PARAMETERS = "{{ params | json_dump }}"
TASK_ID_XCOM_KEY = "metaflow_task_id"

# --- Metaflow defaults the deployer bakes in ---------------------------------------------------
DEFAULT_RUNTIME_LIMIT = 5 * 24 * 60 * 60  # timeout_decorator.DEFAULT_RUNTIME_LIMIT
STARTUP_TIMEOUT = 60 * 60  # AIRFLOW_KUBERNETES_STARTUP_TIMEOUT_SECONDS
MAX_WORKERS = 100  # airflow create --max-workers default
DEFAULT_RETRY_DELAY = 200  # Airflow._create_defaults
CODE_METADATA = '{"version": 0, "archive_format": "tgz", "mfcontent_version": 1}'
# KubernetesDecorator.defaults, in order: the order of the --with kubernetes:... spec.
K8S_DEFAULTS: dict[str, Any] = {
    "cpu": "1", "memory": "4096", "disk": "10240", "image": None, "image_pull_policy": None,
    "image_pull_secrets": None, "service_account": None, "secrets": None, "node_selector": None,
    "namespace": None, "gpu": None, "gpu_vendor": "nvidia", "tolerations": None, "labels": {},
    "annotations": {}, "use_tmpfs": None, "tmpfs_tempdir": True, "tmpfs_size": None,
    "tmpfs_path": "/metaflow_temp", "persistent_volume_claims": None, "shared_memory": None,
    "port": None, "compute_pool": None, "executable": None, "hostname_resolution_timeout": 600,
    "qos": "burstable", "extended_resources": {}, "security_context": None,
}
K8S_UNSUPPORTED = ("use_tmpfs", "tmpfs_size", "persistent_volume_claims", "image_pull_policy")
# pod_runtime_info_envs Metaflow adds (airflow_utils._kubernetes_pod_operator_args).
POD_FIELD_ENV = {
    "METAFLOW_KUBERNETES_POD_NAMESPACE": "metadata.namespace",
    "METAFLOW_KUBERNETES_POD_NAME": "metadata.name",
    "METAFLOW_KUBERNETES_POD_ID": "metadata.uid",
    "METAFLOW_KUBERNETES_SERVICE_ACCOUNT_NAME": "spec.serviceAccountName",
    "METAFLOW_KUBERNETES_NODE_IP": "status.hostIP",
}

# --- messages (Metaflow's exact text) ---------------------------------------------------------
MSG_TIMEZONE = "`airflow create` does not support scheduling with `timezone`."
MSG_TRIGGER = ("Deploying flows with @trigger or @trigger_on_finish decorator(s) to Airflow "
               "is not supported currently.")
MSG_BATCH = ("Step *%s* is marked for execution on AWS Batch with Airflow which isn't "
             "currently supported.")
MSG_PARAM_DEFAULT = ("Parameter *%s* does not have a default value. A default value is required "
                     "for parameters when deploying flows on Airflow.")
MSG_NODE_TYPE = "Node type *%s* for  step *%s* is not currently supported by Airflow."
MSG_NESTED_FOREACH = ("Step *%s* is a foreach step called within a foreach step. This type of "
                      "graph is currently not supported with Airflow.")
MSG_FOREACH_LINEAR = (
    "The foreach step *%s* created by step *%s* needs to have an immediate join step. Step *%s* "
    "is invalid since it is a linear step with a foreach. This type of graph is currently not "
    "supported with Airflow.")
MSG_K8S_ATTR = ("The decorator attribute *%s* is currently not supported on Airflow for the "
                "@kubernetes decorator on step *%s*")
MSG_TIMEOUT = ("The timeout for step *{step}* should be at least 60 seconds for execution on "
               "Kubernetes.")

# --- the shell around the step (kubernetes._command, environment.get_package_commands) --------
BASH_MFLOG = ("mflog(){ T=$(date -u -Ins|tr , .); "
              'echo \\"[MFLOG|0|${T:0:26}Z|task|$T]$1\\" >> $MFLOG_STDOUT; echo $1;  }')
BASH_FLUSH = "flush_mflogs(){ python -m metaflow.mflog.save_logs; }"
BASH_INSTALL = ("if [ -z $METAFLOW_SKIP_INSTALL_DEPENDENCIES ]; then python -m pip install -qqq "
                "--no-compile --no-cache-dir --disable-pip-version-check boto3 requests; fi")
BASH_DOWNLOAD = (
    "python -c 'import boto3, os; ep=os.getenv(\\\"METAFLOW_S3_ENDPOINT_URL\\\"); "
    "boto3.client(\\\"s3\\\", **({\\\"endpoint_url\\\":ep} if ep else {}))"
    ".download_file(\\\"%s\\\", \\\"%s\\\", \\\"job.tar\\\")'")
BASH_EXTRACT = ["TAR_OPTIONS='--warning=no-timestamp' tar -xzf job.tar -C .",
                "export PYTHONPATH=$(pwd)/.mf_code:$(printenv PYTHONPATH)",
                "export METAFLOW_EXTRACTED_ROOT=$(pwd)"]
BASH_CAPTURE = ("(%s) 1>> >(python -m metaflow.mflog.tee task $MFLOG_STDOUT) "
                "2>> >(python -m metaflow.mflog.tee task $MFLOG_STDERR >&2)")
BASH_SAVE_LOGS = "python -m metaflow.mflog.save_logs"


def _where(fd: FlowDeployment, step: Step | None = None) -> str:
    return f"{fd.flow.file} ({fd.flow.name}{'.' + step.name if step else ''})"


# --- validation (airflow_cli._validate_workflow, Airflow.compile) ------------------------------
def validate(fd: FlowDeployment) -> None:
    """Refuse what Metaflow's ``airflow create`` refuses (with its text), except
    ``@trigger_on_finish``, which flowstacks supports through Assets."""
    flow = fd.flow
    if fd.airflow_dag_id is None:
        raise MetaflowRuleError(fd.names.airflow.error, where=_where(fd))
    if len(fd.airflow_dag_id) > AIRFLOW_ID_LEN:
        # Metaflow does not check; Airflow refuses the DAG at load time (validate_key)
        raise FlowstacksError(
            f"dag_id '{fd.airflow_dag_id}' is {len(fd.airflow_dag_id)} characters; Airflow "
            f"takes at most {AIRFLOW_ID_LEN}", where=_where(fd),
            hint="shorten the project, branch or flow class name")
    if flow.triggers:
        raise MetaflowRuleError(MSG_TRIGGER, where=_where(fd),
                                hint="flowstacks maps @trigger_on_finish to Airflow Assets; "
                                     "@trigger events have no Airflow equivalent")
    for p in flow.parameters:
        if not p.has_default:
            raise MetaflowRuleError(MSG_PARAM_DEFAULT % p.name, where=_where(fd))
    for step in flow.steps:
        if step.type not in ("start", "linear", "split", "foreach", "join", "end"):
            raise MetaflowRuleError(MSG_NODE_TYPE % (step.type, step.name), where=_where(fd, step))
        if step.decorator("batch"):
            raise MetaflowRuleError(MSG_BATCH % step.name, where=_where(fd, step))
        if step.decorator("parallel"):
            raise MetaflowRuleError("Deploying flows with @parallel decorator(s) to Airflow is "
                                    "not supported currently.", where=_where(fd, step))
        k8s = step.decorator("kubernetes")
        for attr in K8S_UNSUPPORTED:
            if k8s and k8s.attributes.get(attr):
                raise MetaflowRuleError(MSG_K8S_ATTR % (attr, step.name), where=_where(fd, step))
        if _runtime_limit(step) < 60:
            raise MetaflowRuleError(MSG_TIMEOUT.format(step=step.name), where=_where(fd, step))
    _validate_foreach(fd)
    if flow.schedule and flow.schedule.timezone is not None:
        raise MetaflowRuleError(MSG_TIMEZONE, where=_where(fd))
    cron = flow.schedule.cron if flow.schedule else None
    if cron and len(cron.split()) != 5:
        # Metaflow passes the cron through and Airflow then fails to load the DAG
        # (AirflowTimetableInvalid); say so before anything is uploaded.
        raise FlowstacksError(f"@schedule(cron='{cron}') is not a 5-field cron expression, "
                              "which Airflow needs", where=_where(fd))


def _validate_foreach(fd: FlowDeployment) -> None:
    """``airflow_cli._validate_foreach_constraints``: one foreach level, whose body is a single
    step followed by its join. Like Metaflow, one stack is shared by the whole walk (appended to,
    reset by the next foreach), so sibling branches inside a foreach add up."""
    steps = {s.name: s for s in fd.flow.steps}
    state: dict[str, list[str]] = {}

    def visit(step: Step) -> None:
        if step.type == "foreach" and step.is_inside_foreach:
            raise MetaflowRuleError(MSG_NESTED_FOREACH % step.name, where=_where(fd, step))
        if step.type == "foreach":
            state["stack"] = [step.name]
        if step.type in ("start", "linear", "join", "foreach"):
            if step.type == "linear" and step.is_inside_foreach:
                state["stack"].append(step.name)
            stack = state.get("stack", [])
            if len(stack) > 2:
                raise MetaflowRuleError(MSG_FOREACH_LINEAR % (stack[1], stack[0], stack[-1]),
                                        where=_where(fd, step))
            visit(steps[step.next[0]])
        elif step.type == "split":
            for name in step.next:
                visit(steps[name])

    visit(fd.flow.start)


# --- per-step values ---------------------------------------------------------------------------
def _runtime_limit(step: Step) -> int:
    return step.timeout_seconds if step.decorator("timeout") else DEFAULT_RUNTIME_LIMIT


def _number(value: Any) -> str:
    """Config numbers as Metaflow's METAFLOW_KUBERNETES_* strings: 1 -> "1", 1.5 -> "1.5"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def kubernetes_attributes(ctx: StackContext, step: Step) -> dict[str, Any]:
    """The ``@kubernetes`` attributes Metaflow resolves for a step deployed with
    ``airflow create`` (``KubernetesDecorator.init`` + ``step_init``)."""
    compute, attrs = ctx.config.compute, dict(K8S_DEFAULTS)
    # config.compute plays METAFLOW_KUBERNETES_CPU/MEMORY/DISK/CONTAINER_IMAGE: it only
    # replaces a value still equal to Metaflow's default.
    attrs.update(cpu=_number(compute.cpu), memory=_number(compute.memory),
                 disk=_number(compute.disk), image=compute.image,
                 service_account=service_account_name(ctx), namespace=ctx.config.airflow.namespace)
    if compute.gpu:
        attrs["gpu"] = compute.gpu
    static = step.decorator("kubernetes")
    if static:
        attrs.update({k: v for k, v in static.attributes.items() if v is not None and k in attrs})
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


def decorator_spec(attrs: dict[str, Any]) -> str:
    """``Decorator.make_decorator_spec``: ``kubernetes:k=v,...`` (None omitted, dicts as JSON)."""
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, (int, float, str)):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={metaflow_json(value).replace(chr(34), chr(92) + chr(34))}")
    return "kubernetes:" + ",".join(parts)


def _input_paths(flow: Flow, step: Step) -> str | None:
    """``Airflow._to_job``: input paths from the parents' task ids pushed to XCom."""
    if step.name == flow.start.name:
        return None
    pull = "{{ task_instance.xcom_pull(task_ids='%s',key='%s') }}"
    join_parent = flow.step(step.split_parents[-1]) if step.split_parents else None
    if step.type == "join" and join_parent and join_parent.type == "foreach":
        parent = step.in_funcs[0]
        return "%s/%s/:{{ task_instance.xcom_pull(task_ids='%s',key='%s') | join_list }}" % (
            RUN_ID, parent, parent, TASK_ID_XCOM_KEY)
    if len(step.in_funcs) == 1:
        parent = step.in_funcs[0]
        return "%s/%s/%s" % (RUN_ID, parent, pull % (parent, TASK_ID_XCOM_KEY))
    return "%s:" % RUN_ID + ",".join(
        "/%s/%s" % (p, pull % (p, TASK_ID_XCOM_KEY)) for p in step.in_funcs)


def _parent_is_foreach(flow: Flow, step: Step) -> bool:
    return any(flow.step(n).type == "foreach" for n in step.in_funcs)


def step_commands(ctx: StackContext, fd: FlowDeployment, step: Step, with_spec: str | None,
                  task_id: str) -> list[str]:
    """``Airflow._step_cli``: the (parameters init and) step command lines."""
    flow = fd.flow
    entry = ["python", PurePosixPath(flow.file).name]
    top = ([] if with_spec is None else ["--with", shlex.quote(with_spec)])
    top += fd.top_level_args()
    top += ["--quiet", f"--metadata={ctx.config.airflow.metadata}", "--environment=local",
            "--datastore=s3", f"--datastore-root={ctx.config.aws.datastore_root}",
            "--event-logger=nullSidecarLogger", "--monitor=nullSidecarMonitor", "--no-pylint",
            "--with=airflow_internal"]
    cmds = []
    paths = _input_paths(flow, step)
    if step.name == flow.start.name:
        params_task = f"{task_id}-params"
        # Metaflow draws 10 random letters for this file name; any name works, a fixed one
        # keeps the DAG file stable.
        param_file = "mfparams"
        init = entry + top + ["init", f"--run-id {RUN_ID}", f"--task-id {params_task}"]
        exists = entry + ["dump", "--max-value-size=0", f"{RUN_ID}/_parameters/{params_task}"]
        export = ("python -m metaflow.plugins.airflow.plumbing.set_parameters %s "
                  "&& . `pwd`/%s" % (param_file, param_file))
        cmds.append("if ! %s >/dev/null 2>/dev/null; then %s && %s; fi"
                    % (" ".join(exists), export, " ".join(init)))
        paths = f"{RUN_ID}/_parameters/{params_task}"
    argv = ["step", step.name, f"--run-id {RUN_ID}", f"--task-id {task_id}",
            f"--retry-count {ATTEMPT}", f"--max-user-code-retries {step.retry_times}",
            f"--input-paths {paths}"]
    if _parent_is_foreach(flow, step):
        argv.append(f"--split-index {FOREACH_SPLIT_INDEX}")
    cmds.append(" ".join(entry + top + argv))
    return cmds


def pod_command(fd: FlowDeployment, step: Step, task_id: str, code_url: str,
                step_cmds: list[str]) -> list[str]:
    """``Kubernetes._command``: mflog env, code download, the step with its logs captured,
    wrapped as ``bash -c`` exactly as Metaflow splits it (``shlex.split('bash -c "..."')``)."""
    bucket, key = code_url[len("s3://"):].split("/", 1)
    pathspec = f"{fd.flow.name}/{RUN_ID}/{step.name}/{task_id}"
    mflog_env = ("export PYTHONUNBUFFERED=x MF_PATHSPEC=%s MF_DATASTORE=s3 MF_ATTEMPT=%s "
                 "MFLOG_STDOUT=$PWD/.logs/mflog_stdout MFLOG_STDERR=$PWD/.logs/mflog_stderr"
                 % (pathspec, ATTEMPT))
    init = [BASH_MFLOG, BASH_FLUSH, "mflog 'Setting up task environment.'", BASH_INSTALL,
            "mkdir metaflow", "cd metaflow", "mkdir .metaflow",
            "i=0; while [ $i -le 5 ]; do mflog 'Downloading code package...'; "
            + BASH_DOWNLOAD % (bucket, key)
            + " && mflog 'Code package downloaded.' && break; sleep 10; i=$((i+1)); done",
            "if [ $i -gt 5 ]; then mflog 'Failed to download code package from %s after 6 "
            "tries. Exiting...' && exit 1; fi" % code_url,
            *BASH_EXTRACT, "mflog 'Task is starting.'", "flush_mflogs"]
    body = "true && mkdir -p $PWD/.logs && %s && %s && %s; " % (
        mflog_env, " && ".join(init), BASH_CAPTURE % " && ".join(step_cmds))
    body += "c=$?; %s; exit $c" % BASH_SAVE_LOGS
    body = '${METAFLOW_INIT_SCRIPT:+eval \\"${METAFLOW_INIT_SCRIPT}\\"} && %s' % body
    return bash_c_command(body)


_UNESCAPED_QUOTE = re.compile(r'(?:^|[^\\])(?:\\\\)*"')
_QUOTED_ESCAPE = re.compile(r'\\(["\\])')


def bash_c_command(body: str) -> list[str]:
    """``shlex.split('bash -c "%s"' % body)``, which is how Metaflow builds the pod command.
    Inside double quotes POSIX shlex drops a backslash only before ``"`` or ``\\``; shlex reads
    char by char and cost seconds per hundred flows, so the common case is one regex. A body
    with an unescaped ``"`` splits differently: that rare case goes through shlex itself."""
    if _UNESCAPED_QUOTE.search(body):
        return shlex.split('bash -c "%s"' % body)
    return ["bash", "-c", _QUOTED_ESCAPE.sub(r"\1", body)]


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
        "METAFLOW_VERSION": metaflow_json({
            "platform": "Linux", "username": owner, "runtime": "dev",
            "environment_type": "local", "use_r": False,
            "python_version": python, "python_version_code": python,
            "metaflow_version": METAFLOW_VERSION, "script": PurePosixPath(flow.file).name,
            "flow_name": flow.name, "production_token": ctx.production_token,
        }),
        "METAFLOW_CODE_METADATA": CODE_METADATA,
        "METAFLOW_CODE_SHA": code_sha,
        "METAFLOW_CODE_DS": "s3",
        # Airflow pods run as the deployer (SPEC §4 table): METAFLOW_USER = owner.
        "METAFLOW_USER": owner,
        "METAFLOW_SERVICE_HEADERS": ctx.service_headers,
        "METAFLOW_DATASTORE_SYSROOT_S3": root,
        "METAFLOW_DATATOOLS_S3ROOT": f"{root}/data",
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DEFAULT_METADATA": "service",
        "METAFLOW_KUBERNETES_WORKLOAD": "1",
        "METAFLOW_RUNTIME_ENVIRONMENT": "kubernetes",
        "METAFLOW_CARD_S3ROOT": f"{root}/mf.cards",
        "METAFLOW_RUN_ID": RUN_ID,
        "METAFLOW_AIRFLOW_TASK_ID": task_id,
        "METAFLOW_AIRFLOW_DAG_RUN_ID": AIRFLOW_RUN_ID,
        "METAFLOW_AIRFLOW_JOB_ID": AIRFLOW_JOB_ID,
        "METAFLOW_PRODUCTION_TOKEN": ctx.production_token,
        "METAFLOW_ATTEMPT_NUMBER": ATTEMPT,
    })
    if ctx.config.aws.s3_endpoint_url:
        env["METAFLOW_S3_ENDPOINT_URL"] = ctx.config.aws.s3_endpoint_url
    return env


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
    (``metaflow.<pfn>.end``, SPEC §5.3), with a ``metaflow://`` URI."""
    return {"name": f"metaflow.{project}.{branch}.{flow}.end",
            "uri": f"metaflow://{project}/{branch}/{flow}"}


def _schedule(flow: Flow) -> str | None:
    """``Airflow._get_schedule``: the raw cron, else ``@weekly``/``@hourly``/``@daily``."""
    s = flow.schedule
    if s is None:
        return None
    if s.cron:
        return s.cron
    if s.weekly:
        return "@weekly"
    if s.hourly:
        return "@hourly"
    if s.daily:
        return "@daily"
    return None


def _param(p: Any) -> dict[str, Any]:
    """``Airflow._process_parameters``: Param(default, type, description)."""
    out: dict[str, Any] = {"name": p.name}
    if p.default is not None:
        out["default"] = p.default
    if p.help:
        out["description"] = p.help
    kind = {int: "integer", str: "string", bool: "string", float: "number"}.get(type(p.default))
    if kind:
        out["type"] = kind
    if isinstance(p.default, bool):
        out["default"] = str(p.default)
    return out


def _variable(step: str) -> str:
    return f"step_{step}"


def task_context(ctx: StackContext, fd: FlowDeployment, step: Step, code_url: str,
                 code_sha: str) -> dict[str, Any]:
    """Plain data for one KubernetesPodOperator task (one Metaflow step)."""
    flow = fd.flow
    contains_foreach = any(s.type == "foreach" for s in flow.steps)
    task_id = FOREACH_TASK_ID if contains_foreach else TASK_ID
    attrs = kubernetes_attributes(ctx, step)
    static = step.decorator("kubernetes") is not None  # statically defined: not re-passed
    cmds = step_commands(ctx, fd, step, None if static else decorator_spec(attrs), task_id)
    mapped = _parent_is_foreach(flow, step)
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
    # Metaflow hard-codes in_cluster=True unless a connection is configured; left unset, the
    # provider detects the cluster itself (in-cluster first, then kubeconfig), which is the
    # same on a real cluster and lets the pod be built off-cluster (DIFFERENCES.md).
    if ctx.config.airflow.kubernetes_conn_id:
        kwargs["kubernetes_conn_id"] = ctx.config.airflow.kubernetes_conn_id
        kwargs["in_cluster"] = False
    secrets = (step.decorator("kubernetes").attributes.get("secrets") if static else None) or []
    if isinstance(secrets, str):
        secrets = secrets.split(",")
    return {
        "variable": _variable(step.name),
        "step": step.name,
        "mapped": mapped,
        "map_over": _variable(step.in_funcs[0]) if mapped else None,
        "kwargs": kwargs,
        "resources": _resources(attrs),
        "execution_timeout": _runtime_limit(step),
        # @retry(minutes_between_retries) -> retry_delay (Airflow._get_retry_delay)
        "retry_delay": (60 * int(retry.attributes.get("minutes_between_retries", 2))
                        if retry else None),
        "secrets": list(secrets),
        # every end step updates its flow's Asset: downstreams anywhere can wait for it
        "outlets": ([asset(fd.project_name, fd.branch_name, flow.name)]
                    if step.type == "end" else []),
        "upstream": [_variable(p) for p in step.in_funcs],
    }


def dag_context(ctx: StackContext, fd: FlowDeployment, code_url: str,
                code_sha: str) -> dict[str, Any]:
    """Plain data for one DAG file (what the template prints, nothing it has to decide)."""
    validate(fd)
    flow = fd.flow
    upstream_assets = []
    for spec in flow.trigger_on_finish:
        up = resolve_upstream(spec, fd.project_name, fd.branch_name)
        upstream_assets.append(asset(up.project, up.branch, up.flow))
    return {
        "dag_id": fd.airflow_dag_id,
        "flow": flow.name,
        "flow_file": flow.file,
        "stack": ctx.stack,
        "description": flow.doc,
        "schedule": _schedule(flow),
        "schedule_assets": upstream_assets,
        # Argo runs such a flow on its cron *and* on its events: Airflow's AssetOrTimeSchedule
        "schedule_kind": ("assets_or_time" if upstream_assets and _schedule(flow) else
                          "assets" if upstream_assets else "time"),
        "start_date": list(START_DATE),
        "tags": ["metaflow", f"project:{fd.project_name}", f"project_branch:{fd.branch_name}"],
        "max_active_tasks": MAX_WORKERS,
        "default_args": {"owner": ctx.owner, "depends_on_past": False},
        "default_execution_timeout": DEFAULT_RUNTIME_LIMIT,
        "default_retry_delay": DEFAULT_RETRY_DELAY,
        "params": [_param(p) for p in sorted(flow.parameters, key=lambda p: p.name)],
        "pod_field_env": POD_FIELD_ENV,
        "tasks": [task_context(ctx, fd, s, code_url, code_sha) for s in flow.steps],
    }


def _py(value: Any, indent: int = 0) -> str:
    """A Python literal for the DAG source: ``repr`` of plain data (deterministic), with
    non-empty dicts and lists of several items one entry a line for reviewers."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict) and value:
        items = "".join(f"{inner}{k!r}: {_py(v, indent + 4)},\n" for k, v in value.items())
        return "{\n" + items + pad + "}"
    if isinstance(value, list) and len(value) > 1:
        return "[\n" + "".join(f"{inner}{_py(v, indent + 4)},\n" for v in value) + pad + "]"
    return repr(value)


@functools.lru_cache(maxsize=1)  # one compiled template per process, not one per flow
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("flowstacks.render", "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["py"] = _py
    return env


def render_dag(context: dict[str, Any]) -> str:
    """The DAG file source for one :func:`dag_context`."""
    return _environment().get_template(TEMPLATE).render(**context)


def dag_object_key(dags_prefix: str, dag_id: str) -> str:
    """Key of a DAG file in the DAGs bucket: ``<prefix>/<dag_id>.py`` (MWAA reads ``dags/``),
    whether or not the configured prefix ends with a slash."""
    prefix = dags_prefix.strip("/")
    return f"{prefix}/{dag_id}.py" if prefix else f"{dag_id}.py"


def dag_artifact(ctx: StackContext, fd: FlowDeployment, code_url: str, code_sha: str) -> Artifact:
    """``airflow/<dag_id>.py`` for one flow."""
    context = dag_context(ctx, fd, code_url, code_sha)
    return Artifact(f"airflow/{context['dag_id']}.py", render_dag(context))



def task_role(ctx: StackContext) -> RoleDocument:
    """The IRSA role of the namespace's task pods (shared builder, same rules as Argo): trusted
    by exactly the pods' service account in the Airflow pods' namespace."""
    return irsa_role(ctx, service_account_name(ctx), ctx.config.airflow.namespace)
