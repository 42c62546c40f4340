"""The Metaflow runtime facts all three backends rely on, each written once.

Every value here is what Metaflow 2.19.39 itself uses when its deployers (``step-functions
create``, ``argo-workflows create``, ``airflow create``) compile a flow; the comment on each names
the Metaflow file it comes from, and docs/metaflow-contract.md states the same facts for readers.
Backends import these; none repeats them and none imports another backend.

Shell text is kept as bash receives it. Metaflow writes ``\\"`` in these snippets because it builds
every task command as ``shlex.split('bash -c "..."')``, which removes those backslashes; the Step
Functions and Argo renderers store the split result, the Airflow renderer performs the split
itself and takes Metaflow's form back with :func:`for_bash_c`.
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol

from flowstacks.render.serialize import metaflow_json

# metaflow/version.py: the pinned Metaflow (pyproject.toml) whose runtime contract is followed.
METAFLOW_VERSION = "2.19.39"

# -- timeouts and retries (docs/metaflow-contract.md#timeouts) ---------------------------------
# metaflow/metaflow_config.py DEFAULT_RUNTIME_LIMIT, applied by
# metaflow/plugins/timeout_decorator.py (get_run_time_limit_for_task) to a step without @timeout.
DEFAULT_RUNTIME_LIMIT = 5 * 24 * 60 * 60
# metaflow/plugins/aws/batch/batch_decorator.py and plugins/kubernetes/kubernetes_decorator.py
# (step_init): a shorter @timeout is refused on AWS Batch and on Kubernetes.
MIN_RUNTIME_LIMIT = 60
# metaflow/plugins/retry_decorator.py: @retry's defaults (times, minutes_between_retries).
RETRY_DEFAULT_TIMES = 3
RETRY_DEFAULT_MINUTES = 2
# metaflow/plugins/catch_decorator.py NUM_FALLBACK_RETRIES: @catch adds 3 error retries.
CATCH_FALLBACK_RETRIES = 3
# --max-workers default of plugins/aws/step_functions/step_functions_cli.py,
# plugins/argo/argo_workflows_cli.py and plugins/airflow/airflow_cli.py.
DEFAULT_MAX_WORKERS = 100

# -- the code package (docs/metaflow-contract.md#code-package) ---------------------------------
# metaflow/package/__init__.py MetaflowPackage.package_metadata for the tgz backend and
# mfcontent v1 (packaging_sys): METAFLOW_CODE_METADATA, as Metaflow's JSON text (metaflow_json).
CODE_METADATA = {"version": 0, "archive_format": "tgz", "mfcontent_version": 1}
CODE_METADATA_JSON = metaflow_json(CODE_METADATA)
DATASTORE = "s3"  # METAFLOW_CODE_DS / --datastore: every flowstacks backend uses S3


class CodePackageRef(Protocol):
    """Where a flow's code package lives; the renderers receive it (they never read the disk)."""

    @property
    def url(self) -> str: ...  # s3://<bucket>/<key>, METAFLOW_CODE_URL

    @property
    def sha(self) -> str: ...  # METAFLOW_CODE_SHA


def s3_bucket_key(url: str) -> tuple[str, str]:
    """``plugins/aws/aws_utils.py parse_s3_full_path`` of an ``s3://bucket/key`` URL."""
    bucket, key = url[len("s3://"):].split("/", 1)
    return bucket, key


# metaflow_config.py DATATOOLS_SUFFIX, CARD_SUFFIX: where tasks write beside the flows' data.
DATATOOLS_SUFFIX = "data"
CARD_SUFFIX = "mf.cards"


def datatools_root(datastore_root: str) -> str:
    """``metaflow_config.py DATATOOLS_S3ROOT``: ``<datastore root>/data``."""
    return f"{datastore_root}/{DATATOOLS_SUFFIX}"


def card_root(datastore_root: str) -> str:
    """``metaflow_config.py CARD_S3ROOT``: ``<datastore root>/mf.cards``."""
    return f"{datastore_root}/{CARD_SUFFIX}"


def config_value_env(names: Iterable[str]) -> str:
    """``METAFLOW_FLOW_CONFIG_VALUE``: Config values travel in the code package and tasks find
    them under ``kv.<name>`` (``user_configs/config_options.py``), in the order given."""
    return metaflow_json({name: f"kv.{name}" for name in names})


# -- the task environment (docs/metaflow-contract.md#task-environment) -------------------------
def script_name(flow_file: str) -> str:
    """The flow file's name, as Metaflow records ``os.path.basename(sys.argv[0])``."""
    return flow_file.rsplit("/", 1)[-1]


def image_python_version(image: str) -> str:
    """The Python of the task image (``python:3.11`` -> ``3.11``); Metaflow records the
    deployer's own interpreter, which a reproducible renderer cannot."""
    tag = image.rsplit(":", 1)[-1] if ":" in image else ""
    return tag if tag and tag[0].isdigit() else "unknown"


def metaflow_version_env(owner: str, flow_file: str, flow_name: str, production_token: str,
                         python_version: str | None,
                         metaflow_version: str = METAFLOW_VERSION) -> str:
    """``METAFLOW_VERSION``: ``metaflow_environment.py get_environment_info()`` plus the
    ``flow_name`` and ``production_token`` each deployer adds (``step_functions.py``,
    ``argo_workflows.py``, ``airflow.py``), in that order; the deployer's machine details
    (hostname, git) are left out and ``python_version`` only where a backend records it."""
    info: dict[str, Any] = {"platform": "Linux", "username": owner, "runtime": "dev",
                            "environment_type": "local", "use_r": False}
    if python_version is not None:
        info.update(python_version=python_version, python_version_code=python_version)
    info.update(metaflow_version=metaflow_version, script=script_name(flow_file),
                flow_name=flow_name, production_token=production_token)
    return metaflow_json(info)


# metaflow/plugins/kubernetes/kubernetes_decorator.py KubernetesDecorator.defaults, in order (the
# order of the --with kubernetes:... spec), as init() resolves them with metaflow_config.py's
# defaults (KUBERNETES_GPU_VENDOR "nvidia", KUBERNETES_QOS "burstable", labels/annotations {}).
KUBERNETES_DEFAULTS: dict[str, Any] = {
    "cpu": "1", "memory": "4096", "disk": "10240", "image": None, "image_pull_policy": None,
    "image_pull_secrets": None, "service_account": None, "secrets": None, "node_selector": None,
    "namespace": None, "gpu": None, "gpu_vendor": "nvidia", "tolerations": None, "labels": {},
    "annotations": {}, "use_tmpfs": None, "tmpfs_tempdir": True, "tmpfs_size": None,
    "tmpfs_path": "/metaflow_temp", "persistent_volume_claims": None, "shared_memory": None,
    "port": None, "compute_pool": None, "executable": None, "hostname_resolution_timeout": 600,
    "qos": "burstable", "extended_resources": {}, "security_context": None,
}
# What every Kubernetes task reads about its own pod through the Downward API
# (plugins/kubernetes/kubernetes.py, airflow_utils.py pod_runtime_info_envs, argo_workflows.py).
KUBERNETES_POD_FIELD_ENV = {
    "METAFLOW_KUBERNETES_POD_NAMESPACE": "metadata.namespace",
    "METAFLOW_KUBERNETES_POD_NAME": "metadata.name",
    "METAFLOW_KUBERNETES_POD_ID": "metadata.uid",
    "METAFLOW_KUBERNETES_SERVICE_ACCOUNT_NAME": "spec.serviceAccountName",
    "METAFLOW_KUBERNETES_NODE_IP": "status.hostIP",
}


def attribute_number(value: float | int) -> str:
    """A compute setting as Metaflow's string attribute defaults write it (``"1"``, not
    ``"1.0"``): flowstacks' compute config stands in for those defaults."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- the step command (docs/metaflow-contract.md#step-command) ---------------------------------
def decorator_spec(name: str, attributes: Iterable[tuple[str, Any]], *,
                   escape_quotes: bool = True) -> str:
    """``decorators.py Decorator.make_decorator_spec``: ``name:k=v,...`` for the non-None
    attributes, scalars as ``str``, others as JSON whose ``"`` Metaflow escapes for its
    ``bash -c`` split (``escape_quotes=False``: the text after that split)."""
    parts = []
    for key, value in attributes:
        if value is None:
            continue
        if isinstance(value, (int, float, str)):
            parts.append(f"{key}={value}")
        else:
            text = metaflow_json(value)
            parts.append(f"{key}={text.replace(chr(34), chr(92) + chr(34)) if escape_quotes else text}")
    return f"{name}:" + ",".join(parts)


def top_level_options(metadata: str, datastore_root: str, internal_decorator: str) -> list[str]:
    """The fixed top-level options of every task command, after the ``--with`` and @project
    flags (``_step_cli`` of step_functions.py, argo_workflows.py, airflow.py)."""
    return [
        "--quiet", f"--metadata={metadata}", "--environment=local", f"--datastore={DATASTORE}",
        f"--datastore-root={datastore_root}", "--event-logger=nullSidecarLogger",
        "--monitor=nullSidecarMonitor", "--no-pylint", f"--with={internal_decorator}",
    ]


# The shell around the step (docs/metaflow-contract.md#step-command), as bash receives it.
LOGS_DIR = "mkdir -p $PWD/.logs"  # plugins/aws/batch/batch.py, plugins/kubernetes/kubernetes.py
# plugins/kubernetes/kubernetes.py _command, plugins/argo/argo_workflows.py: a site hook.
INIT_SCRIPT = '${METAFLOW_INIT_SCRIPT:+eval "${METAFLOW_INIT_SCRIPT}"}'
# metaflow/mflog/__init__.py BASH_MFLOG, BASH_FLUSH_LOGS, BASH_SAVE_LOGS.
BASH_MFLOG = ('mflog(){ T=$(date -u -Ins|tr , .); echo "[MFLOG|0|${T:0:26}Z|task|$T]$1" '
              ">> $MFLOG_STDOUT; echo $1;  }")
BASH_SAVE_LOGS = "python -m metaflow.mflog.save_logs"
BASH_FLUSH_LOGS = "flush_mflogs(){ %s; }" % BASH_SAVE_LOGS
# metaflow_environment.py _get_install_dependencies_cmd for the s3 datastore.
INSTALL_DEPENDENCIES = ("if [ -z $METAFLOW_SKIP_INSTALL_DEPENDENCIES ]; then python -m pip install "
                        "-qqq --no-compile --no-cache-dir --disable-pip-version-check boto3 "
                        "requests; fi")
# packaging_sys/tar_backend.py (extract), packaging_sys/__init__.py (post-extract env).
EXTRACT_COMMANDS = ("TAR_OPTIONS='--warning=no-timestamp' tar -xzf job.tar -C .",
                    "export PYTHONPATH=$(pwd)/.mf_code:$(printenv PYTHONPATH)",
                    "export METAFLOW_EXTRACTED_ROOT=$(pwd)")


def download_command(code_url: str) -> str:
    """``metaflow_environment.py _get_download_code_package_cmd`` for S3: boto3 into job.tar."""
    bucket, key = s3_bucket_key(code_url)
    return ("python -c 'import boto3, os; ep=os.getenv(\"METAFLOW_S3_ENDPOINT_URL\"); "
            "boto3.client(\"s3\", **({\"endpoint_url\":ep} if ep else {})).download_file("
            f"\"{bucket}\", \"{key}\", \"job.tar\")'")


def package_commands(code_url: str) -> list[str]:
    """``metaflow_environment.py get_package_commands``: mflog helpers, dependencies, the code
    package downloaded (6 tries) and extracted, ending with ``flush_mflogs``."""
    return [
        BASH_MFLOG, BASH_FLUSH_LOGS, "mflog 'Setting up task environment.'", INSTALL_DEPENDENCIES,
        "mkdir metaflow", "cd metaflow", "mkdir .metaflow",
        "i=0; while [ $i -le 5 ]; do mflog 'Downloading code package...'; "
        f"{download_command(code_url)} && mflog 'Code package downloaded.' && break; sleep 10; "
        "i=$((i+1)); done",
        f"if [ $i -gt 5 ]; then mflog 'Failed to download code package from {code_url} after 6 "
        "tries. Exiting...' && exit 1; fi",
        *EXTRACT_COMMANDS, "mflog 'Task is starting.'", "flush_mflogs",
    ]


def mflog_env(pathspec: str, attempt: str) -> str:
    """``mflog/__init__.py export_mflog_env_vars`` for the S3 datastore."""
    return (f"export PYTHONUNBUFFERED=x MF_PATHSPEC={pathspec} MF_DATASTORE={DATASTORE} "
            f"MF_ATTEMPT={attempt} MFLOG_STDOUT=$PWD/.logs/mflog_stdout "
            "MFLOG_STDERR=$PWD/.logs/mflog_stderr")


def capture_logs(expr: str) -> str:
    """``mflog/__init__.py bash_capture_logs``: the step's stdout and stderr through mflog.tee."""
    return (f"({expr}) 1>> >(python -m metaflow.mflog.tee task $MFLOG_STDOUT) "
            "2>> >(python -m metaflow.mflog.tee task $MFLOG_STDERR >&2)")


def task_script(head: list[str], pathspec: str, attempt: str, code_url: str, step_cmds: str,
                *, bash_c: bool = False) -> str:
    """A task's whole script (``batch.py _command``, ``kubernetes.py _command``, argo's
    container templates): ``head``, the mflog env, the package commands, the step with its logs
    captured; the logs saved whatever the exit code. ``bash_c``: the package commands in
    Metaflow's own form (:func:`for_bash_c`); ``head`` and ``step_cmds`` are taken as given."""
    packaged = package_commands(code_url)
    if bash_c:
        packaged = [for_bash_c(c) for c in packaged]
    body = " && ".join([*head, mflog_env(pathspec, attempt), *packaged, capture_logs(step_cmds)])
    return f"{body}; c=$?; {BASH_SAVE_LOGS}; exit $c"


def for_bash_c(text: str) -> str:
    """``text`` as Metaflow writes it inside ``bash -c "..."`` (``"`` escaped). The snippets of
    this module hold no backslash, so this is exactly what ``shlex.split`` undoes."""
    return text.replace('"', '\\"')
