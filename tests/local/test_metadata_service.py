"""The metadata service run-local starts: metaflow-local-service (PyPI) behind the shim that
registers client-chosen run and task ids, checked with Metaflow itself: a run made the way a
Step Functions task makes it (``init`` then ``step`` with ``--run-id sfn-...`` and the Batch job id
as task id, ``--metadata=service``) is found by the Metaflow client, with its tags and artifacts.
This is what the emulator gives a deployment whose tasks register with the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

pytest.importorskip("metaflow_local_service")

from flowstacks.local.client_check import check, client_environment  # noqa: E402,F401
from flowstacks.local.services import child_env, free_port, start_metadata_service  # noqa: E402

FLOW = textwrap.dedent('''
    from metaflow import FlowSpec, Parameter, step

    class TinyFlow(FlowSpec):
        size = Parameter("size", default=3, type=int)

        @step
        def start(self):
            self.items = list(range(self.size))
            self.next(self.end)

        @step
        def end(self):
            self.total = sum(self.items)

    if __name__ == "__main__":
        TinyFlow()
''')


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_client_finds_a_step_functions_style_run_through_the_service(tmp_path):
    service = start_metadata_service(tmp_path)
    try:
        (tmp_path / "tiny_flow.py").write_text(FLOW, encoding="utf-8")
        env = {**child_env(), "METAFLOW_SERVICE_URL": service.url, "METAFLOW_DEFAULT_METADATA": "service",
               "METAFLOW_DEFAULT_DATASTORE": "local", "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path / "ds"),
               "USER": "sfn-like", "METAFLOW_USER": "sfn-like", "HOME": str(tmp_path)}
        top = [sys.executable, "tiny_flow.py", "--quiet", "--no-pylint", "--metadata=service",
               "--datastore=local"]
        for args in (["init", "--run-id", "sfn-abc", "--task-id", "job-0-params"],
                     ["step", "start", "--run-id", "sfn-abc", "--task-id", "job-1",
                      "--input-paths", "sfn-abc/_parameters/job-0-params"],
                     ["step", "end", "--run-id", "sfn-abc", "--task-id", "job-2",
                      "--input-paths", "sfn-abc/start/job-1"]):
            done = subprocess.run(top + args, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=180)
            assert done.returncode == 0, done.stderr[-3000:]
        request = tmp_path / "request.json"
        request.write_text(json.dumps({"service_url": service.url, "runs": [{
            "flow": "TinyFlow", "run_id": "sfn-abc", "namespace": "user:sfn-like",
            "other_namespaces": ["production:mfprj-other-0-xxxx"]}]}), encoding="utf-8")
        client_env = {**env, "METAFLOW_DEFAULT_DATASTORE": "local"}
        done = subprocess.run([sys.executable, "-m", "flowstacks.local.client_check", str(request)],
                              cwd=tmp_path, env=client_env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        client = json.loads(done.stdout)["runs"][0]["client"]
        assert client["found"] and client["successful"], json.dumps(client)
        assert "user:sfn-like" in client["system_tags"]
        assert client["latest_run"] == "TinyFlow/sfn-abc"
        assert client["artifacts"]["total"] == "3"
        assert client["visible_in_other_namespaces"] == {"production:mfprj-other-0-xxxx": False}
    finally:
        service.stop()


@pytest.fixture(scope="module")
def raw_package(tmp_path_factory):
    """metaflow-local-service's app alone, without run-local's shim."""
    root, port = tmp_path_factory.mktemp("raw"), free_port()
    code = ("import sys, uvicorn; from metaflow_local_service.server import create_app; "
            "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(root), str(port)], env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(url + "/ping", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        _post(f"{url}/flows/F", {"flow_id": "F"})
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.xfail(strict=True, reason="metaflow-local-service 0.2.0 ignores the run_number a "
                   "client chooses (store.create_run assigns a timestamp): run-local's shim "
                   "(flowstacks/local/metadata_service.py) registers it; drop that part when this passes")
def test_metaflow_local_service_itself_keeps_client_chosen_run_ids(raw_package):
    answer = _post(f"{raw_package}/flows/F/run", {"flow_id": "F", "run_number": "sfn-abc",
                                                  "tags": [], "system_tags": []})
    assert answer["run_number"] == "sfn-abc"


@pytest.mark.xfail(strict=True, reason="metaflow-local-service 0.2.0 has no route for one artifact "
                   "(GET .../artifacts/NAME), so Run.successful is always False: run-local's shim "
                   "answers it; drop that part when this passes")
def test_metaflow_local_service_itself_serves_one_artifact(raw_package):
    run = _post(f"{raw_package}/flows/F/run", {"flow_id": "F", "tags": [], "system_tags": []})["run_number"]
    base = f"{raw_package}/flows/F/runs/{run}/steps/end"
    _post(f"{base}/step", {"flow_id": "F", "run_number": run, "step_name": "end"})
    task = _post(f"{base}/task", {"flow_id": "F", "run_number": run, "step_name": "end"})["task_id"]
    _post(f"{base}/tasks/{task}/artifact", [{"name": "_success", "attempt_id": 0, "sha": "x",
                                              "type": "metaflow.artifact", "content_type": "gzip+pickle-v2",
                                              "ds_type": "local", "location": "/x"}])
    with urllib.request.urlopen(f"{base}/tasks/{task}/artifacts/_success", timeout=10) as answer:
        assert json.loads(answer.read())["name"] == "_success"


def test_shim_answers_409_for_an_existing_run(tmp_path):
    service = start_metadata_service(tmp_path)
    try:
        _post(f"{service.url}/flows/F", {"flow_id": "F"})
        body = {"flow_id": "F", "run_number": "sfn-1", "tags": [], "system_tags": ["production:t"]}
        assert _post(f"{service.url}/flows/F/run", body)["run_number"] == "sfn-1"
        with pytest.raises(urllib.error.HTTPError) as again:
            _post(f"{service.url}/flows/F/run", body)
        assert again.value.code == 409  # Metaflow's client then GETs the run, as with its service
        assert os.path.isfile(tmp_path / "metadata" / ".metaflow" / "F" / "sfn-1" / "_meta" / "_self.json")
    finally:
        service.stop()
