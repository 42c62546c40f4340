"""The opt-in platform stack: shared tables (an opt-in of their own), namespaces and Argo Events objects every namespace
uses, planned from the stacks' resolved settings and created protected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

from flowstacks.cli import main as cli_main
from flowstacks.deploy.platform_stack import plan_platform
from flowstacks.errors import FlowstacksError
from flowstacks.load.project import ProjectDir
from flowstacks.synth.engine import synth_stack

CONFIG = "flowstacks_config.py"


def _project(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "flowspecs", root / "flowspecs")
    config = root / "flowspecs" / CONFIG
    text = config.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)
    return root


ENABLE = ('kubernetes=Kubernetes(namespace="metaflow"),',
          'kubernetes=Kubernetes(namespace="metaflow", argo_events_sensor_namespace="argo-events"),\n'
          '    platform_stack=True,')
# the opt-in to shared foreach-state tables (by default every Step Functions stack owns its own)
SHARED = ('batch_job_queue="metaflow-prod-queue",',
          'batch_job_queue="metaflow-prod-queue", dynamodb_table="metaflow-sfn-state", '
          'dynamodb_table_layout="shared",')
SHARED_PROD = ('platform_overrides={"prod": Platform(',
               'platform_overrides={"prod": Platform(dynamodb_table="metaflow-sfn-state-prod", ')


def test_plan_follows_the_stacks_settings(tmp_path):
    plan = plan_platform(ProjectDir(_project(tmp_path, ENABLE)))
    assert plan.tables == ()  # prod is on Step Functions, in its own table (issue 16)
    # the pods' namespaces (one per class) and the sensors' namespace
    assert plan.namespaces == ("argo-events", "metaflow", "metaflow-test", "metaflow-user")
    assert plan.buses == (("argo-events", "default"),)
    source, = plan.sources
    # the EventSource serves exactly the URL tasks post to
    assert (source.namespace, source.name, source.event, source.port, source.endpoint) == (
        "argo-events", "argo-events-webhook", "metaflow-event", 12000, "/metaflow-event")
    assert plan.elsewhere == ()


def test_another_account_is_listed_not_created(tmp_path):
    root = _project(tmp_path, ENABLE, SHARED, SHARED_PROD, (
        'platform_overrides={"prod": Platform(',
        'platform_overrides={"test": Platform(account_id="210987654321"), "prod": Platform('),
        ('orchestrators=OrchestratorChoice(user="argo", test="argo", prod="step-functions"),',
         'orchestrators=OrchestratorChoice(user="argo", test="step-functions", prod="step-functions"),'))
    plan = plan_platform(ProjectDir(root))
    assert plan.tables == ("metaflow-sfn-state-prod",)
    assert plan.elsewhere == ("DynamoDB table metaflow-sfn-state in 210987654321/us-east-1 "
                              "(stack 'test.feature_x')",)


def test_synthesized_objects_are_protected_and_match_the_plan(tmp_path):
    root = _project(tmp_path, ENABLE, SHARED, SHARED_PROD)
    project = ProjectDir(root)
    manifest = synth_stack(project, "platform").manifest()
    custom = [r for r in manifest["resources"]
              if not r["type"].startswith(("flowstacks:", "pulumi:providers:"))]
    assert custom and all(r["protect"] for r in custom)
    # created with pinned providers (the prod class's account and region), not Pulumi's defaults
    aws_provider = next(r for r in manifest["resources"] if r["type"] == "pulumi:providers:aws")
    assert aws_provider["inputs"]["region"] == "us-east-1"
    assert "123456789012" in aws_provider["inputs"]["allowedAccountIds"]
    by_type = {}
    for r in custom:
        by_type.setdefault(r["type"].rsplit(":", 1)[-1], []).append(r["inputs"])
    table, = by_type["Table"]
    assert table["hashKey"] == "pathspec" and table["attributes"] == [
        {"name": "pathspec", "type": "S"}] and table["ttl"] == {"attributeName": "ttl",
                                                                "enabled": True}
    assert sorted(n["metadata"]["name"] for n in by_type["Namespace"]) == [
        "argo-events", "metaflow", "metaflow-test", "metaflow-user"]
    source, = by_type["EventSource"]
    hook = source["spec"]["webhook"]["metaflow-event"]
    assert hook == {"port": "12000", "endpoint": "/metaflow-event", "method": "POST"}
    assert source["spec"]["eventBusName"] == "default"
    # the Argo stacks' sensors wait on the bus and source this stack creates
    argo = synth_stack(project, "test.feature_x").manifest()
    sensor = next(r["inputs"] for r in argo["resources"] if r["type"].endswith(":Sensor"))
    assert sensor["metadata"]["namespace"] == source["metadata"]["namespace"]
    assert {d["eventSourceName"] for d in sensor["spec"]["dependencies"]} == {
        source["metadata"]["name"]}
    assert {d["eventName"] for d in sensor["spec"]["dependencies"]} <= set(
        source["spec"]["webhook"])


def test_synth_all_includes_it_only_when_enabled(tmp_path, capsys):
    root = _project(tmp_path, ENABLE)
    assert cli_main(["synth", "--all", "--quiet", "--project-dir", str(root),
                     "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "platform" / "manifest.json").exists()
    assert cli_main(["synth", "--all", "--quiet", "--project-dir", str(REPO),
                     "--out", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "platform").exists()


def test_opt_in_and_mismatch_are_clear_errors(tmp_path, capsys):
    assert cli_main(["synth", "--stack", "platform", "--project-dir", str(REPO),
                     "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "opt-in" in err and "platform_stack=True" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    root = _project(tmp_path, ('kubernetes=Kubernetes(namespace="metaflow"),',
                               'kubernetes=Kubernetes(namespace="metaflow", argo_events_webhook_url='
                               '"http://argo-events-webhook-eventsource-svc.argo-events:12000/e"), '
                               'platform_stack=True,'))
    with pytest.raises(FlowstacksError) as exc:
        plan_platform(ProjectDir(root))
    assert "never arrive" in exc.value.message and "argo_events_webhook_url" in exc.value.where


def test_stacks_sync_writes_its_stack_file(tmp_path, capsys):
    root = _project(tmp_path, ENABLE)
    assert cli_main(["stacks", "sync", "--project-dir", str(root)]) == 0
    assert (root / "stacks" / "Pulumi.platform.yaml").exists()
    assert cli_main(["stacks", "check", "--project-dir", str(root)]) == 0
    # turned off again: the file is reported stale, not misread as a namespace
    config = root / "flowspecs" / CONFIG
    config.write_text(config.read_text().replace("platform_stack=True", "platform_stack=False"))
    capsys.readouterr()
    assert cli_main(["stacks", "check", "--project-dir", str(root)]) == 1
    assert "Pulumi.platform.yaml: stale" in capsys.readouterr().err
