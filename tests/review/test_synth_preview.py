"""``flowstacks synth --preview``: the plan a first ``pulumi preview`` sees (issue 20). Nothing exists
yet, so what only a create computes (ids, ARNs) is unknown, and so is every input made from it
(a RolePolicy's role, a state machine's role and definition). Offline ``check`` treats those as the
served pack does (unknown: only the checks that need them find nothing), so a planted violation
is found the same with and without --preview, and rules that do not need the unknown still fire."""

from __future__ import annotations

import pytest

import flowstacks.deploy.backends.step_functions as sfn_backend
from flowstacks.policy.check import check_manifest
from flowstacks.synth.engine import synth_stack
from tests.conftest import REPO, synthesized
from tests.review.test_policy_pack_served import UNKNOWN_STRING, offline, pack, served  # noqa: F401

STACK = "test.feature_x"
PLANTED = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Sid": "OtherNamespace", "Effect": "Allow", "Action": ["states:StartExecution"],
     "Resource": ["arn:aws:states:us-east-1:123456789012:stateMachine:example_project.prod.TrainFlow"]},
]}


def _nulls(value, path=""):
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


def _by_name(manifest):
    return {(r["type"], r["name"]): r for r in manifest["resources"]}


def test_preview_leaves_what_a_create_computes_unknown():
    plain = synthesized("step-functions", STACK).manifest()
    preview = synth_stack(REPO, STACK, "step-functions", preview=True).manifest()
    assert preview["preview"] is True and "preview" not in plain
    assert not any(_nulls(r["inputs"]) for r in plain["resources"])
    known, unknown = _by_name(plain), _by_name(preview)
    assert set(known) == set(unknown)  # the same resources
    for key, r in unknown.items():
        if r["type"] == "aws:iam/rolePolicy:RolePolicy":
            assert _nulls(r["inputs"]) == ["role"]  # the role's id: not created yet
        if r["type"] == "aws:sfn/stateMachine:StateMachine":
            # the role ARN and the definition (it names the job definitions' ARNs) are unknown;
            # the name, which flowstacks computes, is known
            assert set(_nulls(r["inputs"])) == {"roleArn", "definition"}
            assert r["inputs"]["name"] == known[key]["inputs"]["name"]
        if r["type"] == "aws:iam/role:Role":
            assert not _nulls(r["inputs"])  # a role's inputs are all computed by flowstacks
    assert preview["outputs"]["deployer_role"] is None  # an ARN: unknown in a preview


@pytest.fixture(scope="module")
def planted():
    """The Step Functions plan of STACK with a wildcard and an out-of-namespace grant planted in
    the execution role, synthesized without and with --preview."""
    patch = pytest.MonkeyPatch()
    real = sfn_backend.sfn_roles

    def with_planted(*args, **kwargs):
        roles = real(*args, **kwargs)
        roles.execution.policies["planted"] = PLANTED
        return roles

    patch.setattr(sfn_backend, "sfn_roles", with_planted)
    try:
        return (synth_stack(REPO, STACK, "step-functions").manifest(),
                synth_stack(REPO, STACK, "step-functions", preview=True).manifest())
    finally:
        patch.undo()


def _mandatory(manifest):
    return sorted((v.rule, v.resource_type, v.resource_name, v.message)
                  for v in check_manifest(manifest) if v.level == "mandatory")


def test_check_finds_the_planted_violations_with_and_without_preview(planted):
    plain, preview = planted
    policy = next(r for r in preview["resources"] if r["name"].endswith("-planted"))
    assert policy["inputs"]["role"] is None  # the rule's input it does not need is unknown
    found = _mandatory(preview)
    assert found == _mandatory(plain)
    rules = {(rule, name) for rule, _, name, _ in found}
    assert ("no-wildcard-iam", policy["name"]) in rules
    assert ("names-in-namespace", policy["name"]) in rules
    assert sum(rule == "no-wildcard-iam" for rule, _, _, _ in found) == 2  # action and resource


def test_a_preview_null_is_unknown_to_check_not_missing():
    """A tag whose value is an output not created yet: unknown in a preview manifest (present,
    not comparable: nothing to report, as the pack does), missing in a manifest not marked so."""
    tags = {"metaflow/production_token": "t", "metaflow/project": "example_project",
            "metaflow/branch": STACK, "flowstacks/stack": None}
    resource = {"type": "aws:iam/role:Role", "name": "r", "inputs": {"tags": tags}}
    manifest = {"stack": STACK, "outputs": {}, "resources": [resource]}
    assert [v.rule for v in check_manifest(manifest)] == ["namespace-tags"]
    assert check_manifest({**manifest, "preview": True}) == []


def _as_engine_unknowns(value):
    if value is None:
        return UNKNOWN_STRING
    if isinstance(value, dict):
        return {k: _as_engine_unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_engine_unknowns(v) for v in value]
    return value


@pytest.mark.parametrize("orchestrator", ["step-functions", "argo"])
def test_the_served_pack_agrees_with_check_on_preview_plans(pack, planted, orchestrator):  # noqa: F811
    manifest = planted[1] if orchestrator == "step-functions" else synth_stack(
        REPO, STACK, orchestrator, preview=True).manifest()
    found = served(pack, manifest, lambda r: _as_engine_unknowns(r["inputs"]))
    assert found == offline(manifest)
    if orchestrator == "step-functions":
        assert any(f[0] == "no-wildcard-iam" for f in found)
