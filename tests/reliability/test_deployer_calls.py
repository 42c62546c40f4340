"""The deployer role against every call the Pulumi AWS provider makes (flowstacks/iam/provider_calls.py).

For each backend and each stack of the example project, the stack's deployer role (its
``iam/<token prefix>-deployer.json``) is evaluated with the project's IAM evaluator against every
catalog call for every AWS resource of the stack's own manifest (create, read/refresh, updates
with and without tags, tag changes, delete, preview): all allowed, except changes to the deployer
role itself, which only the bootstrap may make. Then against the same calls for the resources of
every other namespace of the example: all denied, whether the request carries that namespace's
tags or is relabelled with the deployer's own (an attempt to take the resource over), except the
exemptions below, each with its reason and counted.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest

from flowstacks.iam.evaluate import Request, allows
from flowstacks.iam.provider_calls import CATALOG, NAMESPACE_TAG_KEYS
from flowstacks.iam.provider_requests import Subject, applies, forged, requests, subjects
from tests.conftest import EXAMPLE_STACKS, ORCHESTRATORS, synthesized

REGION, ACCOUNT = "us-east-1", "123456789012"
READS_OF_OWN_ROLE = {"iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies",
                     "iam:ListAttachedRolePolicies"}
READS_OF_BOUNDARY = {"iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions",
                     "iam:ListPolicyTags"}
EXPECTED_TYPES = {
    "step-functions": {"aws:batch/jobDefinition:JobDefinition", "aws:cloudwatch/eventRule:EventRule",
                       "aws:cloudwatch/eventTarget:EventTarget", "aws:iam/role:Role",
                       "aws:iam/rolePolicy:RolePolicy", "aws:s3/bucketObjectv2:BucketObjectv2",
                       "aws:sfn/stateMachine:StateMachine",
                       # the stack's own foreach-state table (issue 16)
                       "aws:dynamodb/table:Table"},
    "argo": {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
             "aws:s3/bucketObjectv2:BucketObjectv2"},
    "airflow": {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
                "aws:s3/bucketObjectv2:BucketObjectv2"},
}
for _types in EXPECTED_TYPES.values():  # every stack's permissions boundary (issue 16)
    _types.add("aws:iam/policy:Policy")


def deployer(orchestrator: str, stack: str) -> dict:
    result = synthesized(orchestrator, stack)
    [doc] = [json.loads(a.content) for a in result.artifacts if a.path.endswith("-deployer.json")]
    return doc


def exemption(subject: Subject, request: Request, relabelled: bool) -> str | None:
    """Why another namespace's call may be allowed, or None: it must be denied."""
    # No S3 object is exempt: code packages live under each namespace's own datastore root
    # (<root>/<branch>/<Flow>/data/, issue 16), DAG files under each namespace's dag_id.
    if request.resource == "*":
        return "action without resource-level permission"
    if relabelled and request.action == "batch:RegisterJobDefinition":
        # The job-definition name has no aws:ResourceTag; the call only adds a revision carrying
        # the caller's own tags; state machines run the revision they pin.
        return "new job definition revision under the caller's tags"
    return None


def own_checks(orchestrator: str, stack: str):
    doc = deployer(orchestrator, stack)
    docs = list(doc["policies"].values())
    for subject in subjects(synthesized(orchestrator, stack).manifest()):
        itself = subject.type == "aws:iam/role:Role" and subject.inputs["name"] == doc["role"]
        # the boundary is the bootstrap's, like the deployer role: read only
        boundary = subject.type == "aws:iam/policy:Policy"
        for call in CATALOG[subject.type]:
            if not applies(subject, call):
                continue
            for request in requests(subject, call, REGION, ACCOUNT):
                expected = (request.action in READS_OF_OWN_ROLE if itself else
                            request.action in READS_OF_BOUNDARY if boundary else True)
                yield subject, call, request, expected, allows(docs, request)


def other_checks(orchestrator: str, stack: str, other: str):
    doc = deployer(orchestrator, stack)
    docs = list(doc["policies"].values())
    for subject in subjects(synthesized(orchestrator, other).manifest()):
        for call in CATALOG[subject.type]:
            if not applies(subject, call):
                continue
            variants = [(False, requests(subject, call, REGION, ACCOUNT)),
                        (True, forged(subject, call, REGION, ACCOUNT, doc["tags"]))]
            for relabelled, reqs in variants:
                for request in reqs:
                    yield subject, call, request, relabelled, allows(docs, request)


CASES = [(o, s) for o in ORCHESTRATORS for s in EXAMPLE_STACKS]
PAIRS = [(o, a, b) for o in ORCHESTRATORS for a, b in itertools.permutations(EXAMPLE_STACKS, 2)]


@pytest.mark.parametrize("orchestrator,stack", CASES, ids=[f"{o}:{s}" for o, s in CASES])
def test_every_call_for_own_resources(orchestrator, stack):
    wrong, covered = [], Counter()
    for subject, call, request, expected, allowed in own_checks(orchestrator, stack):
        covered[subject.type] += 1
        if allowed != expected:
            wrong.append(f"{'denied' if expected else 'ALLOWED'}: {subject.label} {call.phase} "
                         f"{call.api} -> {request.action} on {request.resource}")
    assert set(covered) == EXPECTED_TYPES[orchestrator], "a resource type lost its catalog calls"
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("orchestrator,stack,other", PAIRS, ids=[f"{o}:{a}->{b}" for o, a, b in PAIRS])
def test_every_call_for_other_namespaces_is_denied(orchestrator, stack, other):
    reach = []
    for subject, call, request, relabelled, allowed in other_checks(orchestrator, stack, other):
        if allowed and not exemption(subject, request, relabelled):
            reach.append(f"{subject.label} {call.phase} {call.api} -> {request.action} on "
                         f"{request.resource}{' (relabelled)' if relabelled else ''}")
    assert reach == [], "\n".join(reach)


def test_catalog_covers_every_aws_type_of_the_manifests():
    """Every AWS resource type any example stack creates has catalog entries, and each phase
    the provider goes through is there for every type."""
    seen = {r["type"] for o, s in CASES for r in synthesized(o, s).manifest()["resources"]
            if r["type"].startswith("aws:")}
    assert seen == set(CATALOG)
    for kind, calls in CATALOG.items():
        assert {"create", "read", "delete"} <= {c.phase for c in calls}, kind
        assert any(c.phase.startswith("update") for c in calls), kind


def test_updates_without_tags_and_reads_are_proved():
    """The two classes the review found denied: PutRule on update without tags (and every
    other tagless update), and reads right after create (s3:GetObjectTagging of the DAG files)."""
    doc = deployer("step-functions", "prod")
    checks = list(own_checks("step-functions", "prod"))
    tagless = [c for c in checks if c[1].phase == "update" and c[2].request_tags == {}
               and c[2].action == "events:PutRule"]
    assert tagless and all(allowed for *_, allowed in tagless)
    dags = [c for c in own_checks("airflow", "prod")
            if c[2].action == "s3:GetObjectTagging" and c[0].inputs["key"].endswith(".py")]
    assert dags and all(allowed for *_, allowed in dags)
    assert doc["role"].endswith("-deployer")


def test_tag_changes_cannot_move_a_resource_out_of_its_namespace():
    docs = list(deployer("step-functions", "test.feature_x")["policies"].values())
    rule = next(s for s in subjects(synthesized("step-functions", "test.feature_x").manifest())
                if s.type.endswith(":EventRule"))
    arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule.inputs['name']}"
    def ask(action, tags=None, keys=None):
        context = {"aws:TagKeys": tuple(keys)} if keys else {}
        return allows(docs, Request(action, arn, rule.tags, tags or {}, context, complete=True))
    assert ask("events:TagResource", {"metaflow/production_token": "t-1"})
    assert not ask("events:TagResource", {"metaflow/branch": "prod"})
    assert ask("events:UntagResource", keys=["flowstacks/stack"])
    for key in NAMESPACE_TAG_KEYS:
        assert not ask("events:UntagResource", keys=[key])
    # PutRule of an existing rule: with or without tags, never with another namespace's.
    assert ask("events:PutRule") and ask("events:PutRule", dict(rule.tags))
    assert not ask("events:PutRule", {**rule.tags, "metaflow/branch": "prod"})


def test_pass_role_only_for_the_roles_placed():
    """PassRole: exactly the roles the state machines, targets and job definitions name, to
    their services; none at all where nothing takes a role (Argo, Airflow: IRSA)."""
    for orchestrator in ORCHESTRATORS:
        doc = deployer(orchestrator, "prod")
        passes = [s for d in doc["policies"].values() for s in d["Statement"]
                  if "iam:PassRole" in s.get("Action", [])]
        if orchestrator != "step-functions":
            assert passes == [], orchestrator
            continue
        placed = set()
        for r in synthesized(orchestrator, "prod").manifest()["resources"]:
            i = r["inputs"]
            placed.update(v for v in (i.get("roleArn"),) if v)
            if r["type"].endswith(":JobDefinition"):
                props = json.loads(i["containerProperties"])
                placed.update(v for v in (props.get("jobRoleArn"), props.get("executionRoleArn")) if v)
        assert {arn for s in passes for arn in s["Resource"]} == placed
        assert all("*" not in arn for s in passes for arn in s["Resource"])
        assert all(s["Condition"]["StringEquals"]["iam:PassedToService"] for s in passes)
    # no role is passed to EKS on any stack: IRSA needs no PassRole (issue 16)
    for o, s in CASES:
        text = json.dumps(deployer(o, s)["policies"])
        assert "eks.amazonaws.com" not in text, (o, s)


def coverage() -> dict[str, int]:
    """The figures of the report: calls covered, allowed in the own namespace, denied in
    every other, and the exempted ones by reason."""
    out: Counter = Counter()
    for o, s in CASES:
        for _, _, _, expected, allowed in own_checks(o, s):
            out["own calls"] += 1
            out["own allowed" if allowed else "own denied (deployer role itself, boundary)"] += 1
    for o, a, b in PAIRS:
        for subject, _, request, relabelled, allowed in other_checks(o, a, b):
            out["other calls"] += 1
            if not allowed:
                out["other denied"] += 1
            else:
                out[f"other exempt: {exemption(subject, request, relabelled)}"] += 1
    return dict(out)


def test_coverage_figures_add_up():
    figures = coverage()
    assert figures["own calls"] == (figures["own allowed"]
                                    + figures["own denied (deployer role itself, boundary)"])
    exempt = sum(v for k, v in figures.items() if k.startswith("other exempt"))
    assert figures["other calls"] == figures["other denied"] + exempt
    assert figures["other denied"] > exempt > 0
    # only calls AWS cannot scope to a resource, and new job-definition revisions under the
    # caller's own tags, remain exempt: no S3 object of another namespace (issue 16)
    assert {k for k in figures if k.startswith("other exempt")} <= {
        "other exempt: action without resource-level permission",
        "other exempt: new job definition revision under the caller's tags"}, figures


def test_no_object_key_is_shared_between_namespaces():
    """Every S3 object (code packages, DAG files) of the example belongs to exactly one stack
    of each backend: the same key in two stacks would let one stack's deployer overwrite, or
    its `pulumi destroy` delete, what the other's tasks download."""
    for orchestrator in ORCHESTRATORS:
        owners: dict[tuple[str, str], list[str]] = {}
        for stack in EXAMPLE_STACKS:
            for r in synthesized(orchestrator, stack).manifest()["resources"]:
                if r["type"] == "aws:s3/bucketObjectv2:BucketObjectv2":
                    owners.setdefault((r["inputs"]["bucket"], r["inputs"]["key"]), []).append(stack)
        assert owners, orchestrator
        shared = {k: v for k, v in owners.items() if len(v) > 1}
        assert shared == {}, shared


def test_configured_and_decorator_roles_can_be_passed():
    """batch_container_role, fargate_execution_role and @batch(iam_role=...) end up in job
    definitions: the deployer may pass exactly those, to Batch, and nothing else."""
    from flowstacks.iam.deployer import deployer_role
    from flowstacks.iam.sfn import passed_roles, sfn_roles
    from flowstacks.load.project import ProjectDir
    from flowstacks.render.sfn import JobDefinitionSpec, SfnInputs, render_state_machine
    from tests.conftest import REPO
    from tests.sfn.helpers import oracle_context

    ctx = oracle_context(ProjectDir(REPO, "step-functions").stack_context("test.feature_x"))
    specs, needs = {}, []
    for dep in ctx.flows:
        r = render_state_machine(ctx, dep, SfnInputs("0" * 40, "s3://b/k", ctx.config.aws.batch_container_role))
        specs.update(r.job_definitions)
        needs.append(r.needs)
    decorator_role = f"arn:aws:iam::{ACCOUNT}:role/team-batch-role"  # as @batch(iam_role=...) gives it
    specs["metaflow_custom"] = JobDefinitionSpec("metaflow_custom", {"image": "i", "jobRoleArn": decorator_role})
    docs = list(deployer_role(ctx, passed_roles(ctx, sfn_roles(ctx, needs, []), specs.values()))
                .policies.values())
    placed = set()
    for spec in specs.values():
        subject = Subject("aws:batch/jobDefinition:JobDefinition", spec.name,
                          {"name": spec.name, "containerProperties": json.dumps(spec.container_properties)},
                          dict(ctx.tags))
        for call in CATALOG[subject.type]:
            for request in requests(subject, call, REGION, ACCOUNT) if call.action == "iam:PassRole" else ():
                placed.add(request.resource)
                assert allows(docs, request), request
    assert placed == {ctx.config.aws.batch_container_role, ctx.config.aws.fargate_execution_role,
                      decorator_role}

    def pass_to(arn: str, service: str) -> bool:
        return allows(docs, Request("iam:PassRole", arn, {}, {}, {"iam:PassedToService": service},
                                    complete=True))
    assert not pass_to(decorator_role, "states.amazonaws.com")
    assert not pass_to(f"arn:aws:iam::{ACCOUNT}:role/someone-elses-role", "batch.amazonaws.com")
    assert not pass_to(f"arn:aws:iam::{ACCOUNT}:role/{ctx.token_prefix}-batch-task", "batch.amazonaws.com")
