"""The rules on inputs with unknown values (a first preview, or "[secret]" offline): a check
that needs the unknown finds nothing, the others still run, nothing crashes (issue 20)."""

from __future__ import annotations

import json

import pytest

from flowstacks.policy.check import check_manifest
from flowstacks.policy.crossguard import plain_inputs
from flowstacks.policy.rules import UNKNOWN, Resource, StackInfo, evaluate
from flowstacks.synth.engine import SECRET_MARK
from flowstacks.policy import check

TEST = StackInfo("test.feat")
TAGS = {"metaflow/production_token": "mfprj-x-0-abcd", "metaflow/project": "example_project",
        "metaflow/branch": "test.feat", "flowstacks/stack": "test.feat"}
WIDE = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def rules_hit(res: Resource) -> list[str]:
    return sorted(v.rule for v in evaluate([res], TEST))


@pytest.mark.parametrize("inputs,expected", [
    # the role unknown, the policy known: the wildcard is still flagged (twice: action, resource)
    ({"role": UNKNOWN, "policy": WIDE}, ["no-wildcard-iam", "no-wildcard-iam"]),
    ({"role": "r", "policy": UNKNOWN}, []),
])
def test_role_policy(inputs, expected):
    assert rules_hit(Resource("aws:iam/rolePolicy:RolePolicy", "p", inputs)) == expected


def test_role_with_unknown_parts():
    role = "aws:iam/role:Role"
    assert rules_hit(Resource(role, "r", {"tags": UNKNOWN, "inlinePolicies": UNKNOWN})) == []
    # an unknown tag is present, not missing; a known wrong one is still reported
    tags = {**TAGS, "metaflow/production_token": UNKNOWN, "metaflow/branch": "prod"}
    assert rules_hit(Resource(role, "r", {"tags": tags, "inlinePolicies": [
        UNKNOWN, {"name": "x", "policy": WIDE}]})) == ["namespace-tags"] + ["no-wildcard-iam"] * 2


def test_names_and_targets():
    sm = Resource("aws:sfn/stateMachine:StateMachine", "sm",
                  {"name": UNKNOWN, "tags": TAGS, "definition": UNKNOWN})
    assert rules_hit(sm) == []
    outside = Resource("aws:sfn/stateMachine:StateMachine", "sm",
                       {"name": "other.prod.F", "tags": TAGS, "definition": UNKNOWN})
    assert rules_hit(outside) == ["names-in-namespace"]
    target = Resource("aws:cloudwatch/eventTarget:EventTarget", "t", {"arn": UNKNOWN, "rule": "x"})
    assert rules_hit(target) == []


@pytest.mark.parametrize("kind", ["WorkflowTemplate", "Sensor", "CronWorkflow"])
def test_argo_objects_with_unknown_parts(kind):
    typ = f"kubernetes:argoproj.io/v1alpha1:{kind}"
    meta = {"name": "x", "annotations": {"metaflow/branch_name": "test.feat"}}
    for spec in (UNKNOWN, {"templates": UNKNOWN, "triggers": UNKNOWN},
                 {"templates": [UNKNOWN, {"name": "s", "container": {}, "retryStrategy": UNKNOWN,
                                          "activeDeadlineSeconds": UNKNOWN}],
                  "triggers": [UNKNOWN, {"template": UNKNOWN}]}):
        assert rules_hit(Resource(typ, "x", {"kind": kind, "metadata": meta, "spec": spec})) == []
    # a known gap is still reported: no deadline, and a retry limit of 0
    known = {"templates": [{"name": "s", "container": {}, "retryStrategy": {"limit": 0}}]}
    hits = rules_hit(Resource(typ, "x", {"kind": kind, "metadata": meta, "spec": known}))
    assert hits == (["flow-without-timeout", "steps-without-retry"] if kind == "WorkflowTemplate"
                    else [])
    # the metadata unknown: the branch cannot be known, so it is not reported
    assert rules_hit(Resource(typ, "x", {"kind": kind, "metadata": UNKNOWN, "spec": UNKNOWN})) == []


def test_offline_secret_mark_is_unknown():
    assert check.SECRET_MARK == SECRET_MARK
    manifest = {"stack": "test.feat", "resources": [
        {"type": "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "name": "w",
         "inputs": {"kind": "WorkflowTemplate", "spec": SECRET_MARK,
                    "metadata": {"name": "w", "annotations": {"metaflow/branch_name": "prod"}}}},
    ]}
    # no crash; the known, wrong branch is still reported
    assert [v.rule for v in check_manifest(manifest)] == ["names-in-namespace"]


def test_plain_inputs_reads_crossguards_proxies():
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    props = unknown_checking_proxy({"role": UNKNOWN_STRING_VALUE, "tags": {"a": UNKNOWN_STRING_VALUE},
                                    "list": [1, UNKNOWN_STRING_VALUE, {"b": "c"}]})
    assert plain_inputs(props) == {"role": UNKNOWN, "tags": {"a": UNKNOWN},
                                   "list": [1, UNKNOWN, {"b": "c"}]}
