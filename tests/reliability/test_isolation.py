"""Namespace isolation, proved on the generated stacks of the example matrix (issue 16).

For every ordered pair of namespaces (A, B) and every backend, no identity of A reaches any
resource class of B (tests/reliability/isolation_matrix.py: orchestrator objects, S3 keys of
code packages, artifacts, cards, uploads and DAG files, DynamoDB items, Kubernetes RBAC,
trigger subscriptions, escalation through the deployer or the boundary); the table is
docs/isolation.md, generated. Every role trusts only its intended service or service account;
`pulumi destroy` of a branch stack spares what prod needs; parliament finds nothing.
"""

from __future__ import annotations

import itertools
import json
import os
from functools import lru_cache

import pytest

from flowstacks.iam.evaluate import Request, allows, trusted_principals
from tests.conftest import EXAMPLE_STACKS, ORCHESTRATORS, synthesized
from tests.reliability import isolation_matrix as im

REGION, ACCOUNT = "us-east-1", "123456789012"


def role_documents(result) -> dict[str, dict]:
    return {a.path: json.loads(a.content) for a in result.artifacts if a.path.startswith("iam/")}


PAIRS = [(o, a, b) for o in ORCHESTRATORS for a, b in itertools.permutations(EXAMPLE_STACKS, 2)]


@lru_cache(maxsize=None)
def rows(orchestrator: str) -> dict[tuple[str, str], dict]:
    """The proof's matrix for one backend: (A, B) -> its row (tests/reliability/isolation_matrix.py)."""
    return {(r["from"], r["to"]): r for r in im.matrix([orchestrator], EXAMPLE_STACKS)}


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator,a,b", PAIRS, ids=[f"{o}:{a}->{b}" for o, a, b in PAIRS])
def test_no_identity_of_a_reaches_b(orchestrator, a, b):
    """Every resource class of B (orchestrator objects, S3 keys of every class, DynamoDB items
    and table, Kubernetes objects, trigger subscriptions, roles and boundary) is out of reach of
    every identity of A."""
    row = rows(orchestrator)[(a, b)]
    reach = {k: v for k, v in row["details"].items() if v}
    assert reach == {}, json.dumps(reach, indent=1)[:4000]


def test_each_step_functions_stack_owns_its_foreach_table():
    """Issue 16: Metaflow keys foreach state by a Batch job id that names no namespace, so each
    stack keeps it in a table of its own: created by the stack (hash key pathspec, TTL on ttl,
    on demand, encrypted), the only table its roles and boundary name, no other stack's; and the
    evaluator does find reach where a role names a table (its own)."""
    owned = {}
    for stack in EXAMPLE_STACKS:
        [table] = [r["inputs"] for r in im.manifest("step-functions", stack)["resources"]
                   if r["type"] == "aws:dynamodb/table:Table"]
        assert table["name"] == f"example_project.{stack}.sfn-state"
        assert (table["hashKey"], table["attributes"], table["ttl"], table["billingMode"],
                table["serverSideEncryption"]) == (
            "pathspec", [{"name": "pathspec", "type": "S"}],
            {"attributeName": "ttl", "enabled": True}, "PAY_PER_REQUEST", {"enabled": True})
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table['name']}"
        assert im.dynamodb_items("step-functions", stack) == [arn]
        named = {r for d in im.role_documents("step-functions", stack)
                 for p in d["policies"].values() for st in p["Statement"]
                 for r in st["Resource"] if ":dynamodb:" in r}
        boundary = {r for st in im.boundary_document("step-functions", stack)["document"]["Statement"]
                    for r in st["Resource"] if ":dynamodb:" in r}
        assert named == boundary == {arn}
        owned[stack] = arn
        # not vacuous: the stack's own roles do reach its own items, its deployer its table
        assert im.reach_dynamodb("step-functions", stack, stack)
    assert len(set(owned.values())) == len(EXAMPLE_STACKS)
    # Argo and Airflow stacks keep no foreach state in DynamoDB: their boundary names no table
    for o in ("argo", "airflow"):
        assert "dynamodb" not in json.dumps(im.boundary_document(o, "prod")["document"])


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_every_class_is_examined(orchestrator):
    """0 reaches means something was looked at: each class that exists on a backend has
    resources in the matrix."""
    looked = {c: sum(r["examined"][c] for r in rows(orchestrator).values()) for c in im.CLASSES}
    applies = {"orchestrator", "code package", "artifacts", "cards", "uploads", "escalation"}
    applies |= {"step-functions": {"DynamoDB items", "triggers"}, "argo": {"k8s RBAC", "triggers"},
                "airflow": {"k8s RBAC", "DAG files"}}[orchestrator]
    assert {c for c, n in looked.items() if n} == applies, looked


@pytest.mark.parametrize("orchestrator,stack", [(o, s) for o in ORCHESTRATORS for s in EXAMPLE_STACKS])
def test_deployer_cannot_escalate_in_its_own_namespace(orchestrator, stack):
    """The deployer may change its roles' policies only under its boundary: no role without
    it, no other boundary, never dropping it, never a new version of the boundary itself."""
    assert im.self_escalation(orchestrator, stack) == []
    docs = list(im.deployer(orchestrator, stack)["policies"].values())
    own = im.boundary_document(orchestrator, stack)["arn"]
    role = next(r for r in im.role_documents(orchestrator, stack) if not r["role"].endswith("-deployer"))
    arn = f"arn:aws:iam::{ACCOUNT}:role/{role['role']}"
    # not vacuous: with its own boundary on the role, it may write the role's policy
    assert allows(docs, Request("iam:PutRolePolicy", arn, role["tags"], {},
                                {"iam:PermissionsBoundary": own}, complete=True))
    assert role["permissionsBoundary"] == own


@pytest.mark.parametrize("orchestrator,stack", [(o, s) for o in ORCHESTRATORS for s in EXAMPLE_STACKS])
def test_boundary_holds_every_role_statement(orchestrator, stack):
    """Every grant of the namespace's roles lies inside its boundary (a boundary that cut one
    would break the stack), and the boundary allows nothing of another namespace (matrix)."""
    boundary = [im.boundary_document(orchestrator, stack)["document"]]
    tags = im.context(orchestrator, stack).tags
    outside = []
    for role in im.role_documents(orchestrator, stack):
        if role["role"].endswith("-deployer"):
            continue
        for doc in role["policies"].values():
            for st in doc["Statement"]:
                for action in st["Action"]:
                    for resource in st["Resource"]:
                        if not allows(boundary, Request(action, resource, tags)):
                            outside.append(f"{role['role']} {action} {resource}")
    assert outside == []


def test_rbac_evaluator_and_forged_triggers_are_not_vacuous():
    """A RoleBinding that grants pod creation is found; an unauthenticated webhook counts as
    reach for every sensor."""
    role = {"type": "kubernetes:rbac.authorization.k8s.io/v1:Role", "inputs": {
        "metadata": {"namespace": "metaflow", "name": "wide"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]}}
    binding = {"type": "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "inputs": {
        "metadata": {"namespace": "metaflow", "name": "wide"},
        "roleRef": {"kind": "Role", "name": "wide"},
        "subjects": [{"kind": "ServiceAccount", "name": "test-sa", "namespace": "metaflow"}]}}
    grants = im.rbac_grants([role, binding])
    assert im.rbac_allows(grants, ("metaflow", "test-sa"), "metaflow", "create", "pods")
    assert not im.rbac_allows(grants, ("metaflow", "test-sa"), "metaflow-prod", "create", "pods")
    assert not im.rbac_allows(grants, ("metaflow", "test-sa"), "metaflow", "delete", "pods")
    # the example's webhook is authenticated; Metaflow's default ('none') would be reach
    assert im.context("argo", "prod").config.kubernetes.argo_events_webhook_auth == "service"
    subs = im.subscriptions("argo", "prod")
    assert subs and all(kind == "sensor(auth=service)" for kind, _ in subs)


def test_isolation_doc_is_generated_and_current():
    """docs/isolation.md is the matrix as the code computes it (UPDATE_ISOLATION_DOC=1 writes it)."""
    text = im.render_doc([r for o in ORCHESTRATORS for r in rows(o).values()])
    if os.environ.get("UPDATE_ISOLATION_DOC") == "1":
        im.DOC.write_text(text)
    assert im.DOC.read_text() == text, "docs/isolation.md is stale: UPDATE_ISOLATION_DOC=1 pytest ..."


def _identity(r: dict) -> str | None:
    """The cloud object a manifest resource is (what `pulumi destroy` deletes)."""
    i, t = r["inputs"], r["type"]
    if t == "aws:s3/bucketObjectv2:BucketObjectv2":
        return f"s3://{i['bucket']}/{i['key']}"
    if t in ("aws:iam/role:Role", "aws:iam/policy:Policy"):
        return f"{t}:{i['name']}"
    if t == "aws:iam/rolePolicy:RolePolicy":
        return f"{t}:{i['role']}/{i['name']}"
    if t.startswith("kubernetes:"):
        meta = i.get("metadata", {})
        return f"{i.get('kind')}:{meta.get('namespace')}/{meta.get('name')}"
    if "name" in i:
        return f"{t}:{i['name']}"
    return None


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_destroying_a_branch_stack_spares_prod(orchestrator):
    """`pulumi destroy` of every stack but prod deletes its resources that are not
    retainOnDelete: none of them is a prod resource, or named by one (code package URL, role,
    service account, foreach-state table...); and every code package is retained (past runs
    download it)."""
    prod = synthesized(orchestrator, "prod").manifest()["resources"]
    prod_ids = {_identity(r) for r in prod} - {None}
    prod_text = json.dumps([r["inputs"] for r in prod])
    for stack in EXAMPLE_STACKS:
        resources = synthesized(orchestrator, stack).manifest()["resources"]
        packages = [r for r in resources if r["type"].endswith(":BucketObjectv2")
                    and not r["inputs"]["key"].endswith(".py")]
        assert packages and all(r.get("retainOnDelete") for r in packages), stack
        if stack == "prod":
            continue
        deleted = [_identity(r) for r in resources if not r.get("retainOnDelete")]
        assert deleted
        # its own foreach-state table goes with it (it holds only the in-flight join state of
        # this stack's runs); prod's is another table, and protected
        tables = [d for d in deleted if d and d.startswith("aws:dynamodb/table:Table:")]
        if orchestrator == "step-functions":
            assert tables == [f"aws:dynamodb/table:Table:example_project.{stack}.sfn-state"]
            assert all(r["protect"] for r in prod if r["type"] == "aws:dynamodb/table:Table")
        else:
            assert tables == []
        clash = [d for d in deleted if d in prod_ids]
        named = [d for d in deleted if d and d.split(":", 1)[-1].split("/")[-1] in prod_text
                 and not d.startswith(("aws:cloudwatch/eventTarget", "aws:iam/rolePolicy"))]
        assert clash == [] and named == [], (stack, clash, named)


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
    boundary = im.boundary_document(orchestrator, stack)["document"]  # the boundary too
    findings += [f"boundary: {f.issue} {f.detail}"
                 for f in analyze_policy_string(json.dumps(boundary)).findings]
    assert findings == [], "\n".join(findings)
