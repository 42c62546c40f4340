"""`flowstacks ls`: offline, and the same names, tokens, deployer role and client snippets as the Pulumi
program's stack outputs; the fingerprint CI uses to pick changed stacks."""

from __future__ import annotations

import json
import shutil

import pytest

from flowstacks.adopt.listing import list_stacks, render_text
from tests.adopt.repos import example_copy, flowstacks
from tests.conftest import EXAMPLE_STACKS, REPO, synthesized


@pytest.fixture(scope="module")
def listing():
    return list_stacks(REPO, list(EXAMPLE_STACKS)).as_json()


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_ls_agrees_with_the_stack_outputs(listing, stack):
    entry = next(s for s in listing["stacks"] if s["stack"] == stack)
    orchestrator = entry["orchestrator"]
    assert orchestrator == {"prod": "step-functions", "prod.staging": "argo"}.get(stack, "argo")
    outputs = synthesized(orchestrator, stack).outputs
    assert entry["production_token"] == outputs["production_token"]
    assert entry["namespace"] == outputs["namespace"]
    assert entry["deployer_role"] == outputs["deployer_role"]
    assert sorted(f["flow"] for f in entry["flows"]) == sorted(outputs["flows"])
    for flow in entry["flows"]:
        exported = outputs["flows"][flow["flow"]]
        assert flow["client"] == exported["metaflow"]
        if orchestrator == "step-functions":
            assert exported["orchestrator_object"].endswith(f":stateMachine:{flow['object']}")
        else:
            assert exported["orchestrator_object"] == flow["object"]


def test_schedules_triggers_and_objects(listing):
    prod = {f["flow"]: f for f in listing["stacks"][0]["flows"]}
    assert prod["RefreshFlow"]["schedule"] == {"cron": "0 0 * * ? *", "timezone": None}
    assert prod["RefreshFlow"]["objects"] == {
        "state_machine": "example_project.prod.RefreshFlow",
        "eventbridge_rule": prod["RefreshFlow"]["objects"]["eventbridge_rule"]}
    assert prod["PublishFlow"]["triggers"] == [{"after": "metaflow.example_project.prod.TrainFlow.end"}]
    assert prod["TrainFlow"]["schedule"] is None and prod["TrainFlow"]["triggers"] == []
    staging = {f["flow"]: f for f in listing["stacks"][1]["flows"]}
    assert set(staging["PublishFlow"]["objects"]) == {"workflow_template", "sensor"}
    assert set(staging["RefreshFlow"]["objects"]) == {"workflow_template", "cron_workflow"}


def test_ls_command_text_and_json(tmp_path):
    """--all is the default; a developer's stack is listed on request; text names every flow."""
    text = flowstacks("ls", "--stack", "user.alice", "--all", cwd=REPO).stdout
    blocks = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert blocks[0] == "project example_project"
    assert [b.split()[0] for b in blocks[1:]] == ["prod", "prod.staging", "test.feature_x", "user.alice"]
    assert text.count("from metaflow import Flow, namespace") == 24
    data = json.loads(flowstacks("ls", "--json", cwd=REPO).stdout)
    assert [s["stack"] for s in data["stacks"]] == ["prod", "prod.staging", "test.feature_x"]
    bad = flowstacks("ls", "--stack", "test.Foo", cwd=REPO, check=False)
    assert bad.returncode == 1 and "lowercase alphanumeric" in bad.stderr


def test_ls_reads_the_token_in_force(tmp_path):
    root = example_copy(tmp_path / "p")
    flowstacks("token", "rotate", "--stack", "test.feature_x", cwd=root)
    after = list_stacks(root, ["test.feature_x"]).stacks[0]
    assert after["production_token"].split("-")[2] == "1"
    assert after["production_token"] != list_stacks(REPO, ["test.feature_x"]).stacks[0]["production_token"]


def test_fingerprints_mark_exactly_the_stacks_a_change_touches(tmp_path):
    """Each variant is its own copy: flows are read once per file and process (as in CI, where every
    `flowstacks ls` is a new process)."""
    base = example_copy(tmp_path / "base")
    stacks = ["prod", "prod.staging", "test.feature_x"]

    def changed(name, edit=None):
        root = example_copy(tmp_path / name)
        if edit:
            path, old, new = edit
            (root / path).write_text((root / path).read_text().replace(old, new))
        return list_stacks(root, stacks, base_project_dir=base).stacks

    same = changed("same")
    assert [s["changed"] for s in same] == [False, False, False]
    assert {s["change"] for s in same} == {"unchanged"}
    # a Config file only the test stacks read
    config = changed("config", ("flowspecs/settings/default.json", "0.5", "0.55"))
    assert [s["changed"] for s in config] == [False, False, True]
    # a step body: every stack deploys the flow's code
    code = changed("code", ("flowspecs/train_flow.py", "self.next(", "self.rows_seen = 0\n        self.next("))
    assert [s["changed"] for s in code] == [True, True, True]
    # the stack file of one stack (its token in force)
    stack_file = changed("stackfile", ("stacks/Pulumi.prod.staging.yaml", "config: {}",
                                       "config:\n  flowstacks:productionTokenIndex: 1"))
    assert [s["changed"] for s in stack_file] == [False, True, False]
    # a base that flowstacks cannot read (before adoption): everything is new
    shutil.rmtree(base / "flowspecs")
    new = list_stacks(tmp_path / "same", ["prod"], base_project_dir=base).stacks[0]
    assert new["changed"] and new["change"].startswith("not deployable in the base checkout")


def test_text_rendering_of_a_change():
    listing = list_stacks(REPO, ["prod"], base_project_dir=REPO)
    assert listing.stacks[0]["changed"] is False
    assert "[unchanged]" in render_text(listing).splitlines()[2]


def test_fingerprint_does_not_depend_on_how_the_project_is_named(tmp_path):
    """CI compares a checkout in the workspace (`.`) with one elsewhere (an absolute path)."""
    root = example_copy(tmp_path / "p")
    prints = {json.loads(flowstacks("ls", "--json", *args, cwd=cwd).stdout)["stacks"][0]["fingerprint"]
              for args, cwd in (((), root), (("--project-dir", str(root)), tmp_path),
                                (("--project-dir", "p"), tmp_path))}
    assert len(prints) == 1
