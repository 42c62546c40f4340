"""Oracle harness: run Metaflow 2.19.39's own deployers offline against a local moto server.

Usage::

    from tests.oracle.harness import MotoOracle

    with MotoOracle() as oracle:
        sfn = oracle.sfn_json("/path/flow.py", production=True)        # dict (ASL definition)
        tmpl = oracle.argo_json("/path/flow.py", generate_new_token=True)  # dict (WorkflowTemplate)
        dag = oracle.airflow_dag("/path/flow.py", branch="x")          # str (DAG file text)
        sensor = oracle.argo_sensor("/path/trigger_flow.py")           # dict or None

or, to share one server between several test modules in a pytest session::

    from tests.oracle.harness import shared_oracle
    oracle = shared_oracle()    # started lazily, stopped at interpreter exit

Every deployer call runs ``python FLOW --no-pylint [--branch B] [--production]
[--config NAME FILE ...] <deployer> create ...`` in a subprocess whose cwd is the
flow's folder, with a clean environment (PATH, HOME, METAFLOW_HOME, USER, LANG) plus
the fake deployment configuration of ``/work/shared/metaflow/oracle/deploy_env.sh``
pointed at this server's port.  Results are cached per oracle instance keyed on
(command, flow, arguments, env); cached values are returned as deep copies.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import atexit
import copy
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "BUCKET",
    "JOB_QUEUE",
    "OracleError",
    "MotoOracle",
    "shared_oracle",
    "stop_shared_oracle",
    "extract_json",
    "oracle_available",
]

# ---------------------------------------------------------------------------
# Fake deployment configuration (mirrors oracle/deploy_env.sh).
# ---------------------------------------------------------------------------
ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "mf-fake-bucket"
JOB_QUEUE = "fake-queue"
JOB_QUEUE_ARN = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{JOB_QUEUE}"
# queues a flow names itself (@batch(queue=...)): Metaflow's deployer looks each one up
# (tests/shapes/flows/batch_queue_flow.py), so the fake account has them too
EXTRA_JOB_QUEUES = ("gpu-queue",)

# Values that do not depend on the port.  AWS_ENDPOINT_URL and
# METAFLOW_S3_ENDPOINT_URL are added by MotoOracle.base_env().
DEPLOY_ENV: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "METAFLOW_DEFAULT_DATASTORE": "s3",
    "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/metaflow",
    "METAFLOW_DEFAULT_METADATA": "local",
    "METAFLOW_BATCH_JOB_QUEUE": JOB_QUEUE_ARN,
    "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": f"arn:aws:iam::{ACCOUNT}:role/fake-batch-role",
    "METAFLOW_SFN_IAM_ROLE": f"arn:aws:iam::{ACCOUNT}:role/fake-sfn-role",
    "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE": f"arn:aws:iam::{ACCOUNT}:role/fake-events-role",
    "METAFLOW_SFN_DYNAMO_DB_TABLE": "fake-sfn-table",
    "METAFLOW_KUBERNETES_NAMESPACE": "fake-ns",
    "METAFLOW_KUBERNETES_SERVICE_ACCOUNT": "fake-sa",
    "METAFLOW_ARGO_EVENTS_EVENT": "metaflow-event",
    "METAFLOW_ARGO_EVENTS_EVENT_SOURCE": "fake-event-source",
    "METAFLOW_ARGO_EVENTS_SERVICE_ACCOUNT": "fake-events-sa",
    "METAFLOW_ARGO_EVENTS_EVENT_BUS": "default",
    "METAFLOW_ARGO_EVENTS_WEBHOOK_URL": "http://fake-webhook.invalid:12000/metaflow-event",
    "METAFLOW_ECS_FARGATE_EXECUTION_ROLE": f"arn:aws:iam::{ACCOUNT}:role/fake-fargate-exec-role",
}

# Prefix (inside BUCKET) of the per-DAG production-token records that
# `airflow create` writes (Airflow.TOKEN_STORAGE_ROOT under the datastore root).
AIRFLOW_TOKEN_PREFIX = "metaflow/mf.airflow/"

ConfigsArg = Union[None, Mapping[str, str], Iterable[Tuple[str, str]]]


class OracleError(RuntimeError):
    """A Metaflow CLI call (or the moto server) failed.

    Attributes: ``cmd``, ``returncode``, ``stdout``, ``stderr`` (all may be None
    for server start-up errors).  ``str(exc)`` contains stderr.
    """

    def __init__(self, message, cmd=None, returncode=None, stdout=None, stderr=None):
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        parts = [message]
        if cmd is not None:
            parts.append("command: %s" % " ".join(map(str, cmd)))
        if returncode is not None:
            parts.append("exit code: %s" % returncode)
        if stderr:
            parts.append("stderr:\n%s" % stderr)
        if stdout:
            parts.append("stdout (last 2000 chars):\n%s" % stdout[-2000:])
        super().__init__("\n".join(parts))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _venv_bin() -> Path:
    # Do not resolve symlinks: .venv/bin/python links to the base interpreter.
    return Path(sys.executable).parent


def moto_server_path() -> Path:
    return _venv_bin() / "moto_server"


def oracle_available() -> Tuple[bool, str]:
    """(True, "") if the oracle can run here, else (False, reason). Handy for skipif."""
    if not moto_server_path().exists():
        return False, "moto_server not found next to %s" % sys.executable
    try:
        import boto3  # noqa: F401
        import metaflow  # noqa: F401
    except Exception as e:  # pragma: no cover
        return False, "missing package: %s" % e
    return True, ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def extract_json(text: str) -> Any:
    """Find the JSON document in ``text`` (stdout may contain other lines around it).

    Tries every line that starts with '{' or '['; prefers the first document that
    extends to the end of the text (ignoring whitespace), else the longest one.
    """
    decoder = json.JSONDecoder()
    best = None
    best_len = -1
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped[:1] in ("{", "["):
            start = offset + (len(line) - len(stripped))
            try:
                obj, end = decoder.raw_decode(text, start)
            except ValueError:
                pass
            else:
                if not text[end:].strip():
                    return obj
                if end - start > best_len:
                    best, best_len = obj, end - start
        offset += len(line)
    if best_len >= 0:
        return best
    raise ValueError("no JSON document found in output")


def _norm_configs(configs: ConfigsArg) -> Tuple[Tuple[str, str], ...]:
    if not configs:
        return ()
    items = configs.items() if isinstance(configs, Mapping) else configs
    return tuple((str(k), str(v)) for k, v in items)


def _norm_env(extra_env: Optional[Mapping[str, Optional[str]]]) -> Tuple[Tuple[str, Optional[str]], ...]:
    if not extra_env:
        return ()
    return tuple(sorted((str(k), None if v is None else str(v)) for k, v in extra_env.items()))


# Run inside the deployer subprocess by MotoOracle.argo_compiled(): the real CLI, with
# ArgoWorkflows.__str__ (what `--only-json` prints) replaced by a dump of the compiled
# workflow template *and* the compiled Argo Events sensor.  No Kubernetes access.
_SENSOR_WRAPPER = r"""
import json, os, runpy, sys
from metaflow.plugins.argo import argo_workflows as _aw

def _default(o):
    if hasattr(o, "to_dict"):  # kubernetes client models (the sensor's V1Container)
        return o.to_dict(serialize=True)
    if hasattr(o, "to_json"):
        return o.to_json()
    return str(o)

def _capture(self):
    sensor = self._sensor
    return "\n" + json.dumps({
        "name": self.name,
        "sensor_name": _aw.ArgoWorkflows._sensor_name(self.name),
        "sensor": sensor.to_json() if sensor else None,
        "triggers": self.triggers,
        "schedule": self._schedule,
        "timezone": self._timezone,
        "workflow_template": self._workflow_template.to_json(),
    }, default=_default)

_aw.ArgoWorkflows.__str__ = _capture
_flow = sys.argv[1]
sys.argv = [_flow] + sys.argv[2:]
sys.path[0] = os.path.dirname(os.path.abspath(_flow))
runpy.run_path(_flow, run_name="__main__")
"""


# ---------------------------------------------------------------------------
# the oracle
# ---------------------------------------------------------------------------
class MotoOracle:
    """A private moto server plus helpers that run Metaflow's deployers against it.

    Use as a context manager (``with MotoOracle() as o: ...``) or call
    ``start()``/``stop()``.  The server is stopped by PID on ``stop()``, on
    ``__exit__`` (also on exceptions), when the object is garbage collected, and at
    interpreter exit.
    """

    def __init__(
        self,
        *,
        startup_timeout: float = 30.0,
        call_timeout: float = 180.0,
        keep_tmp: bool = False,
    ):
        self.startup_timeout = startup_timeout
        self.call_timeout = call_timeout
        self.keep_tmp = keep_tmp
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.tmp: Optional[Path] = None
        self._cache: dict = {}
        self._lock = threading.RLock()
        self._counter = 0
        self._finalizer = None
        self.calls = 0  # number of (uncached) deployer subprocesses run

    # -- lifecycle --------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise OracleError("oracle not started")
        return "http://127.0.0.1:%d" % self.port

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "MotoOracle":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "MotoOracle":
        if self.running:
            return self
        server = moto_server_path()
        if not server.exists():
            raise OracleError("moto_server not found at %s" % server)
        self.tmp = Path(tempfile.mkdtemp(prefix="mf-oracle-"))
        last_err = None
        for _attempt in range(3):  # a freshly picked port can be taken by someone else
            port = _free_port()
            log_path = self.tmp / ("moto-%d.log" % port)
            log = open(log_path, "wb")
            try:
                proc = subprocess.Popen(
                    [str(server), "-H", "127.0.0.1", "-p", str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self._server_env(),
                    cwd=str(self.tmp),
                    start_new_session=True,  # Ctrl-C in pytest does not hit it first
                )
            finally:
                log.close()
            self.proc, self.port = proc, port
            self._finalizer = weakref.finalize(
                self, _stop_process, proc, None if self.keep_tmp else self.tmp
            )
            try:
                self._wait_ready()
                self._setup_resources()
                return self
            except Exception as e:
                last_err = e
                self._stop_server()
        self._cleanup_tmp()
        raise OracleError("could not start moto server: %s" % last_err)

    def stop(self) -> None:
        self._stop_server()
        self._cleanup_tmp()
        self._cache.clear()

    def _stop_server(self) -> None:
        proc, self.proc = self.proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is not None:
            _stop_process(proc)

    def _cleanup_tmp(self) -> None:
        if self.tmp is not None and not self.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _server_env(self) -> dict:
        env = {
            "PATH": "%s:/usr/local/bin:/usr/bin:/bin" % _venv_bin(),
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
        }
        return env

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = self.endpoint + "/moto-api/"
        while True:
            if self.proc.poll() is not None:
                raise OracleError(
                    "moto_server exited with %s:\n%s" % (self.proc.returncode, self._server_log())
                )
            try:
                with opener.open(url, timeout=2) as r:
                    r.read()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise OracleError("moto_server not answering on %s:\n%s" % (url, self._server_log()))
            time.sleep(0.05)

    def _server_log(self) -> str:
        try:
            return (self.tmp / ("moto-%d.log" % self.port)).read_text(errors="replace")[-3000:]
        except Exception:
            return ""

    # -- AWS resources (what setup_moto.py creates) ----------------------
    def boto3_client(self, service: str):
        """A boto3 client for this moto server (explicit creds/region/endpoint)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=REGION,
        ).client(
            service,
            endpoint_url=self.endpoint,
            config=Config(retries={"max_attempts": 2}, proxies={}),
        )

    def _setup_resources(self) -> None:
        self.boto3_client("s3").create_bucket(Bucket=BUCKET)
        iam = self.boto3_client("iam")
        assume = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "batch.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
        role_arn = iam.create_role(
            RoleName="fake-batch-service-role", AssumeRolePolicyDocument=assume
        )["Role"]["Arn"]
        ec2 = self.boto3_client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg_id = ec2.create_security_group(
            GroupName="fake-sg", Description="fake", VpcId=vpc_id
        )["GroupId"]
        batch = self.boto3_client("batch")
        ce_arn = batch.create_compute_environment(
            computeEnvironmentName="fake-ce-fargate",
            type="MANAGED",
            state="ENABLED",
            serviceRole=role_arn,
            computeResources={
                "type": "FARGATE",
                "maxvCpus": 16,
                "subnets": [subnet_id],
                "securityGroupIds": [sg_id],
            },
        )["computeEnvironmentArn"]
        for queue in (JOB_QUEUE, *EXTRA_JOB_QUEUES):
            batch.create_job_queue(
                jobQueueName=queue,
                state="ENABLED",
                priority=1,
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_arn}],
            )

    def reset_state(self) -> None:
        """Wipe all moto state (deployments, token records, code packages) and
        recreate the base resources. Also clears the result cache."""
        with self._lock:
            req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=10) as r:
                r.read()
            self._setup_resources()
            self._cache.clear()

    def clear_airflow_tokens(self) -> None:
        """Delete the per-DAG production-token records `airflow create` leaves in S3,
        so that the next `airflow create` behaves like a first deployment."""
        s3 = self.boto3_client("s3")
        # under the shared root, and under every namespace's own root (issue 16's layout:
        # <root>/<branch>/mf.airflow/)
        resp = s3.list_objects_v2(Bucket=BUCKET, Prefix=AIRFLOW_TOKEN_PREFIX.split("/", 1)[0] + "/")
        keys = [{"Key": o["Key"]} for o in resp.get("Contents", [])
                if "/" + AIRFLOW_TOKEN_PREFIX.split("/", 1)[1] in "/" + o["Key"]]
        if keys:
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- environment ------------------------------------------------------
    def base_env(self) -> dict:
        """DEPLOY_ENV with this server's endpoint (no PATH/HOME/USER)."""
        env = dict(DEPLOY_ENV)
        env["AWS_ENDPOINT_URL"] = self.endpoint
        env["METAFLOW_S3_ENDPOINT_URL"] = self.endpoint
        return env

    def _new_dir(self, name: str) -> Path:
        with self._lock:
            self._counter += 1
            d = self.tmp / ("%s-%d" % (name, self._counter))
        d.mkdir(parents=True)
        return d

    def make_env(
        self,
        user: Optional[str] = "alice",
        extra_env: Optional[Mapping[str, Optional[str]]] = None,
        metaflow_home: Optional[Union[str, Path]] = None,
    ) -> dict:
        """Clean env for one deployer call: PATH, LANG, fresh HOME and METAFLOW_HOME
        (unless ``metaflow_home`` is given), USER (omitted if ``user`` is None), the
        fake deploy config, then ``extra_env`` (a value of None removes the key)."""
        call_dir = self._new_dir("call")
        home = call_dir / "home"
        home.mkdir()
        env = {
            "PATH": "%s:/usr/local/bin:/usr/bin:/bin" % _venv_bin(),
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "METAFLOW_HOME": str(metaflow_home) if metaflow_home else str(call_dir / "mfhome"),
        }
        if user is not None:
            env["USER"] = user
        # Metaflow adds the deployer's git checkout to METAFLOW_VERSION (repo_url only when
        # the checkout has a remote, as CI clones do): the oracle runs outside any checkout so
        # that its output does not depend on how the tests were checked out.
        env["GIT_DIR"] = str(call_dir / "no-git-checkout")
        env.update(self.base_env())
        for k, v in _norm_env(extra_env):
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    # -- raw CLI ----------------------------------------------------------
    def run_cli(
        self,
        flow_file: Union[str, Path],
        deployer_args: Sequence[str],
        *,
        branch: Optional[str] = None,
        production: bool = False,
        user: Optional[str] = "alice",
        extra_env: Optional[Mapping[str, Optional[str]]] = None,
        configs: ConfigsArg = None,
        top_args: Sequence[str] = (),
        metaflow_home: Optional[Union[str, Path]] = None,
        python_args: Sequence[str] = (),
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``python [python_args] FLOW --no-pylint [--branch B] [--production]
        [--config N F ...] [top_args] deployer_args`` (uncached).

        ``python_args`` go between the interpreter and the flow file (e.g. ``-c CODE``
        for a wrapper; then the flow path is passed as argv[1]).  With ``check`` a
        non-zero exit raises OracleError (message includes stderr)."""
        if not self.running:
            raise OracleError("oracle not started (or moto server died)")
        flow = Path(flow_file).resolve()
        if not flow.is_file():
            raise OracleError("flow file not found: %s" % flow)
        cmd = [sys.executable, *python_args, flow.name, "--no-pylint"]
        if branch is not None:
            cmd += ["--branch", branch]
        if production:
            cmd.append("--production")
        for name, path in _norm_configs(configs):
            cmd += ["--config", name, path]
        cmd += list(top_args)
        cmd += list(deployer_args)
        env = self.make_env(user=user, extra_env=extra_env, metaflow_home=metaflow_home)
        try:
            cp = subprocess.run(
                cmd,
                cwd=str(flow.parent),
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.call_timeout,
            )
        except subprocess.TimeoutExpired as e:
            raise OracleError(
                "timed out after %ss" % self.call_timeout, cmd=cmd,
                stdout=_s(e.stdout), stderr=_s(e.stderr),
            )
        self.calls += 1
        if check and cp.returncode != 0:
            raise OracleError(
                "Metaflow CLI failed", cmd=cmd, returncode=cp.returncode,
                stdout=cp.stdout, stderr=cp.stderr,
            )
        return cp

    def _cached(self, key, compute):
        with self._lock:
            if key in self._cache:
                return copy.deepcopy(self._cache[key])
        value = compute()
        with self._lock:
            self._cache[key] = value
        return copy.deepcopy(value)

    @staticmethod
    def _key(kind, flow_file, branch, production, user, extra_env, configs, *rest):
        return (
            kind,
            str(Path(flow_file).resolve()),
            branch,
            bool(production),
            user,
            _norm_env(extra_env),
            _norm_configs(configs),
            *rest,
        )

    def _json_call(self, kind, flow_file, deployer_args, common, extra) -> Any:
        cp = self.run_cli(flow_file, deployer_args, **common, **extra)
        try:
            return extract_json(cp.stdout)
        except ValueError:
            raise OracleError(
                "no JSON in output of %s" % kind, cmd=cp.args, returncode=cp.returncode,
                stdout=cp.stdout, stderr=cp.stderr,
            )

    # -- deployers --------------------------------------------------------
    def sfn_json(
        self,
        flow_file: Union[str, Path],
        branch: Optional[str] = None,
        production: bool = False,
        user: Optional[str] = "alice",
        extra_env: Optional[Mapping[str, Optional[str]]] = None,
        configs: ConfigsArg = None,
        *,
        extra_args: Sequence[str] = (),
        top_args: Sequence[str] = (),
        metaflow_home: Optional[Union[str, Path]] = None,
        cache: bool = True,
    ) -> dict:
        """``step-functions create --only-json [extra_args]`` -> the state machine
        definition (dict with StartAt/States).  Note that SFN --only-json still asks
        the (moto) SFN API for an existing deployment to pick the production token."""
        common = dict(branch=branch, production=production, user=user,
                      extra_env=extra_env, configs=configs)
        extra = dict(top_args=top_args, metaflow_home=metaflow_home)
        args = ["step-functions", "create", "--only-json", *extra_args]

        def compute():
            return self._json_call("sfn", flow_file, args, common, extra)

        if not cache or metaflow_home is not None:
            return compute()
        key = self._key("sfn", flow_file, branch, production, user, extra_env, configs,
                        tuple(extra_args), tuple(top_args))
        return self._cached(key, compute)

    def argo_json(
        self,
        flow_file: Union[str, Path],
        branch: Optional[str] = None,
        production: bool = False,
        user: Optional[str] = "alice",
        extra_env: Optional[Mapping[str, Optional[str]]] = None,
        configs: ConfigsArg = None,
        *,
        generate_new_token: bool = False,
        extra_args: Sequence[str] = (),
        top_args: Sequence[str] = (),
        cache: bool = True,
    ) -> dict:
        """``argo-workflows create --only-json [--generate-new-token] [extra_args]``
        -> the WorkflowTemplate dict.  Without ``generate_new_token`` the token is
        ``__PLACEHOLDER_PRODUCTION_TOKEN__``; with it, candidate 0 of the token
        sequence.  Needs the ``kubernetes`` package (imported while compiling)."""
        common = dict(branch=branch, production=production, user=user,
                      extra_env=extra_env, configs=configs)
        extra = dict(top_args=top_args)
        args = ["argo-workflows", "create", "--only-json"]
        if generate_new_token:
            args.append("--generate-new-token")
        args += list(extra_args)

        def compute():
            return self._json_call("argo", flow_file, args, common, extra)

        if not cache:
            return compute()
        key = self._key("argo", flow_file, branch, production, user, extra_env, configs,
                        bool(generate_new_token), tuple(extra_args), tuple(top_args))
        return self._cached(key, compute)

    def argo_compiled(
        self,
        flow_file: Union[str, Path],
        branch: Optional[str] = None,
        production: bool = False,
        user: Optional[str] = "alice",
        extra_env: Optional[Mapping[str, Optional[str]]] = None,
        configs: ConfigsArg = None,
        *,
        generate_new_token: bool = False,
        extra_args: Sequence[str] = (),
        top_args: Sequence[str] = (),
        cache: bool = True,
    ) -> dict:
        """Run the real ``argo-workflows create --only-json`` CLI in a wrapper that
        captures what Metaflow compiled.  Returns a dict with keys ``name`` (template
        name), ``sensor_name``, ``sensor`` (the Argo Events Sensor dict as it would be
        registered, or None if the flow has no @trigger/@trigger_on_finish),
        ``triggers`` (Metaflow's processed trigger list), ``schedule``, ``timezone``
        and ``workflow_template``.  Kubernetes model objects inside the sensor (the
        container) are serialised with ``to_dict(serialize=True)`` (camelCase keys,
        None kept), as in ``outputs/*.sensor.json``."""
        common = dict(branch=branch, production=production, user=user,
                      extra_env=extra_env, configs=configs)
        args = ["argo-workflows", "create", "--only-json"]
        if generate_new_token:
            args.append("--generate-new-token")
        args += list(extra_args)
        extra = dict(top_args=top_args, python_args=("-c", _SENSOR_WRAPPER))

        def compute():
            return self._json_call("argo-sensor", flow_file, args, common, extra)

        if not cache:
            return compute()
        key = self._key("argo-compiled", flow_file, branch, production, user, extra_env,
                        configs, bool(generate_new_token), tuple(extra_args), tuple(top_args))
        return self._cached(key, compute)

    def argo_sensor(self, flow_file, branch=None, production=False, user="alice",
                    extra_env=None, configs=None, **kw) -> Optional[dict]:
        """The Argo Events Sensor Metaflow would register (dict), or None when the
        flow has no triggers.  Same arguments as :meth:`argo_compiled`."""
        return self.argo_compiled(flow_file, branch, production, user, extra_env,
                                  configs, **kw)["sensor"]

    def airflow_dag(
        self,
        flow_file: Union[str, Path],
        branch: Optional[str] = None,
        production: bool = False,
        user: Optional[str] = "alice",
        extra_env: Optional[Mapping[str, Optional[str]]] = None,
        configs: ConfigsArg = None,
        *,
        extra_args: Sequence[str] = (),
        top_args: Sequence[str] = (),
        out_name: Optional[str] = None,
        fresh: bool = True,
        metaflow_home: Optional[Union[str, Path]] = None,
        cache: bool = True,
    ) -> str:
        """``airflow create OUT.py [extra_args]`` -> the text of the generated DAG file.

        ``out_name`` is the DAG file's base name (default ``<flow stem>_dag.py``; it
        appears inside the DAG as ``file_path``).  With ``fresh`` (default) the
        production-token records of earlier `airflow create` calls are deleted first,
        so each call behaves like a first deployment (Airflow keeps its token in
        S3, not in the DAG)."""
        flow = Path(flow_file)
        out_name = out_name or "%s_dag.py" % flow.stem
        common = dict(branch=branch, production=production, user=user,
                      extra_env=extra_env, configs=configs)

        def compute():
            out = self._new_dir("airflow") / out_name
            if fresh:
                self.clear_airflow_tokens()
            self.run_cli(flow_file, ["airflow", "create", str(out), *extra_args],
                         **common, top_args=top_args, metaflow_home=metaflow_home)
            if not out.exists():
                raise OracleError("airflow create did not write %s" % out)
            return out.read_text()

        if not cache or not fresh or metaflow_home is not None:
            return compute()
        key = self._key("airflow", flow_file, branch, production, user, extra_env, configs,
                        tuple(extra_args), tuple(top_args), out_name)
        return self._cached(key, compute)


def _s(x) -> Optional[str]:
    if x is None or isinstance(x, str):
        return x
    return x.decode(errors="replace")


def _stop_process(proc: subprocess.Popen, tmp: Optional[Path] = None) -> None:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL.
    (Then removes ``tmp`` when given: used by the GC/exit finalizer.)"""
    try:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    except ProcessLookupError:
        pass
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# one shared oracle per process
# ---------------------------------------------------------------------------
_shared: Optional[MotoOracle] = None
_shared_lock = threading.Lock()


def shared_oracle() -> MotoOracle:
    """A process-wide MotoOracle, started on first use and stopped at exit (or by
    :func:`stop_shared_oracle`).  Results are cached across all users."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            if _shared is not None:
                _shared.stop()
            _shared = MotoOracle().start()
        return _shared


def stop_shared_oracle() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


atexit.register(stop_shared_oracle)
