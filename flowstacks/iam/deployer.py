"""The deployer role of a namespace: what the CI job running ``pulumi up -s <stack>`` may do.

It may create, update and delete only resources whose names belong to its own namespace, pass
only its own namespace's roles, and is trusted only by the configured CI identity for this stack.
So a ``test.<b>`` pipeline cannot touch ``prod`` even by mistake (issue 7).

Name patterns come from the names Metaflow gives this namespace (``<project>.<branch>.*`` for
state machines and rules, the token prefix for roles, the flows' datastore prefixes for code
packages); resources whose names cannot carry the namespace are bound by tag conditions instead.
"""

from __future__ import annotations

from typing import Any

from flowstacks.iam.documents import RoleDocument, policy, role_name, statement
from flowstacks.iam.runtime import kms_statements
from flowstacks.model.deployment import StackContext

PURPOSE = "deployer"


def _states_prefix(ctx: StackContext) -> str:
    """Every state machine of the namespace starts with this (also hashed ones: the cut is at 60
    characters, the prefix is kept whole when it is shorter, docs/metaflow-contract.md#names)."""
    prefix = ctx.config.aws.state_machine_prefix
    head = f"{ctx.project_name}.{ctx.branch_name}."
    if prefix and not head.startswith(prefix):
        head = f"{prefix}_{head}"
    return head[:60]


def _tag_condition(ctx: StackContext, key: str, operator: str = "StringEquals") -> dict[str, Any]:
    return {operator: {f"{key}/metaflow/branch": ctx.branch_name,
                       f"{key}/metaflow/project": ctx.project_name}}


def _create_condition(ctx: StackContext) -> dict[str, Any]:
    """For calls that create *or* update (PutRule) or tag: the request carries this namespace's
    tags, and an existing resource, if any, already belongs to this namespace."""
    return {**_tag_condition(ctx, "aws:RequestTag"),
            **_tag_condition(ctx, "aws:ResourceTag", "StringEqualsIfExists")}


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


def deployer_statements(ctx: StackContext) -> list[dict[str, Any]]:
    aws = ctx.config.aws
    region, account = aws.region, aws.account_id
    roles = f"arn:aws:iam::{account}:role/{ctx.token_prefix}-*"
    own_role = f"arn:aws:iam::{account}:role/{role_name(ctx, PURPOSE)}"
    sts = [
        statement("NamespaceRoles", [
            "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole",
            "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
            "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole", "iam:UpdateRole"], [roles]),
        statement("PassNamespaceRoles", ["iam:PassRole"], [roles], {"StringEquals": {
            "iam:PassedToService": sorted(_passed_services(ctx))}}),
    ]
    # A deployer must not widen itself: its own role is managed by the bootstrap, not by the stack.
    sts.append({"Sid": "NotItself", "Effect": "Deny", "Action": ["iam:*"], "Resource": [own_role]})
    bucket = aws.datastore_bucket
    prefix = f"{aws.datastore_prefix}/" if aws.datastore_prefix else ""
    packages = sorted({f"arn:aws:s3:::{bucket}/{prefix}{f.flow.name}/data/*" for f in ctx.flows})
    if packages:
        sts.append(statement("CodePackages", ["s3:PutObject", "s3:GetObject", "s3:DeleteObject",
                                              "s3:PutObjectTagging", "s3:GetObjectTagging"], packages))
        sts += kms_statements(ctx, "CodePackageKey")  # an SSE-KMS datastore bucket
    if ctx.orchestrator == "step-functions":
        # Name globs cannot stop at a dot: `<project>.prod.*` also matches `<project>.prod.staging.*`.
        # So changes to existing objects are bound by the namespace tag, creation by the tag the
        # request carries; the name prefix narrows both further.
        machines = f"arn:aws:states:{region}:{account}:stateMachine:{_states_prefix(ctx)}*"
        rules = f"arn:aws:events:{region}:{account}:rule/{_states_prefix(ctx)[:47]}*"
        sts += [
            statement("CreateStateMachines", ["states:CreateStateMachine"], [machines],
                      _tag_condition(ctx, "aws:RequestTag")),
            statement("TagStateMachines", ["states:TagResource"], [machines],
                      _tag_condition(ctx, "aws:ResourceTag", "StringEqualsIfExists")),
            statement("ManageStateMachines", [
                "states:UpdateStateMachine", "states:DeleteStateMachine", "states:DescribeStateMachine",
                "states:UntagResource", "states:ListTagsForResource",
                "states:ListStateMachineVersions"], [machines], _tag_condition(ctx, "aws:ResourceTag")),
            statement("PutRules", ["events:PutRule"], [rules], _create_condition(ctx)),
            statement("TagRules", ["events:TagResource"], [rules],
                      _tag_condition(ctx, "aws:ResourceTag", "StringEqualsIfExists")),
            statement("ManageRules", [
                "events:DeleteRule", "events:DescribeRule", "events:PutTargets",
                "events:RemoveTargets", "events:ListTargetsByRule", "events:UntagResource",
                "events:ListTagsForResource", "events:EnableRule", "events:DisableRule"], [rules],
                      _tag_condition(ctx, "aws:ResourceTag")),
            statement("JobDefinitions", ["batch:RegisterJobDefinition", "batch:TagResource"],
                      [f"arn:aws:batch:{region}:{account}:job-definition/*"],
                      _tag_condition(ctx, "aws:RequestTag")),
            statement("OwnJobDefinitions", ["batch:DeregisterJobDefinition"],
                      [f"arn:aws:batch:{region}:{account}:job-definition/*"],
                      _tag_condition(ctx, "aws:ResourceTag")),
            statement("ReadJobDefinitions", ["batch:DescribeJobDefinitions"], ["*"]),
        ]
    if ctx.orchestrator == "airflow":
        a = ctx.config.airflow
        dags = sorted({f"arn:aws:s3:::{a.dags_bucket}/{a.dags_prefix}{f.airflow_dag_id}.py"
                       for f in ctx.flows if f.airflow_dag_id})
        if dags:
            sts.append(statement("DagFiles", ["s3:PutObject", "s3:GetObject", "s3:DeleteObject",
                                              "s3:PutObjectTagging"], dags))
    return sts


def _passed_services(ctx: StackContext) -> set[str]:
    if ctx.orchestrator == "step-functions":
        return {"states.amazonaws.com", "events.amazonaws.com", "ecs-tasks.amazonaws.com",
                "batch.amazonaws.com"}
    return {"eks.amazonaws.com"}


def deployer_role(ctx: StackContext) -> RoleDocument:
    """The namespace's deployer role document (created by the bootstrap of each stack)."""
    return RoleDocument(
        name=role_name(ctx, PURPOSE),
        assume_role_policy=deployer_trust(ctx),
        policies={"deploy-namespace": policy(*deployer_statements(ctx))},
        tags=dict(ctx.tags),
    )
