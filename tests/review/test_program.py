"""The Pulumi program (what `pulumi up -s <stack>` runs) under mocks, for every stack kind:
exports per flow, protection of prod, the token in force."""

from __future__ import annotations

import pytest

from flowstacks.naming.deployers import production_token, token_prefix
from tests.conftest import EXAMPLE_STACKS, ORCHESTRATORS, synthesized


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_exports_and_protection(orchestrator, stack):
    result = synthesized(orchestrator, stack)
    out = result.outputs
    token = production_token(token_prefix("example_project", stack), 0)
    assert out["production_token"] == token
    assert out["namespace"] == f"production:{token}"
    assert out["orchestrator"] == orchestrator
    assert sorted(out["flows"]) == ["FeaturesFlow", "ProjectFlow", "PublishFlow", "RefreshFlow",
                                    "ScoringFlow", "TrainFlow"]
    train = out["flows"]["TrainFlow"]
    assert train["namespace"] == f"production:{token}"
    assert f"namespace('production:{token}')" in train["metaflow"]
    assert f"project_branch:{stack}" in train["metaflow"]
    expected_object = {
        "step-functions": f"arn:aws:states:us-east-1:123456789012:stateMachine:example_project.{stack}.TrainFlow",
        "argo": None, "airflow": f"example_project.{stack}.TrainFlow"}[orchestrator]
    if expected_object:
        assert train["orchestrator_object"] == expected_object
    else:
        assert train["orchestrator_object"].endswith("trainflow")
    # every cloud resource of a prod namespace is protected, except the code packages, which are
    # retained instead (a new version is a new object; the old one stays in S3)
    protected = {r.protect for r in result.resources if r.custom and not r.retain
                 and not r.type.startswith("pulumi:providers:")}  # providers hold no cloud object
    assert protected == ({True} if stack.startswith("prod") else {False})
    retained = [r for r in result.resources if r.custom and r.retain]
    assert len(retained) == 6 and not any(r.protect for r in retained)
    assert out["deployer_role"].endswith(f"{token_prefix('example_project', stack)}-deployer")
    assert "SUMMARY.md" in {a.path for a in result.artifacts}


def _run_entry_point(stack: str, config: dict[str, str]):
    """``infra/__main__.py`` as the Pulumi CLI runs it (module code, then ``pulumi.run``'s
    asynchronous program), under the mock engine."""
    import runpy

    from flowstacks.synth.engine import run_program
    from tests.conftest import REPO

    return run_program(stack, lambda: runpy.run_path(str(REPO / "infra" / "__main__.py"),
                                                     run_name="__main__"), config=config)


def test_entry_point_runs_the_asynchronous_program():
    from tests.conftest import REPO

    _, monitor = _run_entry_point("test.feature_x", {
        "projectDir": str(REPO), "orchestrator": "argo", "offline": "true"})
    assert monitor.stack_outputs["namespace"].startswith("production:mfprj-")
    kinds = {r.type for r in monitor.recorded}
    assert "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate" in kinds
    assert len(monitor.stack_outputs["flows"]) == 6


def test_entry_point_reports_a_user_error_without_traceback(tmp_path):
    from pulumi.errors import RunError

    (tmp_path / "flowspecs").mkdir()
    (tmp_path / "flowspecs" / "broken_flow.py").write_text("this is not python\n")
    with pytest.raises(RunError, match="config or flows are invalid"):
        _run_entry_point("prod", {"projectDir": str(tmp_path), "orchestrator": "argo",
                                  "offline": "true"})
