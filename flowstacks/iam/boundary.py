"""The permissions boundary of a namespace (issue 16): the most any role of the namespace may do.

Every role the stack creates (Step Functions execution, Batch task and EventBridge roles, the
IRSA task role) carries it, and the deployer role may create or change roles only when the
role carries it (condition ``iam:PermissionsBoundary``, :mod:`flowstacks.iam.deployer`). So a
deployer that writes a wider inline policy into one of its roles (``iam:PutRolePolicy``) gains
nothing: a role's effective permissions are the intersection of its policies and its boundary.

The boundary is a managed policy named ``<token prefix>-boundary``, created like the deployer
role by the stack's bootstrap run (an admin), and out of the deployer's reach: it may read it
(``pulumi refresh``), never create a version of it, delete it, or remove it from a role.

Its statements are the namespace's ceiling, written from the stack's context alone (so that the
bootstrap creates it before any role): the namespace's own datastore root (read-only on prod's
roots when ``read_prod_datastore``), its state machines, job definitions and queues, the items
of its own foreach-state table (Step Functions), its secrets and KMS key. Every statement of the stack's roles lies
inside it (tests/reliability/test_isolation.py proves it). Pure.
"""

from __future__ import annotations

from typing import Any

from flowstacks.iam.documents import (
    datastore_statements, policy, role_name, statement,
)
from flowstacks.iam.runtime import task_statements
from flowstacks.model.deployment import StackContext
from flowstacks.naming.namespace import sfn_namespace_prefix
from flowstacks.render.artifact import Artifact
from flowstacks.render.serialize import canonical_json

PURPOSE = "boundary"
# What the deployer may do with the boundary policy: read it (refresh); no other call.
READ_ACTIONS = ("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions",
                "iam:ListPolicyTags", "iam:ListEntitiesForPolicy")


def boundary_name(ctx: StackContext) -> str:
    return role_name(ctx, PURPOSE)


def boundary_arn(ctx: StackContext) -> str:
    """The boundary's ARN (known before it exists: the roles name it, the deployer's conditions
    compare with it)."""
    return f"arn:aws:iam::{ctx.config.aws.account_id}:policy/{boundary_name(ctx)}"


def _arn(ctx: StackContext, service: str, resource: str) -> str:
    aws = ctx.config.aws
    return f"arn:aws:{service}:{aws.region}:{aws.account_id}:{resource}"


def _own_tags(ctx: StackContext, operator: str = "StringEquals") -> dict[str, Any]:
    return {operator: {"aws:ResourceTag/metaflow/branch": ctx.branch_name,
                             "aws:ResourceTag/metaflow/project": ctx.project_name}}


def boundary_statements(ctx: StackContext) -> list[dict[str, Any]]:
    """The namespace's ceiling (see the module docstring)."""
    from flowstacks.iam.dynamodb import leading_keys_condition  # the task roles' own condition

    aws = ctx.config.aws
    sts = [dict(s, Sid=f"Datastore{s['Sid']}") for s in datastore_statements(ctx)]
    machines = _arn(ctx, "states", "stateMachine:" + sfn_namespace_prefix(
        ctx.project_name, ctx.branch_name, aws.state_machine_prefix) + "*")
    # `<project>.prod.*` also matches `<project>.prod.staging.*`: the namespace tag decides.
    sts.append(statement("StartNamespaceMachines", ["states:StartExecution"], [machines],
                         _own_tags(ctx)))
    # SubmitJob is authorised on the job definition, the queue and the new job (one statement
    # naming all three, as the action's resource types want): Metaflow names every job
    # definition metaflow_<sha224>, so only its namespace tags tell this namespace's apart;
    # queues and new jobs carry none (IfExists lets them through).
    sts.append(statement("SubmitNamespaceJobs", ["batch:SubmitJob"], [
        _arn(ctx, "batch", "job-definition/metaflow_*"), _arn(ctx, "batch", "job-queue/*"),
        _arn(ctx, "batch", "job/*")], _own_tags(ctx, "StringEqualsIfExists")))
    sts.append(statement("FollowJobs", ["batch:TerminateJob"], [_arn(ctx, "batch", "job/*")]))
    sts.append(statement("DescribeJobs", ["batch:DescribeJobs"], ["*"]))
    sts.append(statement("SyncEventsRule", ["events:DescribeRule", "events:PutRule",
                                            "events:PutTargets"],
                         [_arn(ctx, "events", "rule/StepFunctionsGetEventsForBatchJobsRule")]))
    if ctx.orchestrator == "step-functions":
        # the namespace's own foreach-state table (or, with dynamodb_table_layout 'shared', the
        # table its class shares): flowstacks/iam/dynamodb.py
        table = _arn(ctx, "dynamodb", f"table/{ctx.dynamodb_table}")
        sts.append(statement("NamespaceItems", ["dynamodb:GetItem", "dynamodb:PutItem",
                                                "dynamodb:UpdateItem"], [table],
                             leading_keys_condition(ctx)))
        sts.append(statement("StateMachineItems", ["dynamodb:GetItem"], [table]))
    sts += [dict(s, Sid=f"Runtime{s['Sid']}") for s in task_statements(ctx)]
    return sts


def boundary_document(ctx: StackContext) -> dict[str, Any]:
    return policy(*boundary_statements(ctx))


def boundary_artifact(ctx: StackContext) -> Artifact:
    """``boundary/<name>.json``: the policy as reviewers read it."""
    return Artifact(f"boundary/{boundary_name(ctx)}.json", canonical_json({
        "policy": boundary_name(ctx), "arn": boundary_arn(ctx),
        "document": boundary_document(ctx), "tags": dict(ctx.tags)}))
