"""Runs a stack's generated DAG files in real Airflow 3, each pod as a local process.

This file runs with the Airflow virtualenv's interpreter (Airflow and Pulumi cannot share one:
protobuf), by path, so it imports only the standard library and Airflow::

    .venv-airflow/bin/python flowstacks/local/airflow_runner.py REQUEST.json

``REQUEST.json`` (written by :mod:`flowstacks.local.airflow_run`)::

    {"home": AIRFLOW_HOME, "dags": DAG folder, "containers": folder for the pods' folders,
     "image_path": PATH of the emulated image, "image_site": folder of its sitecustomize,
     "plumbing": {variables that reach the emulated cloud}, "start": [{"dag_id", "conf"}]}

What happens, and how close it is to a deployment:

- Airflow's own metadata database (SQLite in ``home``), ``DAGS_FOLDER`` = the DAG files as the
  stack uploads them; every DAG is parsed and serialized by Airflow (``dag.test()`` syncs the
  bundle), so a DAG that does not load is an import error here as in the scheduler.
- Each DAG run is ``dag.test(run_conf=...)``: Airflow's own loop over the run's task instances
  (dependencies, trigger rules, mapped task expansion from XCom, retries with their delay,
  ``execution_timeout``), each task executed by the task SDK in this process; XComs and asset
  events land in the metadata database as on a worker.
- ``KubernetesPodOperator.execute`` is replaced by :func:`run_pod`: the operator's own
  ``build_pod_request_obj()`` builds the pod (templates already rendered by Airflow), and the
  base container's command and arguments run as a local process with the container's
  environment (``fieldRef`` values resolved as the kubelet would), in a fresh folder, the
  emulated image's ``PATH`` and the plumbing. The XCom sidecar's volume ``/airflow/xcom`` is
  mapped to the pod's folder (see ``image_site``); its ``return.json`` is the task's return
  value, as the sidecar hands it to the operator. A non-zero exit fails the task as a failed
  pod does.
- Assets: after each run, Airflow's scheduler query (``DagModel.dags_needing_dagruns``, which
  evaluates each DAG's asset condition over the queued asset events) says which DAGs are due;
  each is run next, its run created as the scheduler creates it (run type ``asset_triggered``,
  the asset events it consumes linked, so tasks see ``triggering_asset_events``) and its queue
  entries consumed.

Progress goes to stdout as lines ``@flowstacks {json}``; Airflow's own output goes to stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

EVENT = "@flowstacks "
XCOM_DIR = "/airflow/xcom"  # the KubernetesPodOperator sidecar's volume (Metaflow writes here)
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: default}}]
current-context: none
users: [{name: none, user: {token: none}}]
"""

_out = None  # the original stdout (events only)
REQUEST: dict = {}


# This script runs in Airflow's interpreter, which cannot import flowstacks (nor orjson, which
# flowstacks.render.serialize needs); its events are a progress protocol read by airflow_run,
# never an artifact, so the standard library's encoder writes them.
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def emit(kind: str, **fields) -> None:
    _out.write(EVENT + _ENCODER.encode({"event": kind, **fields}) + "\n")
    _out.flush()


def prepare(request: dict) -> None:
    """Airflow's configuration, before anything of Airflow is imported."""
    global _out
    home = request["home"]
    os.makedirs(home, exist_ok=True)
    kubeconfig = os.path.join(home, "kubeconfig")
    with open(kubeconfig, "w", encoding="utf-8") as fh:
        fh.write(KUBECONFIG)
    os.environ.update({
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": request["dags"],
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:///" + os.path.join(home, "airflow.db"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("FLOWSTACKS_AIRFLOW_LOG_LEVEL", "WARNING"),
        "KUBECONFIG": kubeconfig,
    })
    for var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        os.environ.pop(var, None)
    # stdout carries the events only: whatever Airflow or a DAG prints goes to stderr
    _out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


# -- the pod as a local process ---------------------------------------------------------------

def _field_ref(path: str, pod) -> str:
    """What the kubelet puts in a ``fieldRef`` variable, for this machine's pod."""
    meta, spec = pod.metadata, pod.spec
    values = {
        "metadata.name": meta.name, "metadata.namespace": meta.namespace,
        "metadata.uid": f"flowstacks-local-{meta.name}",
        "spec.serviceAccountName": spec.service_account_name or "default",
        "spec.nodeName": "flowstacks-local", "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path.startswith("metadata.labels['"):
        return (meta.labels or {}).get(path[len("metadata.labels['"):-2], "")
    if path.startswith("metadata.annotations['"):
        return (meta.annotations or {}).get(path[len("metadata.annotations['"):-2], "")
    return str(values.get(path, ""))


def pod_environment(pod, folder: str) -> dict:
    """The base container's environment: image defaults, the container's own variables, then the
    emulator's plumbing (as the cloud's endpoints would be reached)."""
    container = pod.spec.containers[0]
    env = {"PATH": REQUEST["image_path"], "HOME": os.path.join(folder, ".home"), "LANG": "C.UTF-8",
           "HOSTNAME": pod.metadata.name}
    for var in container.env or []:
        if var.value_from is not None:
            ref = var.value_from.field_ref
            if ref is None:
                raise RuntimeError(f"variable {var.name}: only fieldRef values exist without a "
                                   "cluster (no Secret or ConfigMap here)")
            env[var.name] = _field_ref(ref.field_path, pod)
        else:
            env[var.name] = "" if var.value is None else str(var.value)
    if container.env_from:
        names = [(s.secret_ref or s.config_map_ref).name for s in container.env_from]
        raise RuntimeError(f"envFrom {names}: Kubernetes Secrets and ConfigMaps need a cluster")
    env.update(REQUEST.get("plumbing") or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REQUEST["image_site"], env.get("PYTHONPATH")) if p)
    env["FLOWSTACKS_XCOM_DIR"] = os.path.join(folder, "airflow-xcom")
    return env


def _pump(stream, log, prefix: str) -> None:
    for raw in iter(stream.readline, b""):
        log.write(raw)
        log.flush()
        sys.stderr.write(prefix + raw.decode("utf-8", "replace"))


def run_pod(self, context):
    """``KubernetesPodOperator.execute`` on this machine (module docstring)."""
    from airflow.exceptions import AirflowException

    pod = self.build_pod_request_obj(context)
    container = pod.spec.containers[0]
    command = list(container.command or []) + list(container.args or [])
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    label = f"{ti.dag_id}.{ti.task_id}" + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")
    folder = tempfile.mkdtemp(prefix=f"{pod.metadata.name[:50]}-", dir=REQUEST["containers"])
    os.makedirs(os.path.join(folder, ".home"))
    env = pod_environment(pod, folder)
    log_path = os.path.join(folder, "pod.log")
    emit("task_started", dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=map_index,
         try_number=ti.try_number, pod=pod.metadata.name, image=container.image,
         metaflow_task_id=env.get("METAFLOW_AIRFLOW_TASK_ID"), metaflow_run_id=env.get("METAFLOW_RUN_ID"),
         folder=folder, log=log_path, env={k: env.get(k) for k in (
             "METAFLOW_DATASTORE_SYSROOT_S3", "METAFLOW_FLOW_NAME", "METAFLOW_PRODUCTION_TOKEN")})
    started = time.time()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        reader = threading.Thread(target=_pump, args=(proc.stdout, log, f"[{label}] "), daemon=True)
        reader.start()
        try:
            code = proc.wait()
        except BaseException:  # execution_timeout (AirflowTaskTimeout) or an interrupt: end the pod
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            reader.join(timeout=5)
            emit("task_finished", dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                 map_index=map_index, try_number=ti.try_number, exit_code=None, state="timeout",
                 seconds=time.time() - started, log=log_path)
            raise
        reader.join(timeout=30)
    emit("task_finished", dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=map_index,
         try_number=ti.try_number, exit_code=code, state="success" if code == 0 else "failed",
         seconds=time.time() - started, log=log_path)
    if code != 0:
        raise AirflowException(f"Pod {pod.metadata.name} returned a failure (exit code {code})")
    if not self.do_xcom_push:
        return None
    result = os.path.join(env["FLOWSTACKS_XCOM_DIR"], "return.json")
    if not os.path.exists(result):
        raise AirflowException(f"Pod {pod.metadata.name}: no {XCOM_DIR}/return.json for the xcom "
                               "sidecar to read")
    with open(result, encoding="utf-8") as fh:
        return json.load(fh)


def write_image_site(folder: str) -> None:
    """The emulated image's ``sitecustomize``: the pod's ``/airflow/xcom`` volume is the pod
    folder's ``airflow-xcom`` (Metaflow's constant, set as its module is imported)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "sitecustomize.py"), "w", encoding="utf-8") as fh:
        fh.write('''"""flowstacks run-local: the pod's /airflow/xcom volume, mapped to its folder."""
import os, sys
_TARGET = "metaflow.plugins.airflow.airflow_decorator"
_DIR = os.environ.get("FLOWSTACKS_XCOM_DIR")


class _MapXcom:
    def find_spec(self, name, path=None, target=None):
        if name != _TARGET or not _DIR:
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            module.K8S_XCOM_DIR_PATH = _DIR
        spec.loader.exec_module = exec_module
        return spec


if _DIR:
    sys.meta_path.insert(0, _MapXcom())
''')


# -- the runs ----------------------------------------------------------------------------------

def _task_states(dag_run) -> list:
    from airflow.utils.session import create_session

    with create_session() as session:
        return [{"task_id": ti.task_id, "map_index": ti.map_index, "state": str(ti.state),
                 "try_number": ti.try_number} for ti in dag_run.get_task_instances(session=session)]


def due_by_assets(started_by: str) -> list:
    """The DAGs Airflow's scheduler would start now for the asset events queued (its own query),
    each with the asset events its run consumes (those of its assets up to the trigger, not
    consumed by an earlier run of it), the queue entries consumed as the scheduler does."""
    from sqlalchemy import delete, select

    from airflow.models.asset import AssetDagRunQueue, AssetEvent, DagScheduleAssetReference
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    due = []
    with create_session() as session:
        query, triggered = DagModel.dags_needing_dagruns(session)
        runnable = {dm.dag_id for dm in query}  # not paused, no import error (rows already)
        for dag_id in sorted(set(triggered) & runnable):
            consumed = {e.id for run in session.scalars(select(DagRun).where(DagRun.dag_id == dag_id))
                        for e in run.consumed_asset_events}
            events = session.scalars(select(AssetEvent).where(
                AssetEvent.asset_id.in_(select(DagScheduleAssetReference.asset_id).where(
                    DagScheduleAssetReference.dag_id == dag_id)),
                AssetEvent.timestamp <= triggered[dag_id]).order_by(AssetEvent.id)).all()
            due.append({"dag_id": dag_id, "conf": {}, "started_by": started_by,
                        "asset_events": [e.id for e in events if e.id not in consumed]})
            session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag_id))
    return due


_ASSET_EVENTS: list = []  # the asset events the DAG run being created consumes


def install_asset_triggered_runs() -> None:
    """``dag.test()`` creates a manual run; a run due to asset events is created as the scheduler
    creates it instead: run type ``asset_triggered``, the events it consumes linked (the tasks'
    ``triggering_asset_events``)."""
    import airflow.models.dagrun as dagrun_module

    original = dagrun_module.get_or_create_dagrun

    def get_or_create_dagrun(**kw):
        if not _ASSET_EVENTS:
            return original(**kw)
        from sqlalchemy import select

        from airflow.models.asset import AssetEvent
        from airflow.utils.state import DagRunState
        from airflow.utils.types import DagRunTriggeredByType, DagRunType

        session = kw["session"]
        run = kw["dag"].create_dagrun(
            run_id=dagrun_module.DagRun.generate_run_id(run_type=DagRunType.ASSET_TRIGGERED, logical_date=None,
                                                        run_after=kw["run_after"]),
            logical_date=None, data_interval=None, run_after=kw["run_after"], conf=kw["conf"],
            run_type=DagRunType.ASSET_TRIGGERED, triggered_by=DagRunTriggeredByType.ASSET,
            state=DagRunState.RUNNING, start_date=kw["start_date"], session=session)
        run.consumed_asset_events.extend(session.scalars(select(AssetEvent).where(
            AssetEvent.id.in_(list(_ASSET_EVENTS)))).all())
        session.commit()
        return run

    dagrun_module.get_or_create_dagrun = get_or_create_dagrun


def start_label(dag):
    """How a DAG that is not named starts: by hand (no schedule), its schedule fired on demand,
    or ``None`` when only asset events start it."""
    kind = type(dag.timetable).__name__
    if kind == "AssetTriggeredTimetable":
        return None
    if kind == "NullTimetable":
        return "run-local"
    summary = getattr(dag.timetable, "summary", None) or str(getattr(dag, "schedule", ""))
    return f"schedule {summary} (fired on demand)"


def main(argv: list) -> int:
    global REQUEST
    with open(argv[0], encoding="utf-8") as fh:
        REQUEST = json.load(fh)
    prepare(REQUEST)
    write_image_site(REQUEST["image_site"])
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.utils import db

    KubernetesPodOperator.execute = run_pod
    install_asset_triggered_runs()
    bag = DagBag(REQUEST["dags"])
    emit("loaded", dags=sorted(bag.dags), import_errors={k: v[-3000:] for k, v in bag.import_errors.items()})
    if bag.import_errors:
        return 1
    db.initdb()
    queue = []
    for item in REQUEST["start"]:
        dag = bag.get_dag(item["dag_id"])
        if item.get("auto") and dag is not None:
            label = start_label(dag)
            if label is None:
                continue  # its assets start it
            item = {**item, "started_by": label}
        queue.append(item)
    while queue:
        item = queue.pop(0)
        dag = bag.get_dag(item["dag_id"])
        if dag is None:
            emit("run_finished", dag_id=item["dag_id"], state="missing", run_id=None, tasks=[])
            continue
        emit("run_started", dag_id=dag.dag_id, started_by=item.get("started_by", "run-local"))
        started = time.time()
        _ASSET_EVENTS[:] = item.get("asset_events") or []
        try:
            dag_run = dag.test(run_conf=item.get("conf") or None)
            state, run_id, tasks, error = str(dag_run.state), dag_run.run_id, _task_states(dag_run), None
        except Exception as exc:  # noqa: BLE001 - a run Airflow cannot start is a failed run
            state, run_id, tasks, error = "failed", None, [], f"{type(exc).__name__}: {exc}"
        emit("run_finished", dag_id=dag.dag_id, run_id=run_id, state=state, tasks=tasks, error=error,
             seconds=time.time() - started, run_type=str(getattr(dag_run, "run_type", "")) if not error else None)
        queue.extend(due_by_assets(f"asset events of {dag.dag_id}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
