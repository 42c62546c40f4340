"""The mock engine runs a Pulumi program in-process, records resources, and writes atomically."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from flowstacks.render.artifact import Artifact
from flowstacks.synth.engine import StackResult, run_program, synth, write_stack
from tests.conftest import REPO


def tiny_program() -> list[Artifact]:
    role = aws.iam.Role("role", name="mf-role", assume_role_policy="{}", tags={"k": "v"},
                        opts=pulumi.ResourceOptions(protect=True))
    machine = aws.sfn.StateMachine("sm", name="example_project.prod.ProjectFlow",
                                   role_arn=role.arn, definition="{}")
    pulumi.export("machine", machine.arn)
    return [Artifact("notes/hello.txt", "hi\n")]


def test_run_program_records_inputs_and_realistic_outputs():
    artifacts, monitor = run_program("prod", tiny_program, region="eu-west-1", account="111122223333")
    by_type = {r.type: r for r in monitor.recorded}
    role, machine = by_type["aws:iam/role:Role"], by_type["aws:sfn/stateMachine:StateMachine"]
    assert role.protect and not machine.protect
    assert role.inputs["tags"] == {"k": "v"}
    # the mock provider answered with a real-looking ARN that flowed into the next resource
    assert machine.inputs["roleArn"] == "arn:aws:iam::111122223333:role/mf-role"
    assert monitor.stack_outputs["machine"] == (
        "arn:aws:states:eu-west-1:111122223333:stateMachine:example_project.prod.ProjectFlow")
    assert artifacts == [Artifact("notes/hello.txt", "hi\n")]


def test_write_stack_manifest(tmp_path):
    _, monitor = run_program("test.x", tiny_program)
    result = StackResult("test.x", "example_project", monitor.recorded, monitor.stack_outputs,
                         [Artifact("a/b.txt", "x")])
    write_stack(result, tmp_path / "test.x")
    manifest = json.loads((tmp_path / "test.x" / "manifest.json").read_text())
    assert manifest["stack"] == "test.x" and manifest["project"] == "example_project"
    assert [r["type"] for r in manifest["resources"]] == ["aws:iam/role:Role",
                                                          "aws:sfn/stateMachine:StateMachine"]
    assert set(manifest["resources"][0]) == {"type", "name", "inputs", "protect", "urn", "parent"}
    assert manifest["resources"][0]["urn"] == "urn:pulumi:test.x::flowstacks::aws:iam/role:Role::role"
    assert (tmp_path / "test.x" / "a" / "b.txt").read_text() == "x"


FLOW = """
from metaflow import FlowSpec, project, step

@project(name='zc')
class ZeroFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_failing_synth_leaves_no_output(tmp_path, monkeypatch):
    (tmp_path / "flowspecs").mkdir()
    (tmp_path / "flowspecs" / "zero_flow.py").write_text(FLOW)
    out = tmp_path / "build"
    (out / "prod").mkdir(parents=True)
    (out / "prod" / "old.txt").write_text("previous run")
    calls = []

    def fake_synth_stack(project_dir, stack, orchestrator=None, artifact_dir=None, preview=False):
        calls.append(stack)
        if stack == "test.b":
            raise RuntimeError("boom in the second stack")
        _, monitor = run_program(stack, tiny_program)
        return StackResult(stack, "zc", monitor.recorded, monitor.stack_outputs, [])

    monkeypatch.setattr("flowstacks.synth.engine.synth_stack", fake_synth_stack)
    with pytest.raises(RuntimeError):
        synth(tmp_path, ["prod", "test.b"], out)
    assert calls == ["prod", "test.b"]
    # the earlier output is untouched and no staging folder is left behind
    assert (out / "prod" / "old.txt").read_text() == "previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "flowspecs"]


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowstacks.cli", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


@pytest.mark.parametrize("args,needle", [
    (["synth", "--stack", "staging"], "'staging' is not a Metaflow namespace"),
    (["synth", "--stack", "test.Foo"], "The branch name must contain only lowercase"),
    (["synth"], "name at least one --stack, or --all"),
    (["synth", "--stack", "prod", "--orchestrator", "lambda"], "unknown orchestrator 'lambda'"),
    (["names", "no_such_flow.py"], "no such flow file"),
    (["names", "flowspecs/project_flow.py", "--config", "oops"], "is not NAME=FILE"),
])
def test_cli_user_errors_exit_1_without_traceback(args, needle, tmp_path):
    proc = _cli(*args, "--project-dir", str(REPO), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "build").exists()


def test_stack_init_prints_metaflow_user(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "USER": "root", "USERNAME": "bob"}
    proc = subprocess.run([sys.executable, "-m", "flowstacks.cli", "stack", "init"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "user.bob"
    assert not (tmp_path / "stacks").exists()


@pytest.mark.parametrize("user", ["alice@corp.com", "carol+ci", "bob smith", "Jürgen", "y" * 120])
def test_stack_init_gives_pulumi_valid_names_and_records_the_metaflow_user(user, tmp_path):
    import re
    import shlex

    import yaml

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "USER": user, "LANG": "C.UTF-8"}
    proc = subprocess.run([sys.executable, "-m", "flowstacks.cli", "stack", "init", "--write",
                           "--project-dir", str(tmp_path)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    (stack,) = shlex.split(proc.stdout)
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", stack), stack
    assert f"Metaflow namespace: user.{user}" in proc.stderr
    written = yaml.safe_load((tmp_path / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    assert written == {"config": {"flowstacks:metaflowUser": user}}


@pytest.mark.parametrize("orchestrator", ["step-functions", "argo", "airflow"])
def test_flows_registered_in_batches_give_the_same_stack(orchestrator, monkeypatch):
    """A batch of one flow: each flow's resources are registered before the next flow's are
    created (memory bounded by the batch), and the stack is the same as with no batching."""
    from flowstacks.synth.engine import synth_stack
    from tests.conftest import synthesized

    whole = synthesized(orchestrator, "prod")
    monkeypatch.setattr("flowstacks.deploy.backends.FLOW_BATCH", 1)
    batched = synth_stack(REPO, "prod", orchestrator)
    assert batched.manifest_text() == whole.manifest_text()
    assert [(a.path, a.content) for a in batched.artifacts] == [
        (a.path, a.content) for a in whole.artifacts]
    # registration order: with batches of one flow, per-flow components do not all come first
    components = {"step-functions": "flowstacks:sfn:Flow", "argo": "flowstacks:argo:Flow",
                  "airflow": "flowstacks:airflow:Dag"}[orchestrator]
    order = [r.type for r in batched.resources]
    last_flow_component = max(i for i, t in enumerate(order) if t == components)
    assert order.index(components) < order.index("aws:s3/bucketObjectv2:BucketObjectv2") \
        < last_flow_component
