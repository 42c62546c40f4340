"""Example values are refused on a real deploy (issue 15/20): outside a preview (``pulumi up``), a stack
whose account is 123456789012, whose cluster OIDC provider ends in /id/EXAMPLE or whose CI subject
is still repo:example-org/example-repo fails with one message naming every such field and where it
is set; ``flowstacks synth`` still works and says in one line that its output uses them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flowstacks.deploy.program import main
from flowstacks.errors import FlowstacksError
from flowstacks.load.project import ProjectDir
from flowstacks.synth.engine import run_program
from tests.conftest import REPO

REAL_PLATFORM = '''region="us-east-1",
        account_id="210987654321",
        oidc_provider_arn="arn:aws:iam::210987654321:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/C0FFEE",'''
REAL_DEPLOYER = '''
CONFIG = CONFIG.model_copy(update={"deployer": Deployer(
    oidc_provider_arn="arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com",
    subject_template="repo:acme/ml-flows:environment:{stack}")})
'''


def _copy(tmp_path: Path) -> Path:
    for name in ("flowspecs", "stacks"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _real(tmp_path: Path, deployer: bool = True) -> Path:
    project = _copy(tmp_path)
    path = project / "flowspecs" / "flowstacks_config.py"
    text = path.read_text(encoding="utf-8")
    old = 'region="us-east-1",\n        account_id="123456789012",'
    assert old in text
    text = text.replace(old, REAL_PLATFORM)
    if deployer:
        text = "from flowstacks.model.config import Deployer\n" + text + REAL_DEPLOYER
    path.write_text(text, encoding="utf-8")
    return project


def _deploy(project: Path, stack: str, orchestrator: str, preview: bool):
    return run_program(stack, lambda: main(ProjectDir(project, orchestrator), offline=True),
                       preview=preview)


def test_up_refuses_every_example_value_at_once():
    with pytest.raises(FlowstacksError) as err:
        _deploy(REPO, "test.feature_x", "argo", preview=False)
    text = err.value.render()
    assert err.value.where == "stack 'test.feature_x'"
    assert "aws.account_id = '123456789012' (set by platform.account_id in flowspecs/flowstacks_config.py)" in text
    assert ("kubernetes.oidc_provider_arn = 'arn:aws:iam::123456789012:oidc-provider/oidc.eks."
            "us-east-1.amazonaws.com/id/EXAMPLE' (flowstacks' default; set platform.oidc_provider_arn "
            "in flowspecs/flowstacks_config.py)") in text
    assert "deployer.subject_template = 'repo:example-org/example-repo:environment:{stack}'" in text
    assert "deployer.oidc_provider_arn" in text


def test_step_functions_stacks_do_not_need_the_cluster_oidc_provider():
    with pytest.raises(FlowstacksError) as err:
        _deploy(REPO, "prod", "step-functions", preview=False)
    assert "kubernetes.oidc_provider_arn" not in err.value.message
    assert "aws.account_id" in err.value.message


def test_preview_and_synth_keep_working_with_example_values():
    _, monitor = _deploy(REPO, "test.feature_x", "argo", preview=True)
    assert monitor.stack_outputs["flows"]


def test_up_with_real_values_deploys(tmp_path):
    project = _real(tmp_path)
    _, monitor = _deploy(project, "test.feature_x", "argo", preview=False)
    assert len(monitor.stack_outputs["flows"]) == 6


def test_only_the_fields_left_are_named(tmp_path):
    project = _real(tmp_path, deployer=False)
    with pytest.raises(FlowstacksError) as err:
        _deploy(project, "test.feature_x", "argo", preview=False)
    assert "deployer.subject_template" in err.value.message
    assert "aws.account_id" not in err.value.message
    assert "kubernetes.oidc_provider_arn" not in err.value.message


def test_synth_prints_one_line_naming_the_example_fields(tmp_path, capsys):
    from flowstacks.cli.app import run_app

    code = run_app(["synth", "--stack", "prod", "--stack", "test.feature_x", "--out",
                    str(tmp_path / "out"), "--quiet", "--project-dir", str(REPO)])
    assert code in (0, None)
    lines = [line for line in capsys.readouterr().err.splitlines() if "example values" in line]
    assert len(lines) == 1
    # prod runs on Step Functions: only test.feature_x uses the cluster's OIDC provider
    assert "kubernetes.oidc_provider_arn (test.feature_x)" in lines[0]
    assert "aws.account_id," in lines[0] and "deployer.subject_template" in lines[0]
    assert (tmp_path / "out" / "prod" / "manifest.json").exists()


def test_synth_of_real_values_prints_no_note(tmp_path, capsys):
    from flowstacks.cli.app import run_app

    project = _real(tmp_path / "p")
    code = run_app(["synth", "--stack", "prod", "--out", str(tmp_path / "out"), "--quiet",
                    "--project-dir", str(project)])
    assert code in (0, None)
    assert "example values" not in capsys.readouterr().err
