"""The deployer role of a namespace: what the CI job running ``pulumi up -s <stack>`` may do.

It may create, update and delete only resources whose names belong to its own namespace, pass
only the roles its state machines, rule targets and job definitions name, and is trusted only by
the configured CI identity for this stack. So a ``test.<b>`` pipeline cannot touch ``prod`` even
by mistake (issue 7). Every AWS call the Pulumi provider makes for the stack's resources is
allowed (:mod:`flowstacks.iam.provider_calls`, docs/provider-calls.md).

Name patterns come from the names Metaflow gives this namespace (``<project>.<branch>.*`` for
state machines and rules, the token prefix for roles, the flows' datastore prefixes for code
packages, the exact name of its foreach-state table); resources whose names cannot carry the namespace are bound by tag conditions instead.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from flowstacks.iam.boundary import READ_ACTIONS as READ_BOUNDARY, boundary_arn
from flowstacks.iam.documents import RoleDocument, policy, role_name, statement
from flowstacks.iam.provider_calls import NAMESPACE_TAG_KEYS
from flowstacks.iam.runtime import kms_statements
from flowstacks.model.deployment import StackContext
from flowstacks.naming.namespace import eventbridge_namespace_prefix, sfn_namespace_prefix

PURPOSE = "deployer"
# What the provider calls on the namespace's foreach-state table (flowstacks/iam/provider_calls.py).
TABLE_ACTIONS = ("dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeContinuousBackups",
                 "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive",
                 "dynamodb:ListTagsOfResource", "dynamodb:TagResource", "dynamodb:UntagResource",
                 "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive")


def _tag_condition(ctx: StackContext, key: str, operator: str = "StringEquals") -> dict[str, Any]:
    return {operator: {f"{key}/metaflow/branch": ctx.branch_name,
                       f"{key}/metaflow/project": ctx.project_name}}


def _owned(ctx: StackContext) -> dict[str, Any]:
    """Changes to an existing resource: it belongs to this namespace (``aws:ResourceTag``), and
    tags the request may carry (an update that re-sends them) are this namespace's too. An
    update that sends no tags (UpdateStateMachine, PutRule of older providers) is bound by the
    first part alone."""
    return {**_tag_condition(ctx, "aws:ResourceTag"),
            **_tag_condition(ctx, "aws:RequestTag", "StringEqualsIfExists")}


def _created(ctx: StackContext) -> dict[str, Any]:
    """Creation by a call that also updates (PutRule): the resource does not carry namespace
    tags yet, and the request carries this namespace's."""
    return {**_tag_condition(ctx, "aws:RequestTag"),
            "Null": {f"aws:ResourceTag/{k}": "true" for k in NAMESPACE_TAG_KEYS}}


def _retag(ctx: StackContext) -> dict[str, Any]:
    """Tagging: a resource of this namespace, or one that carries no namespace tags yet (AWS may
    authorise tag-on-create as a TagResource of the new resource); the namespace tags the request
    sets, if any, are this namespace's, so tagging cannot move a resource to another namespace."""
    op = "StringEqualsIfExists"
    return {op: {**_tag_condition(ctx, "aws:ResourceTag", op)[op],
                 **_tag_condition(ctx, "aws:RequestTag", op)[op]}}


def _untag(ctx: StackContext) -> dict[str, Any]:
    """Removing tags of an own resource, never the keys that place it in a namespace."""
    return {**_tag_condition(ctx, "aws:ResourceTag"),
            "ForAllValues:StringNotEquals": {"aws:TagKeys": list(NAMESPACE_TAG_KEYS)}}


def deployer_trust(ctx: StackContext) -> dict[str, Any]:
    """Trusted only by the CI OIDC identity of this stack (e.g. a GitHub environment named like
    the stack)."""
    d = ctx.config.deployer
    issuer = d.oidc_provider_arn.split(":oidc-provider/", 1)[1]
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": d.oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer}:aud": d.audience,
                f"{issuer}:sub": d.subject_template.format(stack=ctx.stack, project=ctx.project_name),
            }},
        }],
    }


# What the deployer may still do on its own role: read it (``pulumi refresh`` reads every resource
# of the stack, this role included); every change stays with the bootstrap.
_READ_OWN_ROLE = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies",
                  "iam:ListRolePolicies"]


# Calls that give a role permissions: allowed only on roles that carry the namespace's
# boundary (iam:PermissionsBoundary is the boundary the role has, or, for CreateRole and
# PutRolePermissionsBoundary, the one the request sets: IAM service authorization reference).
BOUNDED_ACTIONS = ["iam:AttachRolePolicy", "iam:CreateRole", "iam:PutRolePermissionsBoundary",
                   "iam:PutRolePolicy"]


def _role_statements(ctx: StackContext, passed: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    account = ctx.config.aws.account_id
    roles = f"arn:aws:iam::{account}:role/{ctx.token_prefix}-*"
    own_role = f"arn:aws:iam::{account}:role/{role_name(ctx, PURPOSE)}"
    boundary = boundary_arn(ctx)
    bounded = {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
    sts = [
        statement("NamespaceRoles", [
            "iam:DeleteRole", "iam:GetRole", "iam:UpdateAssumeRolePolicy",
            "iam:DeleteRolePolicy", "iam:GetRolePolicy",
            "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole", "iam:UpdateRole"], [roles]),
        # Creating a role or widening one: only under the namespace's boundary (issue 16).
        statement("BoundedNamespaceRoles", ["iam:CreateRole", "iam:PutRolePermissionsBoundary",
                                            "iam:PutRolePolicy"], [roles],
                  bounded),
        # The boundary: readable (refresh), never changed, deleted or removed from a role.
        statement("ReadBoundary", list(READ_BOUNDARY), [boundary]),
        {"Sid": "BoundaryOutOfReach", "Effect": "Deny", "NotAction": list(READ_BOUNDARY),
         "Resource": [boundary]},
        {"Sid": "KeepBoundaries", "Effect": "Deny",
         "Action": ["iam:DeleteRolePermissionsBoundary"], "Resource": ["*"]},
        {"Sid": "OnlyBoundedRoles", "Effect": "Deny", "Action": BOUNDED_ACTIONS,
         "Resource": ["*"], "Condition": {"ArnNotEquals": {"iam:PermissionsBoundary": boundary}}},
        # Tag changes may not move a role to another namespace.
        statement("TagNamespaceRoles", ["iam:TagRole"], [roles],
                  _tag_condition(ctx, "aws:RequestTag", "StringEqualsIfExists")),
        statement("UntagNamespaceRoles", ["iam:UntagRole"], [roles],
                  {"ForAllValues:StringNotEquals": {"aws:TagKeys": list(NAMESPACE_TAG_KEYS)}}),
    ]
    # PassRole on exactly the roles this namespace's state machines, rules and job definitions
    # name, each to the service that takes it.
    by_services: dict[tuple[str, ...], set[str]] = {}
    for arn, services in passed.items():
        by_services.setdefault(tuple(sorted(set(services))), set()).add(arn)
    for services, arns in sorted(by_services.items()):
        sid = "PassTo" + "".join(s.split(".")[0].replace("-", " ").title().replace(" ", "")
                                 for s in services)
        sts.append(statement(sid, ["iam:PassRole"], sorted(arns),
                             {"StringEquals": {"iam:PassedToService": list(services)}}))
    # A deployer must not widen itself: its own role is managed by the bootstrap, not by the stack.
    sts.append({"Sid": "NotItself", "Effect": "Deny", "NotAction": _READ_OWN_ROLE,
                "Resource": [own_role]})
    return sts


def _object_statements(sid: str, objects: list[str], bucket: str, prefixes: list[str],
                       prefix_operator: str) -> list[dict[str, Any]]:
    """An object the provider writes, reads (with its tags), retags and deletes; in a versioned
    bucket deletion lists the key's versions and deletes each (MWAA requires versioning)."""
    return [
        statement(sid, ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:PutObjectTagging",
                        "s3:GetObjectTagging", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"],
                  objects),
        statement(f"{sid}Versions", ["s3:ListBucketVersions"], [f"arn:aws:s3:::{bucket}"],
                  {prefix_operator: {"s3:prefix": prefixes}}),
    ]


def deployer_statements(ctx: StackContext,
                        passed: Mapping[str, Iterable[str]] | None = None) -> list[dict[str, Any]]:
    """The deployer's statements. ``passed`` maps each role ARN the stack places in a state
    machine, an EventBridge target or a job definition to the services it is passed to."""
    aws = ctx.config.aws
    region, account = aws.region, aws.account_id
    sts = _role_statements(ctx, passed or {})
    # Code packages live under the namespace's own root (<root>/<branch>/<Flow>/data/, issue 16):
    # no other namespace's deployer can write or delete them.
    bucket = aws.datastore_bucket
    prefix = f"{aws.datastore_prefix}/" if aws.datastore_prefix else ""
    flows = sorted({f"{prefix}{f.flow.name}/data/" for f in ctx.flows}
                   # IncludeFile defaults, uploaded where Metaflow puts them: <root>/data/<Flow>/
                   | {f"{prefix}data/{f.flow.name}/" for f in ctx.flows
                      if any(p.include_file is not None for p in f.flow.parameters)})
    if flows:
        sts += _object_statements("CodePackages", [f"arn:aws:s3:::{bucket}/{p}*" for p in flows],
                                  bucket, [f"{p}*" for p in flows], "StringLike")
        sts += kms_statements(ctx, "CodePackageKey")  # an SSE-KMS datastore bucket
    if ctx.orchestrator == "step-functions":
        # Name globs cannot stop at a dot: `<project>.prod.*` also matches `<project>.prod.staging.*`.
        # So changes to existing objects are bound by the namespace tag, creation by the tag the
        # request carries; the name prefix narrows both further.
        prefix = ctx.naming.state_machine_prefix
        machines = (f"arn:aws:states:{region}:{account}:stateMachine:"
                    f"{sfn_namespace_prefix(ctx.project_name, ctx.branch_name, prefix)}*")
        rules = (f"arn:aws:events:{region}:{account}:rule/"
                 f"{eventbridge_namespace_prefix(ctx.project_name, ctx.branch_name, prefix)}*")
        # Metaflow names every job definition metaflow_<sha224 of its properties>.
        jobdefs = f"arn:aws:batch:{region}:{account}:job-definition/metaflow_*"
        sts += [
            statement("CreateStateMachines", ["states:CreateStateMachine"], [machines],
                      _tag_condition(ctx, "aws:RequestTag")),
            statement("TagStateMachines", ["states:TagResource"], [machines], _retag(ctx)),
            statement("UntagStateMachines", ["states:UntagResource"], [machines], _untag(ctx)),
            statement("ManageStateMachines", [
                "states:UpdateStateMachine", "states:DeleteStateMachine", "states:DescribeStateMachine",
                "states:ListTagsForResource", "states:ListStateMachineVersions"], [machines],
                      _tag_condition(ctx, "aws:ResourceTag")),
            # The provider validates a changed definition at preview (CustomizeDiff); the action
            # supports no resource-level permission.
            statement("ValidateDefinitions", ["states:ValidateStateMachineDefinition"], ["*"]),
            statement("CreateRules", ["events:PutRule"], [rules], _created(ctx)),
            statement("UpdateRules", ["events:PutRule"], [rules], _owned(ctx)),
            statement("TagRules", ["events:TagResource"], [rules], _retag(ctx)),
            statement("UntagRules", ["events:UntagResource"], [rules], _untag(ctx)),
            statement("ManageRules", [
                "events:DeleteRule", "events:DescribeRule", "events:PutTargets",
                "events:RemoveTargets", "events:ListTargetsByRule", "events:ListTagsForResource"],
                      [rules], _tag_condition(ctx, "aws:ResourceTag")),
            # The job-definition resource (a name, every revision) has no aws:ResourceTag: a new
            # revision is bound by the tags it carries; revisions by their own tags.
            statement("JobDefinitions", ["batch:RegisterJobDefinition"], [jobdefs],
                      _tag_condition(ctx, "aws:RequestTag")),
            statement("TagJobDefinitions", ["batch:TagResource"], [jobdefs], _retag(ctx)),
            statement("UntagJobDefinitions", ["batch:UntagResource"], [jobdefs], _untag(ctx)),
            statement("OwnJobDefinitions", ["batch:DeregisterJobDefinition"], [jobdefs],
                      _tag_condition(ctx, "aws:ResourceTag")),
            statement("ReadJobDefinitions", ["batch:DescribeJobDefinitions"], ["*"]),
        ]
        if ctx.platform.owns_dynamodb_table:
            # The namespace's own foreach-state table (issue 16), by its exact name: no other
            # namespace's table (a shared one is a prerequisite, created elsewhere).
            table = f"arn:aws:dynamodb:{region}:{account}:table/{ctx.dynamodb_table}"
            sts.append(statement("ForeachStateTable", list(TABLE_ACTIONS), [table]))
    if ctx.orchestrator == "airflow":
        a = ctx.config.airflow
        keys = sorted({f"{a.dags_prefix}{f.airflow_dag_id}.py" for f in ctx.flows if f.airflow_dag_id})
        if keys:
            sts += _object_statements("DagFiles", [f"arn:aws:s3:::{a.dags_bucket}/{k}" for k in keys],
                                      a.dags_bucket, keys, "StringEquals")
    return sts


def deployer_role(ctx: StackContext,
                  passed: Mapping[str, Iterable[str]] | None = None) -> RoleDocument:
    """The namespace's deployer role document (created by the bootstrap of each stack);
    ``passed``: the roles the stack's resources take, see :func:`deployer_statements`."""
    return RoleDocument(
        name=role_name(ctx, PURPOSE),
        assume_role_policy=deployer_trust(ctx),
        policies={"deploy-namespace": policy(*deployer_statements(ctx, passed))},
        tags=dict(ctx.tags),
    )
