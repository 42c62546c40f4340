"""Namespace isolation, proved on the generated IAM documents of the example matrix.

For every ordered pair of namespaces (A, B) and every backend: no role of A can start, update,
delete or read the state of B's orchestrator objects, nor pass or change B's roles; and every
role trusts only its intended service or service account.
"""

from __future__ import annotations

import itertools
import json

import pytest

from flowstacks.iam.evaluate import Request, allows, trusted_principals
from tests.conftest import EXAMPLE_STACKS, ORCHESTRATORS, synthesized

REGION, ACCOUNT = "us-east-1", "123456789012"
SENSITIVE = {
    "states": ["states:StartExecution", "states:StartSyncExecution", "states:UpdateStateMachine",
               "states:DeleteStateMachine", "states:DescribeStateMachine", "states:DescribeExecution",
               "states:GetExecutionHistory", "states:StopExecution", "states:TagResource"],
    "events": ["events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets",
               "events:DisableRule", "events:EnableRule"],
    # RegisterJobDefinition only adds a revision; the revision a state machine runs is pinned.
    "batch": ["batch:SubmitJob", "batch:DeregisterJobDefinition"],
    "iam": ["iam:PassRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole",
            "iam:AttachRolePolicy"],
}


def objects(result) -> list[tuple[str, str, dict]]:
    """(service, ARN, tags) of every orchestrator object and role a stack creates."""
    out = []
    for r in result.manifest()["resources"]:
        i, t = r["inputs"], r["inputs"].get("tags") or {}
        if r["type"] == "aws:sfn/stateMachine:StateMachine":
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{i['name']}"
            out += [("states", arn, t),
                    ("states", f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{i['name']}:sfn-1", t)]
        elif r["type"] == "aws:cloudwatch/eventRule:EventRule":
            out.append(("events", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{i['name']}", t))
        elif r["type"] == "aws:batch/jobDefinition:JobDefinition":
            out.append(("batch", f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{i['name']}:1", t))
        elif r["type"] == "aws:iam/role:Role":
            out.append(("iam", f"arn:aws:iam::{ACCOUNT}:role/{i['name']}", t))
    return out


def role_documents(result) -> dict[str, dict]:
    return {a.path: json.loads(a.content) for a in result.artifacts if a.path.startswith("iam/")}


PAIRS = [(o, a, b) for o in ORCHESTRATORS for a, b in itertools.permutations(EXAMPLE_STACKS, 2)]


@pytest.mark.parametrize("orchestrator,a,b", PAIRS, ids=[f"{o}:{a}->{b}" for o, a, b in PAIRS])
def test_no_role_of_a_reaches_b(orchestrator, a, b):
    roles = role_documents(synthesized(orchestrator, a))
    targets = objects(synthesized(orchestrator, b))
    assert roles, f"{a} has no role documents"
    reach = []
    for path, role in roles.items():
        docs = list(role["policies"].values())
        for service, arn, tags in targets:
            for action in SENSITIVE[service]:
                if allows(docs, Request(action, arn, tags)):
                    reach.append(f"{role['role']} -> {action} {arn}")
    assert reach == [], "\n".join(reach)


@pytest.mark.parametrize("orchestrator,stack", [(o, s) for o in ORCHESTRATORS for s in EXAMPLE_STACKS])
def test_roles_trust_only_intended_principals(orchestrator, stack):
    result = synthesized(orchestrator, stack)
    for path, role in role_documents(result).items():
        principals = trusted_principals(role["assumeRolePolicy"])
        assert principals, path
        for p in principals:
            assert p != "*", f"{path} trusts anyone"
            kind, _, rest = p.partition(":")
            assert kind in ("Service", "Federated"), f"{path} trusts {p}"
            if kind == "Service":
                assert rest.endswith(".amazonaws.com")
            else:  # web identity: exactly one subject of this stack
                assert "sub=[" in rest and (stack in rest or "system:serviceaccount:" in rest), p


def test_evaluator_is_not_vacuous():
    """The evaluator does find reach when a role is given it (guards against a test that
    cannot fail)."""
    doc = {"Statement": [{"Effect": "Allow", "Action": "states:StartExecution",
                          "Resource": "arn:aws:states:*:*:stateMachine:example_project.prod.*"}]}
    req = Request("states:StartExecution",
                  "arn:aws:states:us-east-1:1:stateMachine:example_project.prod.TrainFlow", {})
    assert allows([doc], req)
    deny = {"Statement": [{"Effect": "Deny", "Action": "states:*", "Resource": "*"}]}
    assert not allows([doc, deny], req)
    tagged = {"Statement": [{**doc["Statement"][0], "Condition": {"StringEquals": {
        "aws:ResourceTag/metaflow/branch": "test.x"}}}]}
    assert not allows([tagged], Request(req.action, req.resource, {"metaflow/branch": "prod"}))
    assert allows([tagged], Request(req.action, req.resource, {"metaflow/branch": "test.x"}))


def test_if_exists_conditions():
    st = {"Effect": "Allow", "Action": "events:PutRule", "Resource": "*", "Condition": {
        "StringEqualsIfExists": {"aws:ResourceTag/metaflow/branch": "prod"}}}
    assert allows([{"Statement": [st]}], Request("events:PutRule", "arn:r", {}))
    assert allows([{"Statement": [st]}], Request("events:PutRule", "arn:r", {"metaflow/branch": "prod"}))
    assert not allows([{"Statement": [st]}], Request("events:PutRule", "arn:r", {"metaflow/branch": "test.x"}))


@pytest.mark.parametrize("orchestrator,stack", [(o, s) for o in ORCHESTRATORS for s in EXAMPLE_STACKS])
def test_parliament_finds_nothing(orchestrator, stack):
    from parliament import analyze_policy_string

    findings = []
    for path, role in role_documents(synthesized(orchestrator, stack)).items():
        for name, doc in role["policies"].items():
            policy = analyze_policy_string(json.dumps(doc))
            findings += [f"{path} {name}: {f.issue} {f.detail}" for f in policy.findings]
    assert findings == [], "\n".join(findings)
