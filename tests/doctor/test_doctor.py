"""flowstacks doctor: prerequisites follow from what the stack deploys; --live checks them against
an emulated AWS account (moto's server), offline nothing is called."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from flowstacks.cli import main as cli_main  # noqa: E402
from flowstacks.doctor.prereqs import prerequisites, settings  # noqa: E402
from flowstacks.load.project import ProjectDir  # noqa: E402
from flowstacks.synth.engine import synth_stack  # noqa: E402


def _doctor(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli_main(["doctor", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _by_kind(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in report["prerequisites"]:
        out.setdefault(p["kind"], []).append(p)
    return out


def test_step_functions_prerequisites_follow_the_state_machines():
    project = ProjectDir(REPO, "step-functions")
    ctx = project.stack_context("prod")
    manifest = synth_stack(project, "prod").manifest()
    items = {(p.kind, p.name): p for p in prerequisites(ctx, manifest)}
    # every queue and table a state machine calls, and nothing else of those kinds
    queues, tables = set(), set()
    for res in manifest["resources"]:
        if res["type"] == "aws:sfn/stateMachine:StateMachine":
            text = res["inputs"]["definition"]
            definition = json.loads(text)
            queues |= {v for v in _values(definition, "JobQueue")}
            tables |= {v for v in _values(definition, "TableName")}
    assert queues and {n for k, n in items if k == "batch-job-queue"} == queues
    # the foreach-state table is the stack's own (issue 16): created with it, no prerequisite
    assert tables == {"example_project.prod.sfn-state"}
    created = {r["inputs"]["name"] for r in manifest["resources"]
               if r["type"] == "aws:dynamodb/table:Table"}
    assert created == tables and not any(k == "dynamodb-table" for k, _ in items)
    row = next(r for r in settings(ctx) if r.target == "aws.dynamodb_table")
    assert row.value == "example_project.prod.sfn-state" and "stack's own table" in row.source
    # prod's own metadata service, named with the override that set it
    service = items[("metadata-service", "https://metaflow-prod.example.com/api")]
    assert service.source == "platform_overrides['prod'].service_url"
    assert ("s3-bucket", "example-metaflow") in items
    # a Step Functions stack needs no cluster
    assert not any(k.startswith(("kubernetes", "argo", "airflow")) for k, _ in items)
    assert not any(r.target.startswith(("kubernetes.", "airflow.")) for r in settings(ctx))


def _values(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def test_argo_prerequisites_name_the_cluster_objects(capsys):
    code, report = _doctor(capsys, "--stack", "prod.staging", "--project-dir", str(REPO))
    assert code == 0 and report["problems"] == []
    kinds = _by_kind(report)
    assert [p["name"] for p in kinds["kubernetes-namespace"]] == ["metaflow"]
    assert kinds["kubernetes-namespace"][0]["source"] == "kubernetes.namespace"
    bus, = kinds["argo-events-bus"]
    source, = kinds["argo-events-source"]
    assert bus["name"] == "default" and bus["platform_stack"]
    assert source["name"] == "argo-events-webhook" and "metaflow-event" in source["needs"]
    assert "dynamodb-table" not in kinds and "batch-job-queue" not in kinds
    settings_ = {r["setting"]: r for r in report["settings"]}
    assert settings_["runtime.service_url"]["source"] == "platform_overrides['prod'].service_url"
    assert "airflow.namespace" not in settings_


def test_airflow_namespace_and_connection(capsys):
    code, report = _doctor(capsys, "--stack", "test.feature_x", "--orchestrator", "airflow",
                           "--project-dir", str(REPO))
    assert code == 0
    kinds = _by_kind(report)
    ns, = kinds["kubernetes-namespace"]
    # test's pods apart from prod's (the default namespace layout 'class')
    assert ns["name"] == "airflow-test"
    conn, = kinds["airflow-connection"]
    assert "in-cluster" in conn["needs"]
    # test.* reports to the shared service, not prod's
    assert [p["name"] for p in kinds["metadata-service"]] == ["https://metaflow.example.com/api"]


def test_unknown_stack_is_a_clear_error(capsys):
    code = cli_main(["doctor", "--stack", "qa", "--project-dir", str(REPO)])
    err = capsys.readouterr().err
    assert code == 1 and "qa" in err and "Traceback" not in err


# -- --live against moto's server ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path.endswith("/ping") else 404)
        self.end_headers()
        self.wfile.write(b"pong")

    def log_message(self, *args):
        pass


@pytest.fixture()
def emulated(tmp_path, monkeypatch):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    ping = HTTPServer(("127.0.0.1", 0), _Ping)
    threading.Thread(target=ping.serve_forever, daemon=True).start()
    for key, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"
                       }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    project = tmp_path / "project"
    shutil.copytree(REPO / "flowspecs", project / "flowspecs")
    shutil.copytree(REPO / "stacks", project / "stacks")
    config = project / "flowspecs" / "flowstacks_config.py"
    url = f"http://127.0.0.1:{ping.server_address[1]}/api"
    config.write_text(config.read_text().replace("https://metaflow-prod.example.com/api", url))
    try:
        yield project
    finally:
        ping.shutdown()
        server.stop()


TABLE = "metaflow-sfn-state-prod"  # a table prod shares (dynamodb_table_layout='shared')


def _statuses(report: dict) -> dict[tuple[str, str], tuple[str, str]]:
    return {(p["kind"], p["name"]): (p["status"], p["detail"]) for p in report["prerequisites"]}


@pytest.mark.slow
def test_live_finds_what_is_missing_then_wrong_then_ok(emulated, capsys):
    project = str(emulated)
    code, report = _doctor(capsys, "--stack", "prod", "--live", "--project-dir", project)
    # by default the stack creates its own table: nothing to find
    assert not any(kind == "dynamodb-table" for kind, _ in _statuses(report))
    config = emulated / "flowspecs" / "flowstacks_config.py"
    config.write_text(config.read_text().replace(
        'platform_overrides={"prod": Platform(',
        f'platform_overrides={{"prod": Platform(dynamodb_table="{TABLE}", '
        'dynamodb_table_layout="shared", '))
    code, report = _doctor(capsys, "--stack", "prod", "--live", "--project-dir", project)
    status = _statuses(report)
    assert code == 1
    assert status[("s3-bucket", "example-metaflow")][0] == "missing"
    assert status[("dynamodb-table", TABLE)][0] == "missing"
    queue = next(name for kind, name in status if kind == "batch-job-queue")
    assert status[("batch-job-queue", queue)][0] == "missing"
    service = next(name for kind, name in status if kind == "metadata-service")
    assert status[("metadata-service", service)][0] == "ok"  # the loopback service answers

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="example-metaflow")
    ddb = boto3.client("dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    code, report = _doctor(capsys, "--stack", "prod", "--live", "--project-dir", project)
    status = _statuses(report)
    assert status[("s3-bucket", "example-metaflow")][0] == "ok"
    state, detail = status[("dynamodb-table", TABLE)]
    assert state == "wrong" and "'pathspec'" in detail and "TTL" in detail

    ddb.delete_table(TableName=TABLE)
    ddb.get_waiter("table_not_exists").wait(TableName=TABLE)
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pathspec", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pathspec", "AttributeType": "S"}])
    ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "ttl"})
    batch = boto3.client("batch")
    role = boto3.client("iam").create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")
    env = batch.create_compute_environment(computeEnvironmentName="metaflow-ce", type="UNMANAGED",
                                           state="ENABLED", serviceRole=role["Role"]["Arn"])
    batch.create_job_queue(jobQueueName=queue.rsplit("/", 1)[1], state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment":
                                                     env["computeEnvironmentArn"]}])
    boto3.client("iam").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["a" * 40])
    code, report = _doctor(capsys, "--stack", "prod", "--live", "--project-dir", project)
    status = _statuses(report)
    assert {s for s, _ in status.values()} == {"ok"}, status
    assert code == 0


def test_a_webhook_in_another_namespace_is_a_problem(tmp_path, capsys):
    project = tmp_path / "project"
    shutil.copytree(REPO / "flowspecs", project / "flowspecs")
    config = project / "flowspecs" / "flowstacks_config.py"
    config.write_text(config.read_text().replace(
        'kubernetes=Kubernetes(namespace="metaflow"),',
        'kubernetes=Kubernetes(namespace="metaflow", argo_events_webhook_url='
        '"http://argo-events-webhook-eventsource-svc.argo-events:12000/metaflow-event"),'))
    code, report = _doctor(capsys, "--stack", "prod.staging", "--project-dir", str(project))
    problem, = report["problems"]
    assert code == 1 and "namespace argo-events" in problem and "'metaflow'" in problem
    assert "never arrive" in problem


# the shape corpus' @parallel flow, moved into the example project
GANG_FLOW = REPO / "tests" / "shapes" / "flows" / "parallel_flow.py"


def _executor_rules(manifest):
    role, = [r for r in manifest["resources"]
             if r["type"].endswith("rbac.authorization.k8s.io/v1:Role")]
    return role["inputs"]["rules"]


def test_a_gang_step_needs_the_jobset_controller_and_may_create_jobsets(tmp_path):
    """A @parallel step on Argo is a JobSet, created by a resource template that runs as the
    namespace's task service account: the stack's Role lets that account create and read JobSets,
    and doctor names the JobSet controller, for the gang flow's template only. A stack without
    @parallel gets neither."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "flowspecs", project / "flowspecs")
    (project / "flowspecs" / "gang_flow.py").write_text(GANG_FLOW.read_text().replace(
        '@project(name="shapes")', "@project(name='example_project')"))
    for root, gang in ((project, True), (REPO, False)):
        loaded = ProjectDir(root, "argo")
        manifest = synth_stack(loaded, "prod").manifest()
        items = {p.kind: p for p in prerequisites(loaded.stack_context("prod"), manifest)}
        jobsets = [r for r in _executor_rules(manifest) if "jobsets" in r["resources"]]
        gang_templates = [r["inputs"]["spec"]["templates"] for r in manifest["resources"]
                          if r["inputs"].get("kind") == "WorkflowTemplate"
                          and "parallelflow" in r["inputs"]["metadata"]["name"]]
        if gang:
            assert jobsets == [{"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"],
                                "verbs": ["create", "get"]}]
            resource, = [t for t in gang_templates[0] if "resource" in t]
            role_sa, = {s["name"] for r in manifest["resources"] if r["type"].endswith(
                "rbac.authorization.k8s.io/v1:RoleBinding") for s in r["inputs"]["subjects"]}
            assert resource["serviceAccountName"] == role_sa  # the account the Role is bound to
            item = items["jobset-controller"]
            assert "jobset.x-k8s.io/v1alpha2" in item.needs
            used_by, = item.used_by  # the gang flow's template only
            assert used_by.startswith("WorkflowTemplate ") and "parallelflow" in used_by
        else:
            assert jobsets == [] and gang_templates == [] and "jobset-controller" not in items
