"""The isolation proof's matrix (issue 16): for every backend and every ordered pair (A, B) of
the example's namespaces, how many requests of A's identities reach B's resources, per resource
class. Every count is computed from the synthesized stacks (manifests, reviewed IAM documents,
the permissions boundary) with the project's IAM evaluator and a small Kubernetes RBAC evaluator;
``python -m tests.reliability.isolation_matrix`` (or ``UPDATE_ISOLATION_DOC=1 pytest
tests/reliability/test_isolation.py``) writes the table into docs/isolation.md.

Resource classes (B's side):

- ``orchestrator``: B's state machines, executions, rules, job definitions and roles (start,
  change, delete, describe, pass, change policies);
- ``code package``, ``artifacts``, ``cards``, ``uploads``, ``DAG files``: S3 keys of each class
  under B's namespace root (B's real package and DAG keys from its manifest; an artifact, card and
  ``IncludeFile``/``S3(run=...)`` key of each of B's flows where Metaflow writes them), read,
  written, deleted, retagged;
- ``DynamoDB items``: B's foreach state items and the table holding them (the table B's stack
  creates and its roles use; key a Batch job id of B): read, written, deleted, and the table
  deleted, changed or retagged;
- ``k8s RBAC``: what A's Kubernetes identities (its pods' service account) may do to B's
  Kubernetes objects, pods and service accounts, from every Role/RoleBinding the stacks create;
- ``triggers``: B's trigger subscriptions (Argo Sensor dependencies, EventBridge rules) that an
  event A's flows emit, or a forged post to an unauthenticated webhook, would fire;
- ``escalation``: A's deployer on B's roles and boundary (widen a policy, drop or swap the
  boundary, create a role without it), and A's boundary (the most any of A's roles can ever be
  given) on B's resources of every class above.
"""

from __future__ import annotations

import itertools
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from flowstacks.iam.dynamodb import ITEM_ATTRIBUTES
from flowstacks.iam.evaluate import Request, allows

REGION, ACCOUNT = "us-east-1", "123456789012"
CLASSES = ("orchestrator", "code package", "artifacts", "cards", "uploads", "DAG files",
           "DynamoDB items", "k8s RBAC", "triggers", "escalation")
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
S3_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
              "s3:PutObjectTagging"]
DYNAMODB_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem"]
# ... and the table itself (B's stack owns it: deleting or changing it loses B's join state)
DYNAMODB_TABLE_ACTIONS = ["dynamodb:DeleteTable", "dynamodb:UpdateTable",
                          "dynamodb:UpdateTimeToLive", "dynamodb:TagResource",
                          "dynamodb:CreateTable"]
# What a Kubernetes identity must not do to another namespace's objects.
K8S_VERBS = ("create", "update", "patch", "delete", "get")
K8S_RESOURCES = ("pods", "workflows", "workflowtemplates", "cronworkflows", "sensors",
                 "serviceaccounts", "serviceaccounts/token", "secrets", "roles", "rolebindings")
B_JOB_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"  # a Batch job id of B (the items' key)


# -- inputs ---------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _synth(orchestrator: str, stack: str):
    from tests.conftest import synthesized

    return synthesized(orchestrator, stack)


@lru_cache(maxsize=None)
def context(orchestrator: str, stack: str):
    from flowstacks.load.project import ProjectDir
    from tests.conftest import REPO

    return ProjectDir(REPO, orchestrator).stack_context(stack)


def manifest(orchestrator: str, stack: str) -> dict[str, Any]:
    return _synth(orchestrator, stack).manifest()


def role_documents(orchestrator: str, stack: str) -> list[dict[str, Any]]:
    return [json.loads(a.content) for a in _synth(orchestrator, stack).artifacts
            if a.path.startswith("iam/")]


def boundary_document(orchestrator: str, stack: str) -> dict[str, Any]:
    [doc] = [json.loads(a.content) for a in _synth(orchestrator, stack).artifacts
             if a.path.startswith("boundary/")]
    return doc


def _tags(r: dict[str, Any]) -> dict[str, str]:
    return r["inputs"].get("tags") or {}


# -- B's resources, per class ---------------------------------------------------------------------
def orchestrator_objects(orchestrator: str, stack: str) -> list[tuple[str, str, dict]]:
    """(service, ARN, tags) of every orchestrator object and role."""
    out = []
    for r in manifest(orchestrator, stack)["resources"]:
        i, t = r["inputs"], _tags(r)
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


def s3_keys(orchestrator: str, stack: str) -> dict[str, list[tuple[str, dict]]]:
    """class -> [(object ARN, tags)] of B's namespace."""
    ctx = context(orchestrator, stack)
    aws = ctx.config.aws
    root = aws.datastore_root[len("s3://"):]  # bucket/prefix/<branch>
    flows = [f.flow.name for f in ctx.flows]
    sha = "ab" + "0" * 38
    out: dict[str, list[tuple[str, dict]]] = {c: [] for c in
                                               ("code package", "artifacts", "cards", "uploads",
                                                "DAG files")}
    for r in manifest(orchestrator, stack)["resources"]:
        if r["type"] == "aws:s3/bucketObjectv2:BucketObjectv2":
            i = r["inputs"]
            kind = "DAG files" if i["key"].endswith(".py") else "code package"
            out[kind].append((f"arn:aws:s3:::{i['bucket']}/{i['key']}", _tags(r)))
    for flow in flows:
        # flow datastore (content-addressed artifacts, task metadata), cards, datatools
        out["artifacts"] += [(f"arn:aws:s3:::{root}/{flow}/data/ab/{sha}", {}),
                             (f"arn:aws:s3:::{root}/{flow}/sfn-1/start/1/0.attempt.json", {})]
        out["cards"].append((f"arn:aws:s3:::{root}/mf.cards/{flow}/runs/sfn-1/steps/start/"
                             f"tasks/1/cards/default-{sha}.html", {}))
        out["uploads"] += [(f"arn:aws:s3:::{root}/data/{flow}/{sha}", {}),
                           (f"arn:aws:s3:::{root}/data/{flow}/sfn-1/model.pkl", {})]
    return out


def dynamodb_items(orchestrator: str, stack: str) -> list[str]:
    """The table ARNs B keeps foreach state in (items keyed by B's Batch job ids): the tables its
    roles use and the one its stack creates."""
    tables = {f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{r['inputs']['name']}"
              for r in manifest(orchestrator, stack)["resources"]
              if r["type"] == "aws:dynamodb/table:Table"}
    for doc in role_documents(orchestrator, stack):
        for policy in doc["policies"].values():
            for st in policy["Statement"]:
                if any(a.startswith("dynamodb:") for a in st.get("Action", [])):
                    tables.update(r for r in st["Resource"] if ":table/" in r)
    return sorted(tables)


# -- reach, per class -----------------------------------------------------------------------------
def _docs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["policies"].values())


def _boundary_limited(docs: list[dict[str, Any]], boundary: dict[str, Any] | None,
                      request: Request) -> bool:
    """A role's effective permission: its policies and, when it has one, its boundary."""
    return allows(docs, request) and (boundary is None or allows([boundary], request))


def reach_orchestrator(o: str, a: str, b: str) -> list[str]:
    out = []
    for role in role_documents(o, a):
        for service, arn, tags in orchestrator_objects(o, b):
            for action in SENSITIVE[service]:
                if allows(_docs(role), Request(action, arn, tags)):
                    out.append(f"{role['role']} {action} {arn}")
    return out


def reach_s3(o: str, a: str, b: str, kind: str) -> list[str]:
    out = []
    keys = s3_keys(o, b)[kind]
    for role in role_documents(o, a):
        for arn, tags in keys:
            context = {f"s3:ExistingObjectTag/{k}": v for k, v in tags.items()}
            for action in S3_ACTIONS:
                if allows(_docs(role), Request(action, arn, tags, None, context)):
                    out.append(f"{role['role']} {action} {arn}")
    return out


def reach_dynamodb(o: str, a: str, b: str) -> list[str]:
    out = []
    for role in role_documents(o, a):
        for table in dynamodb_items(o, b):
            for action in DYNAMODB_ACTIONS:
                request = Request(action, table, {}, None, {
                    "dynamodb:LeadingKeys": (B_JOB_ID,),
                    "dynamodb:Attributes": ITEM_ATTRIBUTES})
                if allows(_docs(role), request):
                    out.append(f"{role['role']} {action} {table} (key {B_JOB_ID})")
            for action in DYNAMODB_TABLE_ACTIONS:  # the deployer's reach, mostly
                if allows(_docs(role), Request(action, table, {})):
                    out.append(f"{role['role']} {action} {table}")
    return out


# -- Kubernetes RBAC --------------------------------------------------------------------------------
def k8s_objects(o: str, stack: str) -> list[dict[str, Any]]:
    return [r for r in manifest(o, stack)["resources"] if r["type"].startswith("kubernetes:")]


def rbac_grants(objects: Iterable[dict[str, Any]]) -> list[tuple[tuple[str, str], str, dict]]:
    """(subject (namespace, service account), namespace the grant applies in, rule) for every
    rule a RoleBinding gives a service account through a Role of its namespace (ClusterRoles are
    not created by flowstacks; one bound by name would count as unknown: every verb)."""
    objects = list(objects)
    roles = {(r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"]): r["inputs"]
             for r in objects if r["type"].endswith("rbac.authorization.k8s.io/v1:Role")}
    out = []
    for r in objects:
        if not r["type"].endswith("rbac.authorization.k8s.io/v1:RoleBinding"):
            continue
        i = r["inputs"]
        ns = i["metadata"]["namespace"]
        ref = i["roleRef"]
        rules = (roles.get((ns, ref["name"]), {}).get("rules", []) if ref["kind"] == "Role"
                 else [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
        for s in i.get("subjects", []):
            if s["kind"] == "ServiceAccount":
                for rule in rules:
                    out.append(((s.get("namespace", ns), s["name"]), ns, rule))
    return out


def rbac_allows(grants, subject: tuple[str, str], namespace: str, verb: str, resource: str,
                name: str | None = None) -> bool:
    """Kubernetes RBAC: some rule of the subject, in that namespace, names the verb and resource
    (or ``*``) and, when it lists resourceNames, the object."""
    for who, ns, rule in grants:
        if who != subject or ns != namespace:
            continue
        if not ({verb, "*"} & set(rule.get("verbs", []))):
            continue
        if not ({resource, "*"} & set(rule.get("resources", []))):
            continue
        names = rule.get("resourceNames")
        if names and (name is None or name not in names):
            continue
        return True
    return False


def service_accounts(o: str, stack: str) -> list[tuple[str, str]]:
    return [(r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"])
            for r in k8s_objects(o, stack) if r["type"] == "kubernetes:core/v1:ServiceAccount"]


def reach_k8s(o: str, a: str, b: str, all_stacks: Iterable[str]) -> list[str]:
    grants = rbac_grants(r for s in all_stacks for r in k8s_objects(o, s))
    targets = {(r["inputs"]["metadata"].get("namespace"), r["inputs"]["kind"].lower() + "s",
                r["inputs"]["metadata"]["name"]) for r in k8s_objects(o, b)
               if r["inputs"].get("metadata", {}).get("namespace")}
    namespaces = {ns for ns, _, _ in targets}
    out = []
    for subject in service_accounts(o, a):
        for ns, resource, name in sorted(targets):
            for verb in K8S_VERBS:
                if rbac_allows(grants, subject, ns, verb, resource, name):
                    out.append(f"{subject} {verb} {resource}/{name} in {ns}")
        for ns in sorted(namespaces):  # pods with B's service account: create pods/workflows
            for resource in ("pods", "workflows"):
                if rbac_allows(grants, subject, ns, "create", resource):
                    out.append(f"{subject} create {resource} in {ns} (can name B's account)")
    return out


# -- triggers ----------------------------------------------------------------------------------------
_NAME_EXPR = re.compile(r"name == '([^']+)'")


def subscriptions(o: str, stack: str) -> list[tuple[str, str]]:
    """(kind, what fires it) of every trigger subscription of the stack: Argo Sensor dependencies
    by event name (and whether the webhook is authenticated), EventBridge rules by the state
    machines whose status changes they match."""
    ctx = context(o, stack)
    auth = ctx.config.kubernetes.argo_events_webhook_auth
    out = []
    for r in manifest(o, stack)["resources"]:
        i = r["inputs"]
        if r["type"].endswith(":Sensor"):
            for dep in i["spec"]["dependencies"]:
                for expr in dep.get("filters", {}).get("exprs", []):
                    if m := _NAME_EXPR.fullmatch(expr["expr"]):
                        out.append((f"sensor(auth={auth})", m.group(1)))
        elif r["type"] == "aws:cloudwatch/eventRule:EventRule" and i.get("eventPattern"):
            pattern = json.loads(i["eventPattern"])
            for arn in pattern.get("detail", {}).get("stateMachineArn", []):
                out.append(("rule", arn))
    return out


def emitted(o: str, stack: str) -> set[str]:
    """What A's flows can make happen: their end events (Argo/Airflow) and executions of their
    state machines (Step Functions), by Metaflow's names."""
    ctx = context(o, stack)
    out = set()
    for f in ctx.flows:
        out.add(f"metaflow.{ctx.project_name}.{ctx.branch_name}.{f.flow.name}.end")
        out.add(f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{f.state_machine_name}")
    return out


def reach_triggers(o: str, a: str, b: str) -> list[str]:
    mine = emitted(o, a)
    out = []
    for kind, fired_by in subscriptions(o, b):
        if fired_by in mine:
            out.append(f"{kind} {fired_by} fired by {a}")
        elif kind == "sensor(auth=none)":
            # an unauthenticated webhook takes a forged post of any name from any pod
            out.append(f"{kind} {fired_by} fired by a forged webhook post from {a}")
    return out


# -- escalation -----------------------------------------------------------------------------------------
ESCALATIONS = ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary",
               "iam:DeleteRolePermissionsBoundary", "iam:CreateRole", "iam:UpdateAssumeRolePolicy")
BOUNDARY_CHANGES = ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy")


def deployer(o: str, stack: str) -> dict[str, Any]:
    return next(d for d in role_documents(o, stack) if d["role"].endswith("-deployer"))


def reach_escalation(o: str, a: str, b: str) -> list[str]:
    """A's deployer on B's roles and boundary, and A's boundary on all of B's resources."""
    out = []
    docs = _docs(deployer(o, a))
    b_boundary = boundary_document(o, b)
    for role in role_documents(o, b):
        arn = f"arn:aws:iam::{ACCOUNT}:role/{role['role']}"
        for action in ESCALATIONS:
            for boundary in (role.get("permissionsBoundary"), b_boundary["arn"],
                             boundary_document(o, a)["arn"], None):
                ctx = {"iam:PermissionsBoundary": boundary} if boundary else {}
                if allows(docs, Request(action, arn, role["tags"], dict(role["tags"]), ctx,
                                        complete=True)):
                    out.append(f"deployer {action} {arn} (boundary {boundary})")
    for action in BOUNDARY_CHANGES:
        if allows(docs, Request(action, b_boundary["arn"], b_boundary["tags"])):
            out.append(f"deployer {action} {b_boundary['arn']}")
    ceiling = [boundary_document(o, a)["document"]]
    for service, arn, tags in orchestrator_objects(o, b):
        for action in SENSITIVE[service]:
            if service != "iam" and allows(ceiling, Request(action, arn, tags)):
                out.append(f"boundary {action} {arn}")
    for kind, keys in s3_keys(o, b).items():
        for arn, tags in keys:
            for action in S3_ACTIONS:
                if allows(ceiling, Request(action, arn, tags)):
                    out.append(f"boundary {action} {arn}")
    for table in dynamodb_items(o, b):
        for action in DYNAMODB_ACTIONS + DYNAMODB_TABLE_ACTIONS:
            if allows(ceiling, Request(action, table, {}, None, {
                    "dynamodb:LeadingKeys": (B_JOB_ID,), "dynamodb:Attributes": ITEM_ATTRIBUTES})):
                out.append(f"boundary {action} {table}")
    return out


def self_escalation(o: str, stack: str) -> list[str]:
    """A's deployer on A's own roles: it may change their policies only with A's boundary on
    them, never drop or swap the boundary, never touch the boundary policy."""
    out = []
    docs = _docs(deployer(o, stack))
    own = boundary_document(o, stack)
    for role in role_documents(o, stack):
        if role["role"].endswith("-deployer"):
            continue
        arn = f"arn:aws:iam::{ACCOUNT}:role/{role['role']}"
        # (UpdateAssumeRolePolicy takes no iam:PermissionsBoundary condition: a trust change
        # lets another principal assume the role, whose permissions stay within the boundary)
        for action in set(ESCALATIONS) - {"iam:UpdateAssumeRolePolicy"}:
            for boundary in (None, "arn:aws:iam::123456789012:policy/AdministratorAccess"):
                ctx = {"iam:PermissionsBoundary": boundary} if boundary else {}
                if allows(docs, Request(action, arn, role["tags"], dict(role["tags"]), ctx,
                                        complete=True)):
                    out.append(f"deployer {action} {arn} with boundary {boundary}")
        if allows(docs, Request("iam:DeleteRolePermissionsBoundary", arn, role["tags"], {},
                                {"iam:PermissionsBoundary": own["arn"]}, complete=True)):
            out.append(f"deployer drops the boundary of {arn}")
    for action in BOUNDARY_CHANGES:
        if allows(docs, Request(action, own["arn"], own["tags"])):
            out.append(f"deployer {action} on its own boundary")
    return out


# -- the matrix --------------------------------------------------------------------------------------
def reaches(o: str, a: str, b: str, stacks: Iterable[str]) -> dict[str, list[str]]:
    """class -> the requests of A that reach B (empty lists: isolated)."""
    s3 = {k: reach_s3(o, a, b, k) for k in ("code package", "artifacts", "cards", "uploads",
                                             "DAG files")}
    return {"orchestrator": reach_orchestrator(o, a, b), **s3,
            "DynamoDB items": reach_dynamodb(o, a, b), "k8s RBAC": reach_k8s(o, a, b, stacks),
            "triggers": reach_triggers(o, a, b), "escalation": reach_escalation(o, a, b)}


def examined(o: str, b: str) -> dict[str, int]:
    """How many of B's resources each class examined (so that 0 reaches is not 0 looked at)."""
    keys = s3_keys(o, b)
    return {"orchestrator": len(orchestrator_objects(o, b)),
            **{k: len(v) for k, v in keys.items()},
            "DynamoDB items": len(dynamodb_items(o, b)),
            "k8s RBAC": len(k8s_objects(o, b)), "triggers": len(subscriptions(o, b)),
            "escalation": len(role_documents(o, b)) + 1}


def matrix(orchestrators: Iterable[str], stacks: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for o in orchestrators:
        for a, b in itertools.permutations(stacks, 2):
            found = reaches(o, a, b, stacks)
            rows.append({"backend": o, "from": a, "to": b,
                         "reach": {k: len(v) for k, v in found.items()},
                         "examined": examined(o, b), "details": found})
    return rows


def render_doc(rows: list[dict[str, Any]]) -> str:
    """docs/isolation.md: the table, generated (not written by hand)."""
    head = ["backend", "A (from)", "B (to)", *CLASSES]
    lines = [
        "# Isolation proof (generated)",
        "",
        "Generated by `python -m tests.reliability.isolation_matrix` from the example project's",
        "synthesized stacks; `tests/reliability/test_isolation.py` fails when this file is out of",
        "date. Each cell: requests of namespace A's identities that reach namespace B's resources",
        "of that class / resources of B examined. How each class is computed:",
        "`tests/reliability/isolation_matrix.py`; what the layout is: README, \"Namespaces apart\".",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [f"{row['reach'][c]}/{row['examined'][c]}" for c in CLASSES]
        lines.append(f"| {row['backend']} | {row['from']} | {row['to']} | " + " | ".join(cells) + " |")
    total = sum(sum(r["reach"].values()) for r in rows)
    looked = sum(sum(r["examined"].values()) for r in rows)
    lines += ["", f"Total reach: {total} over {len(rows)} ordered pairs x {len(CLASSES)} classes "
              f"({looked} resources examined).", ""]
    return "\n".join(lines)


DOC = Path(__file__).resolve().parents[2] / "docs" / "isolation.md"


def main() -> None:
    from tests.conftest import EXAMPLE_STACKS, ORCHESTRATORS

    DOC.write_text(render_doc(matrix(ORCHESTRATORS, EXAMPLE_STACKS)))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
