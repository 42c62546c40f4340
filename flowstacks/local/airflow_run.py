"""A stack's DAG files run in real Airflow 3 on this machine (the Airflow side of run-local).

Airflow and Pulumi cannot share a virtualenv (protobuf), so Airflow runs in its own
(:func:`airflow_python`) as a child process: :mod:`flowstacks.local.airflow_runner` (stdlib and
Airflow only) loads the DAG files synced from the emulated DAGs bucket, runs each DAG with
``dag.test()``, every pod as a local process, and reports progress as JSON lines that become
:class:`~flowstacks.local.sfn_run.Execution` records here (the same ones the Step Functions
path produces, so the report and the client check are shared).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from flowstacks.errors import FlowstacksError
from flowstacks.local.deployment import Deployment
from flowstacks.local.sfn_run import Execution, Observer, TaskRun
from flowstacks.render.serialize import compact_json

RUNNER = Path(__file__).with_name("airflow_runner.py")
EVENT = "@flowstacks "
VENV_HINT = ("a virtualenv with apache-airflow 3 and apache-airflow-providers-cncf-kubernetes "
             "(bash tests/airflow_check/setup_venv.sh makes .venv-airflow); or set "
             "FLOWSTACKS_AIRFLOW_PYTHON to its python")


def airflow_python(project_dir: Path) -> Path:
    """The Airflow virtualenv's interpreter: ``$FLOWSTACKS_AIRFLOW_PYTHON``, else
    ``.venv-airflow`` in the project, else beside the flowstacks source tree."""
    candidates = [os.environ.get("FLOWSTACKS_AIRFLOW_PYTHON")]
    candidates += [str(root / ".venv-airflow" / "bin" / "python")
                   for root in (Path(project_dir), Path(__file__).resolve().parents[2])]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(os.path.abspath(candidate))  # not resolved: a venv python is a symlink
    raise FlowstacksError("run-local needs Airflow 3 in its own virtualenv", where="--orchestrator airflow",
                          hint=VENV_HINT)


def sync_dags(account: Callable[[str], Any], deployments: list[Deployment], folder: Path) -> None:
    """The DAGs folder as Airflow's DAG processor syncs it from the DAGs bucket(s)."""
    s3 = account("s3")
    folder.mkdir(parents=True, exist_ok=True)
    for dep in deployments:
        for dag in dep.dag_files:
            body = s3.get_object(Bucket=dag.bucket, Key=dag.key)["Body"].read()
            (folder / dag.key.rsplit("/", 1)[-1]).write_bytes(body)


class AirflowSession:
    """The DAG runs of deployments sharing one Airflow: started here or by asset events."""

    def __init__(self, deployments: list[Deployment], observer: Observer):
        self.deployments = deployments
        self.observer = observer
        self.executions: list[Execution] = []
        self.import_errors: dict[str, str] = {}
        self._running: dict[str, Execution] = {}  # dag_id -> its run in progress
        self._tasks: dict[tuple[str, str, int, int], TaskRun] = {}

    def _where(self, dag_id: str) -> tuple[str, str]:
        for dep in self.deployments:
            if any(d.dag_id == dag_id for d in dep.dag_files):
                return dep.stack, dep.flow_of_dag(dag_id)
        return "?", dag_id

    def start_list(self, plans: list[tuple[Deployment, list[str] | None]], params: dict[str, Any]
                   ) -> list[dict[str, Any]]:
        """Named flows, or every DAG: the runner starts those no asset alone schedules."""
        start: list[dict[str, Any]] = []
        for dep, flows in plans:
            if flows:
                for flow in flows:
                    dag_id = (dep.outputs.get("flows") or {}).get(flow, {}).get("orchestrator_object")
                    if not dag_id or not any(d.dag_id == dag_id for d in dep.dag_files):
                        raise FlowstacksError(f"no DAG for flow '{flow}' in stack {dep.stack}", where="--flow",
                                              hint="flows: " + ", ".join(sorted(dep.outputs.get("flows") or {})))
                    start.append({"dag_id": dag_id, "conf": params, "started_by": "run-local"})
            else:
                start += [{"dag_id": d.dag_id, "conf": params, "auto": True} for d in dep.dag_files]
        return start

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "loaded":
            self.import_errors = event.get("import_errors") or {}
        elif kind == "run_started":
            stack, flow = self._where(event["dag_id"])
            ex = Execution(stack=stack, flow=flow, arn=event["dag_id"], name="", machine_arn=event["dag_id"],
                           started_by=event.get("started_by") or "run-local", metaflow_run_id="")
            self._running[event["dag_id"]] = ex
            self.executions.append(ex)
            self.observer.execution_started(ex)
        elif kind == "task_started":
            ex = self._running.get(event["dag_id"])
            if ex is None:
                return
            ex.metaflow_run_id = ex.metaflow_run_id or event.get("metaflow_run_id")
            ex.datastore_root = ex.datastore_root or (event.get("env") or {}).get("METAFLOW_DATASTORE_SYSROOT_S3")
            ex.name = event.get("run_id") or ex.name
            task = TaskRun(state=event["task_id"], entered=time.time(), resource="pod",
                           job_id=event.get("metaflow_task_id"), pod=event.get("pod"),
                           map_index=event.get("map_index"), log=event.get("log"))
            self._tasks[(event["dag_id"], event["task_id"], event.get("map_index", -1),
                         event.get("try_number", 0))] = task
            ex.tasks.append(task)
            self.observer.task_submitted(ex, task)
        elif kind == "task_finished":
            ex = self._running.get(event["dag_id"])
            task = self._tasks.get((event["dag_id"], event["task_id"], event.get("map_index", -1),
                                    event.get("try_number", 0)))
            if ex is None or task is None:
                return
            task.exited = time.time()
            task.status = "SUCCEEDED" if event.get("state") == "success" else "FAILED"
            if task.status == "FAILED":
                task.error = ("execution_timeout" if event.get("state") == "timeout"
                              else f"exit code {event.get('exit_code')}")
            self.observer.task_finished(ex, task)
        elif kind == "run_finished":
            ex = self._running.pop(event["dag_id"], None)
            if ex is None:
                stack, flow = self._where(event["dag_id"])
                ex = Execution(stack=stack, flow=flow, arn=event["dag_id"], name="", machine_arn=event["dag_id"],
                               started_by="run-local", metaflow_run_id="")
                self.executions.append(ex)
            ex.name = event.get("run_id") or ex.name
            ex.arn = f"{event['dag_id']}/{ex.name}"
            ex.status = "SUCCEEDED" if event.get("state") == "success" else "FAILED"
            ex.error = event.get("error") or (None if ex.status == "SUCCEEDED" else f"DAG run {event.get('state')}")
            ex.stopped = time.time()
            self._settle_retries(ex, event.get("tasks") or [])
            self.observer.execution_finished(ex)

    @staticmethod
    def _settle_retries(ex: Execution, tasks: list[dict[str, Any]]) -> None:
        """A failed try that Airflow retried to success stays a failed attempt, not a failed task."""
        final = {(t["task_id"], t.get("map_index", -1)): t["state"] for t in tasks}
        for task in ex.tasks:
            if task.status == "FAILED" and final.get((task.state, task.map_index if task.map_index is not None
                                                      else -1)) == "success":
                task.status = "RETRIED"

    def run(self, python: Path, request: dict[str, Any], work: Path, timeout: float) -> list[Execution]:
        path = work / "airflow-request.json"
        path.write_text(compact_json(request), encoding="utf-8")
        log = work / "airflow.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "METAFLOW_", "AIRFLOW_", "AIRFLOW__", "PYTHON"))}
        with open(log, "wb") as err:
            proc = subprocess.Popen([str(python), str(RUNNER), str(path)], stdout=subprocess.PIPE,
                                    stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=work,
                                    start_new_session=True, text=True)
            deadline = time.monotonic() + timeout
            timer = _Deadline(proc, deadline)
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if line.startswith(EVENT):
                        self.handle(json.loads(line[len(EVENT):]))
                code = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    _kill(proc)
        if self.import_errors:
            details = "\n".join(f"{k}: {v.strip().splitlines()[-1] if v.strip() else ''}"
                                for k, v in self.import_errors.items())
            raise FlowstacksError(f"Airflow cannot load the stack's DAG files:\n{details}",
                                  where="flowstacks run-local")
        for ex in self._running.values():  # the runner ended (timeout, crash) with runs open
            ex.status, ex.stopped = ("TIMED_OUT" if timer.fired else "FAILED"), time.time()
            ex.error = "run-local.Timeout" if timer.fired else f"the Airflow runner exited {code}"
            ex.cause = _tail(log)
            self.observer.execution_finished(ex)
        self._running.clear()
        if code != 0 and not timer.fired:  # DAGs it did not get to would pass for never due
            raise FlowstacksError(f"the Airflow runner failed (exit {code}) after {len(self.executions)} "
                                  f"DAG runs", where="flowstacks run-local", hint=_tail(log))
        return self.executions


class _Deadline:
    """Ends the runner (its whole process group: Airflow and the pods) at the deadline."""

    def __init__(self, proc: subprocess.Popen, deadline: float):
        import threading

        self.fired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire, args=(proc,))
        self._timer.daemon = True
        self._timer.start()

    def _fire(self, proc: subprocess.Popen) -> None:
        self.fired = True
        _kill(proc)

    def cancel(self) -> None:
        self._timer.cancel()


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def pod_log_tail(task: TaskRun, lines: int = 40) -> str:
    """The last lines a failed pod wrote (what ``kubectl logs`` or the task log shows)."""
    return _tail(Path(task.log), lines) if task.log else ""
