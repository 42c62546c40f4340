"""The Pulumi program (what `pulumi up -s <stack>` runs) under mocks, for every stack kind:
exports per flow, protection of prod, the token in force."""

from __future__ import annotations

import pytest

from infra.naming.deployers import production_token, token_prefix
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
    protected = {r.protect for r in result.resources if r.custom}
    assert protected == ({True} if stack.startswith("prod") else {False})
    assert out["deployer_role"].endswith(f"{token_prefix('example_project', stack)}-deployer")
    assert "SUMMARY.md" in {a.path for a in result.artifacts}
