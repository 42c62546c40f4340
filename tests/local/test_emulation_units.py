"""The pieces of run-local's emulated cloud, without a server: Step Functions' JSONPath as AWS
evaluates it, EventBridge target inputs, the status-change event, the Batch container stand-in
(attempts, environment, logs moto can parse), parameters and the metadata shim's id rule."""

from __future__ import annotations

import json
import sys
import types
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("moto")

from flowstacks.errors import FlowstacksError  # noqa: E402
from flowstacks.local.container import Image, LocalContainer  # noqa: E402
from flowstacks.local.metadata_service import _chosen  # noqa: E402
from flowstacks.local.moto_hooks import _definite, _target_input, jayway_extract, status_change_detail  # noqa: E402
from flowstacks.local.run import parse_params  # noqa: E402
from flowstacks.local.sfn_run import parameters_input  # noqa: E402


@pytest.fixture(scope="module")
def extract():
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    return jayway_extract(extract_json)


def test_field_list_selects_an_object_as_jayway_does(extract):
    """Every Metaflow task state's OutputPath; moto alone returns a list of values."""
    out = {"JobId": "j1", "Parameters": {"metaflow.run_id": "r"}, "Container": {"ExitCode": 0}}
    assert extract("$.['JobId', 'Parameters', 'Index', 'SplitParentTaskId']", out) == {
        "JobId": "j1", "Parameters": {"metaflow.run_id": "r"}}


def test_definite_paths_into_a_list_are_values(extract):
    """A join's parent task ids: ``$.[0].JobId`` on the branches' outputs is a string."""
    branches = [{"JobId": "a", "Parameters": {"step_name": "clicks", "metaflow.run_id": "r"}},
                {"JobId": "b", "Parameters": {"step_name": "purchases"}}]
    assert extract("$.[0].JobId", branches) == "a"
    assert extract("$.[1].Parameters.step_name", branches) == "purchases"
    assert extract("$.[0].Parameters.['metaflow.run_id']", branches) == "r"


def test_other_paths_keep_moto_semantics(extract):
    assert extract("$.Result.Item.c.NS", {"Result": {"Item": {"c": {"NS": ["1", "2"]}}}}) == ["1", "2"]
    assert extract("$.a", {"a": [5]}) == [5]
    assert extract("$.[0]", [{"x": 1}]) == {"x": 1}
    assert not _definite("$.items[*].id") and not _definite("$..id") and _definite("$.['a.b'].c")


def test_target_input_is_the_constant_input_else_the_event():
    event = {"detail": {"status": "SUCCEEDED", "name": "x"}}
    assert _target_input({"Input": '{"Parameters":"{}"}'}, event) == '{"Parameters":"{}"}'
    assert json.loads(_target_input({"InputPath": "$.detail"}, event)) == event["detail"]
    assert json.loads(_target_input({}, event)) == event


def test_status_change_detail_names_the_execution_and_its_machine():
    execution = types.SimpleNamespace(
        exec_arn="arn:aws:states:us-east-1:1:execution:M:e1", state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:M",
        name="e1", exec_status=types.SimpleNamespace(value="SUCCEEDED"),
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), stop_date=datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc),
        execution_input='{"Parameters": "{}"}', output={"JobId": "j"}, error=None, cause=None)
    detail = status_change_detail(execution)
    assert detail["stateMachineArn"].endswith(":stateMachine:M") and detail["status"] == "SUCCEEDED"
    assert detail["stopDate"] - detail["startDate"] == 60_000 and json.loads(detail["output"]) == {"JobId": "j"}


def _job(attempts: int | None) -> types.SimpleNamespace:
    return types.SimpleNamespace(job_id="job-1", job_queue=types.SimpleNamespace(name="q"),
                                 flowstacks_retry_strategy={"attempts": attempts} if attempts else {},
                                 attempts=[{"container": {}}], latest_attempt={"container": {}})


def _container(tmp_path: Path, script: str, attempts: int | None = None) -> LocalContainer:
    image = Image(root=tmp_path, path=f"{Path(sys.executable).parent}:/usr/bin:/bin",
                  plumbing={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, metadata_url="http://127.0.0.1:2/ecs/v4/")
    env = {"AWS_ENDPOINT_URL": "https://deployed.example", "MY_VAR": "from-job"}
    return LocalContainer(image, _job(attempts), ["bash", "-c", script], env, "SFN-F--start--")


def test_container_runs_the_command_with_the_jobs_environment(tmp_path):
    c = _container(tmp_path, 'echo "$MY_VAR $AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ATTEMPT $AWS_ENDPOINT_URL '
                             '$ECS_CONTAINER_METADATA_URI_V4 $PWD"; echo oops >&2')
    c.start()
    assert c.wait() == {"StatusCode": 0}
    out = c.logs(stdout=True, stderr=False).decode().splitlines()
    assert out == [f"from-job job-1 1 http://127.0.0.1:1 http://127.0.0.1:2/ecs/v4/job-1 {c.folders[0]}"]
    assert c.folders[0].parent == tmp_path  # a fresh folder per attempt, under the work root
    assert "oops" in c.logs(stdout=False, stderr=True).decode()


def test_container_logs_carry_timestamps_moto_parses(tmp_path):
    from moto.core.parse import default_timestamp_parser

    c = _container(tmp_path, "echo hello")
    c.start()
    c.wait()
    line = c.logs(stdout=True, stderr=False, timestamps=True).decode().splitlines()[0]
    stamp, text = line.split(" ", 1)
    assert text == "hello" and default_timestamp_parser(stamp).year >= 2024


def test_batch_retry_strategy_reruns_failed_attempts(tmp_path):
    """@retry on Step Functions is Batch's RetryStrategy: attempt 1 fails, attempt 2 runs with
    AWS_BATCH_JOB_ATTEMPT=2 in a fresh folder and decides the job."""
    c = _container(tmp_path, 'echo "attempt $AWS_BATCH_JOB_ATTEMPT"; [ "$AWS_BATCH_JOB_ATTEMPT" = 2 ]', attempts=3)
    c.start()
    assert c.wait() == {"StatusCode": 0}
    assert c.logs(stdout=True, stderr=False).decode().split() == ["attempt", "1", "attempt", "2"]
    assert len(c.folders) == 2 and c.folders[0] != c.folders[1]


def test_retry_strategy_recorded_after_the_job_started_still_counts(tmp_path):
    """moto starts the job's thread inside SubmitJob, before the hook records the submitted
    RetryStrategy: the first attempt is already running when it arrives."""
    c = _container(tmp_path, 'sleep 0.5; [ "$AWS_BATCH_JOB_ATTEMPT" = 2 ]')
    c.start()
    c.job.flowstacks_retry_strategy = {"attempts": 2}
    assert c.wait() == {"StatusCode": 0} and len(c.folders) == 2


def test_failing_command_fails_after_its_attempts(tmp_path):
    c = _container(tmp_path, "exit 3", attempts=2)
    c.start()
    assert c.wait() == {"StatusCode": 3} and len(c.folders) == 2


def test_kill_ends_the_whole_process_group(tmp_path):
    c = _container(tmp_path, "sleep 60 & sleep 60; echo never")
    c.start()
    for _ in range(50):
        if c._process is not None:
            break
        __import__("time").sleep(0.05)
    c.kill()
    assert c.wait()["StatusCode"] != 0
    assert "never" not in c.logs().decode()


def test_parameters_and_execution_input():
    assert parse_params(["epochs=3", "name=abc", "rate=0.5"]) == {"epochs": 3, "name": "abc", "rate": 0.5}
    assert json.loads(json.loads(parameters_input({"epochs": 3}))["Parameters"]) == {"epochs": 3}
    with pytest.raises(FlowstacksError, match="NAME=VALUE"):
        parse_params(["epochs"])


def test_only_ids_a_client_chose_are_registered_by_the_shim():
    assert _chosen("sfn-123") == "sfn-123" and _chosen("b2c3-uuid") == "b2c3-uuid"
    assert _chosen("1795901263944225") is None and _chosen(None) is None


def test_includefile_default_the_stack_uploads_is_provisioned(tmp_path):
    """An ``IncludeFile`` default is an S3 object with inline content in the manifest: run-local
    writes it where the task's descriptor points, as ``pulumi up`` would (the shape corpus'
    BranchFlow has one)."""
    import gzip

    import boto3
    from moto import mock_aws

    from flowstacks.local.deployment import read_deployment, synthesize
    from flowstacks.local.provision import _objects

    corpus = Path(__file__).with_name("flows")
    dep = synthesize(corpus, "prod", None, tmp_path / "out")
    dep = read_deployment(dep.folder)
    (obj,) = [o for o in dep.objects if "include-notes" in o.logical]
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=obj.bucket)

        class Acct:
            def __call__(self, service):
                return s3

        _objects(Acct(), dep)
        body = s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
    assert gzip.decompress(body) == (corpus / "flowspecs" / "notes.txt").read_bytes()
