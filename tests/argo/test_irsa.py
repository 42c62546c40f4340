"""The per-namespace IRSA task role: trusted by exactly one service account, least privilege,
tagged, and clean under parliament."""

from __future__ import annotations

import json

import pytest

from flowstacks.iam.irsa import irsa_role, service_account_name
from tests.argo import helpers as h

STACKS = list(h.STACKS.values())


def _role(stack: str):
    ctx = h.context(stack)
    return ctx, irsa_role(ctx, service_account_name(ctx), ctx.config.kubernetes.namespace)


KUBE_NS = {"prod": "metaflow", "test": "metaflow-test", "user": "metaflow-user"}


@pytest.mark.parametrize("stack", STACKS)
def test_trust_admits_exactly_one_service_account(stack):
    ctx, role = _role(stack)
    [st] = role.assume_role_policy["Statement"]
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert st["Principal"] == {"Federated": ctx.config.kubernetes.oidc_provider_arn}
    cond = st["Condition"]
    assert list(cond) == ["StringEquals"]  # no StringLike wildcard on the subject
    issuer = ctx.config.kubernetes.oidc_provider_arn.split(":oidc-provider/")[1]
    assert cond["StringEquals"] == {
        # the stack's own Kubernetes namespace (issue 16: prod's apart from test's and user's)
        f"{issuer}:sub": f"system:serviceaccount:{KUBE_NS[ctx.kind]}:{service_account_name(ctx)}",
        f"{issuer}:aud": "sts.amazonaws.com",
    }


def test_each_namespace_has_its_own_service_account_and_role():
    names = {service_account_name(h.context(s)) for s in STACKS}
    roles = {_role(s)[1].name for s in STACKS}
    assert len(names) == len(roles) == len(STACKS)
    for name in names:
        assert h.DNS1123_SUBDOMAIN.match(name) and len(name) <= 253


@pytest.mark.parametrize("stack", STACKS)
def test_policies_are_narrow_and_tagged(stack):
    ctx, role = _role(stack)
    assert role.tags == ctx.tags
    assert role.tags["metaflow/production_token"] == ctx.production_token
    for document in role.policies.values():
        for st in document["Statement"]:
            assert st["Effect"] == "Allow"
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all("*" not in a for a in actions)
            assert "*" not in st["Resource"]
            assert all(r.startswith("arn:aws:s3:::example-metaflow") for r in st["Resource"])


@pytest.mark.parametrize("stack", STACKS)
def test_parliament_reports_nothing(stack):
    from parliament import analyze_policy_string

    _, role = _role(stack)
    documents = [role.assume_role_policy, *role.policies.values()]
    for doc in documents[1:]:  # trust policies are not identity policies for parliament
        findings = analyze_policy_string(json.dumps(doc)).findings
        assert [f"{f.issue}: {f.detail}" for f in findings] == []


def test_parliament_does_report_a_mismatched_resource():
    from parliament import analyze_policy_string

    # s3:GetObject on a bucket (not object) ARN: the kind of slip the check above would catch
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket"}]}
    assert analyze_policy_string(json.dumps(bad)).findings


def test_role_artifact_format():
    _, role = _role("prod")
    art = json.loads(role.artifact().content)
    assert set(art) == {"role", "assumeRolePolicy", "policies", "tags", "permissionsBoundary"}
    assert art["permissionsBoundary"].endswith(":policy/" + role.name.rsplit("-", 2)[0] + "-boundary")
    assert role.artifact().path == f"iam/{role.name}.json"
