"""The Airflow side of run-local in pieces (fast): DAG files read from a manifest, the settings
read from a DAG's source, the pod's environment as the runner builds it, and the runner's events
turned into executions."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from flowstacks.local import airflow_runner
from flowstacks.local.airflow_run import AirflowSession
from flowstacks.local.deployment import Deployment, dag_settings, read_deployment

DAG_SOURCE = '''
op = X(env_vars={"METAFLOW_DATASTORE_SYSROOT_S3": "s3://b1/mf", "OTHER": "x"})
other = Y(env_vars={"METAFLOW_DATASTORE_SYSROOT_S3": "s3://b2/mf", "N": 1})
'''


def test_dag_settings_reads_constant_values_of_the_named_keys_only():
    assert dag_settings(DAG_SOURCE, ("METAFLOW_DATASTORE_SYSROOT_S3", "N")) == {
        "METAFLOW_DATASTORE_SYSROOT_S3": {"s3://b1/mf", "s3://b2/mf"}}


def test_read_deployment_finds_dag_files_and_packages(tmp_path: Path):
    manifest = {"stack": "prod", "project": "p", "outputs": {"orchestrator": "airflow", "flows": {
        "F": {"orchestrator_object": "p.prod.F"}}}, "resources": [
        {"type": "aws:s3/bucketObjectv2:BucketObjectv2", "name": "p.prod.F",
         "inputs": {"bucket": "dags", "key": "dags/p.prod.F.py", "content": DAG_SOURCE}},
        {"type": "aws:s3/bucketObjectv2:BucketObjectv2", "name": "p.prod.F-package",
         "inputs": {"bucket": "data", "key": "mf/F/data/ab/abc", "source": {"fileAsset": "abc.tgz"}}}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    dep = read_deployment(tmp_path)
    assert [(d.dag_id, d.bucket) for d in dep.dag_files] == [("p.prod.F", "dags")]
    assert [p.asset for p in dep.packages] == ["abc.tgz"]
    assert dep.flow_of_dag("p.prod.F") == "F"


def _pod(env, env_from=None):
    container = SimpleNamespace(env=env, env_from=env_from, image="python:3.11")
    return SimpleNamespace(metadata=SimpleNamespace(name="start-abc", namespace="airflow", labels={"app": "mf"},
                                                    annotations={}),
                           spec=SimpleNamespace(containers=[container], service_account_name="sa"))


def test_pod_environment_resolves_field_refs_and_plumbing_wins(monkeypatch, tmp_path):
    monkeypatch.setattr(airflow_runner, "REQUEST", {
        "image_path": "/img/bin", "image_site": "/site",
        "plumbing": {"METAFLOW_SERVICE_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"}})
    ref = lambda path: SimpleNamespace(field_ref=SimpleNamespace(field_path=path))  # noqa: E731
    env = airflow_runner.pod_environment(_pod([
        SimpleNamespace(name="METAFLOW_SERVICE_URL", value="https://prod.example.com", value_from=None),
        SimpleNamespace(name="POD", value=None, value_from=ref("metadata.name")),
        SimpleNamespace(name="NS", value=None, value_from=ref("metadata.namespace")),
        SimpleNamespace(name="SA", value=None, value_from=ref("spec.serviceAccountName")),
        SimpleNamespace(name="APP", value=None, value_from=ref("metadata.labels['app']")),
    ]), str(tmp_path))
    assert (env["POD"], env["NS"], env["SA"], env["APP"]) == ("start-abc", "airflow", "sa", "mf")
    assert env["METAFLOW_SERVICE_URL"] == "http://127.0.0.1:1"  # the emulated service, not prod's
    assert env["PATH"] == "/img/bin" and env["PYTHONPATH"] == "/site"
    assert env["FLOWSTACKS_XCOM_DIR"] == str(tmp_path / "airflow-xcom")


def test_a_pod_that_needs_a_kubernetes_secret_fails_saying_so(monkeypatch, tmp_path):
    monkeypatch.setattr(airflow_runner, "REQUEST", {"image_path": "/b", "image_site": "/s", "plumbing": {}})
    secret = SimpleNamespace(secret_ref=SimpleNamespace(name="db-creds"), config_map_ref=None)
    try:
        airflow_runner.pod_environment(_pod([], env_from=[secret]), str(tmp_path))
    except RuntimeError as exc:
        assert "db-creds" in str(exc) and "cluster" in str(exc)
    else:
        raise AssertionError("envFrom accepted without a cluster")


def test_the_image_site_maps_the_xcom_volume(tmp_path, monkeypatch):
    """Metaflow's own push_xcom_values writes return.json where the sidecar volume is mapped."""
    import subprocess
    import sys

    airflow_runner.write_image_site(str(tmp_path / "site"))
    xcom = tmp_path / "xcom"
    code = ("from metaflow.plugins.airflow.airflow_decorator import push_xcom_values as p; "
            "p({'metaflow_task_id': 't1'})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tmp_path / "site"), "FLOWSTACKS_XCOM_DIR": str(xcom),
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert json.loads((xcom / "return.json").read_text()) == {"metaflow_task_id": "t1"}


class _Recorder:
    def __init__(self):
        self.seen = []

    def __getattr__(self, name):
        return lambda *a: self.seen.append((name, a[-1].state if name.startswith("task") else a[0].flow))


def test_runner_events_become_executions_with_retried_tries_settled():
    dep = Deployment(stack="prod", project="p", folder=Path("."), resources=[],
                     outputs={"flows": {"F": {"orchestrator_object": "p.prod.F"}}})
    from flowstacks.local.deployment import DagFile

    dep.dag_files.append(DagFile("p.prod.F", "dags", "dags/p.prod.F.py", ""))
    observer = _Recorder()
    session = AirflowSession([dep], observer)
    base = {"dag_id": "p.prod.F", "run_id": "manual__1"}
    for event in [
        {"event": "run_started", "dag_id": "p.prod.F", "started_by": "run-local"},
        {"event": "task_started", **base, "task_id": "start", "map_index": -1, "try_number": 1, "pod": "start-x",
         "metaflow_task_id": "airflow-t1", "metaflow_run_id": "airflow-r1",
         "env": {"METAFLOW_DATASTORE_SYSROOT_S3": "s3://b/mf"}},
        {"event": "task_finished", **base, "task_id": "start", "map_index": -1, "try_number": 1,
         "state": "failed", "exit_code": 1},
        {"event": "task_started", **base, "task_id": "start", "map_index": -1, "try_number": 2, "pod": "start-y",
         "metaflow_task_id": "airflow-t1"},
        {"event": "task_finished", **base, "task_id": "start", "map_index": -1, "try_number": 2,
         "state": "success", "exit_code": 0},
        {"event": "run_finished", **base, "state": "success",
         "tasks": [{"task_id": "start", "map_index": -1, "state": "success", "try_number": 2}]},
    ]:
        session.handle(event)
    (ex,) = session.executions
    assert (ex.flow, ex.stack, ex.status, ex.pathspec) == ("F", "prod", "SUCCEEDED", "F/airflow-r1")
    assert ex.datastore_root == "s3://b/mf" and ex.failed_tasks == []
    assert [t.status for t in ex.tasks] == ["RETRIED", "SUCCEEDED"]
    assert ex.task_of("start").job_id == "airflow-t1"
    assert [k for k, _ in observer.seen] == ["execution_started", "task_submitted", "task_finished",
                                             "task_submitted", "task_finished", "execution_finished"]


def test_named_flow_without_a_dag_is_a_user_error():
    import pytest

    from flowstacks.errors import FlowstacksError

    dep = Deployment(stack="prod", project="p", folder=Path("."), resources=[],
                     outputs={"flows": {"F": {"orchestrator_object": "p.prod.F"}}})
    with pytest.raises(FlowstacksError, match="no DAG for flow 'G'"):
        AirflowSession([dep], _Recorder()).start_list([(dep, ["G"])], {})
