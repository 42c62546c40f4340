"""IAM of a Step Functions namespace, derived from what the rendered states need (pure).

Three roles per stack (one Metaflow namespace, one production token), each trusted by exactly one
service of this account:

- the state machine execution role (``states.amazonaws.com``): ``batch:SubmitJob`` on this
  namespace's job definitions and the queues its tasks use, what ``submitJob.sync`` needs to wait
  for the job (the managed EventBridge rule, ``DescribeJobs``/``TerminateJob``), and
  ``dynamodb:GetItem`` on the namespace's own foreach-state table (:mod:`flowstacks.iam.dynamodb`)
  when a foreach reads its cardinality;
- the Batch task role (``ecs-tasks.amazonaws.com``): the datastore (this project's flows only)
  and, with a foreach, the items the Metaflow runtime writes and reads in that table;
- the EventBridge role (``events.amazonaws.com``): ``states:StartExecution`` on this namespace's
  scheduled or triggered state machines only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from flowstacks.iam.documents import (
    RoleDocument,
    datastore_statements,
    policy,
    role_name,
    service_trust,
    statement,
)
from flowstacks.iam.boundary import boundary_arn
from flowstacks.iam.dynamodb import leading_keys_condition
from flowstacks.iam.runtime import task_statements
from flowstacks.model.deployment import StackContext
from flowstacks.render.sfn import JobDefinitionSpec, StateNeeds, partition

# The rule Step Functions manages for every ``batch:submitJob.sync`` task (AWS docs: "IAM
# policies for AWS Batch" in the Step Functions developer guide).
SYNC_RULE = "StepFunctionsGetEventsForBatchJobsRule"
EXECUTION_PURPOSE = "sfn-exec"
TASK_PURPOSE = "batch-task"
EVENTS_PURPOSE = "sfn-events"
# iam:PassedToService of a job definition's roles: not established from AWS' sources (see
# docs/provider-calls.md), so both the service and the one that assumes the role.
BATCH_PASSED_TO = ("batch.amazonaws.com", "ecs-tasks.amazonaws.com")


def _arn(ctx: StackContext, service: str, resource: str, regional: bool = True) -> str:
    aws = ctx.config.aws
    region = aws.region if regional else ""
    return f"arn:{partition(aws.region)}:{service}:{region}:{aws.account_id}:{resource}"


def role_arn(ctx: StackContext, purpose: str) -> str:
    """The ARN of this namespace's role for ``purpose`` (known before Pulumi creates it)."""
    return _arn(ctx, "iam", f"role/{role_name(ctx, purpose)}", regional=False)


def task_role_arn(ctx: StackContext) -> str:
    """The Batch container role of this namespace: the configured one, or the one flowstacks makes."""
    return ctx.config.aws.batch_container_role or role_arn(ctx, TASK_PURPOSE)


def state_machine_arn(ctx: StackContext, name: str) -> str:
    return _arn(ctx, "states", f"stateMachine:{name}")


def job_definition_arns(ctx: StackContext, names: Iterable[str]) -> list[str]:
    """Every revision of each job definition (``SubmitJob`` names ``name:revision``). Written
    ``<name>*``, not ``<name>:*`` (parliament's ARN format rejects the colon); the names end in a
    full sha224, so the pattern matches that definition's revisions and nothing else."""
    return [_arn(ctx, "batch", f"job-definition/{n}*") for n in names]


def dynamodb_table_arn(ctx: StackContext, table: str) -> str:
    return _arn(ctx, "dynamodb", f"table/{table}")


def merge_needs(needs: Iterable[StateNeeds]) -> StateNeeds:
    """The union of several definitions' needs (all flows of the stack)."""
    needs = list(needs)
    return StateNeeds(
        job_definitions=tuple(sorted({j for n in needs for j in n.job_definitions})),
        job_queues=tuple(sorted({q for n in needs for q in n.job_queues})),
        dynamodb_tables=tuple(sorted({t for n in needs for t in n.dynamodb_tables})),
    )


def execution_role(ctx: StackContext, needs: StateNeeds) -> RoleDocument:
    """The role every state machine of the namespace runs as."""
    statements: list[dict[str, Any]] = []
    if needs.job_definitions:
        statements.append(statement(
            "SubmitNamespaceJobs", ["batch:SubmitJob"],
            # SubmitJob is authorised on the definition, the queue and the new job (a job ARN is
            # only known once submitted); the first two are what confine it to the namespace.
            job_definition_arns(ctx, needs.job_definitions) + list(needs.job_queues)
            + [_arn(ctx, "batch", "job/*")]))
        # submitJob.sync polls and, when the execution stops, terminates the job it started.
        # IAM cannot narrow it further: a job's ARN ends in a random id, and TerminateJob's only
        # condition key is aws:ResourceTag, which Metaflow's SubmitJob does not set (no Tags
        # parameter); the role is assumed only by Step Functions of this account.
        statements.append(statement("FollowJobs", ["batch:TerminateJob"],
                                    [_arn(ctx, "batch", "job/*")]))
        # batch:DescribeJobs supports no resource-level permission: "*" is the narrowest.
        statements.append(statement("DescribeJobs", ["batch:DescribeJobs"], ["*"]))
        statements.append(statement(
            "SyncEventsRule", ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            [_arn(ctx, "events", f"rule/{SYNC_RULE}")]))
    if needs.dynamodb_tables:
        statements.append(statement(
            "ForeachCardinality", ["dynamodb:GetItem"],
            [dynamodb_table_arn(ctx, t) for t in needs.dynamodb_tables]))
    return RoleDocument(
        name=role_name(ctx, EXECUTION_PURPOSE),
        assume_role_policy=service_trust("states.amazonaws.com", ctx.config.aws.account_id),
        policies={"states": policy(*statements)} if statements else {},
        tags=dict(ctx.tags), permissions_boundary=boundary_arn(ctx),
    )


def task_role(ctx: StackContext, needs: StateNeeds) -> RoleDocument:
    """The role Metaflow tasks run as inside AWS Batch containers."""
    statements = datastore_statements(ctx)
    if needs.dynamodb_tables:
        # step_functions_decorator writes the foreach cardinality and the parent task ids of a
        # foreach join; the join reads them back (dynamo_db_client.py).
        # Keyed by Batch job id, not by flow: dynamodb:LeadingKeys cannot scope it, the table
        # is the namespace's own (flowstacks/iam/dynamodb.py); Metaflow's attributes only.
        statements.append(statement(
            "ForeachState", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [dynamodb_table_arn(ctx, t) for t in needs.dynamodb_tables],
            leading_keys_condition(ctx)))
    statements += task_statements(ctx)  # @secrets, the datastore's KMS key
    return RoleDocument(
        name=role_name(ctx, TASK_PURPOSE),
        assume_role_policy=service_trust("ecs-tasks.amazonaws.com", ctx.config.aws.account_id),
        policies={"datastore": policy(*statements)},
        tags=dict(ctx.tags), permissions_boundary=boundary_arn(ctx),
    )


def events_role(ctx: StackContext, state_machines: Iterable[str]) -> RoleDocument | None:
    """The role EventBridge assumes to start this namespace's scheduled/triggered machines."""
    arns = sorted({state_machine_arn(ctx, n) for n in state_machines})
    if not arns:
        return None
    return RoleDocument(
        name=role_name(ctx, EVENTS_PURPOSE),
        assume_role_policy=service_trust("events.amazonaws.com", ctx.config.aws.account_id),
        policies={"start": policy(statement("StartNamespaceStateMachines",
                                            ["states:StartExecution"], arns))},
        tags=dict(ctx.tags), permissions_boundary=boundary_arn(ctx),
    )


@dataclass(frozen=True)
class SfnRoles:
    execution: RoleDocument
    task: RoleDocument | None  # None when the config names an existing container role
    events: RoleDocument | None  # None when nothing is scheduled or triggered

    def all(self) -> list[RoleDocument]:
        return [r for r in (self.execution, self.task, self.events) if r is not None]


def sfn_roles(ctx: StackContext, needs: Iterable[StateNeeds], started_by_events: Iterable[str]
              ) -> SfnRoles:
    """All roles of a Step Functions namespace from its definitions' needs."""
    merged = merge_needs(needs)
    return SfnRoles(
        execution=execution_role(ctx, merged),
        task=None if ctx.config.aws.batch_container_role else task_role(ctx, merged),
        events=events_role(ctx, started_by_events),
    )


def passed_roles(ctx: StackContext, roles: SfnRoles, job_definitions: Iterable[JobDefinitionSpec]
                 ) -> dict[str, tuple[str, ...]]:
    """Every role ARN the namespace's resources take, with the services it is passed to: the
    execution role (state machines), the EventBridge role (rule targets), and the job and
    execution roles of the job definitions (``batch_container_role``, ``@batch(iam_role=...)``,
    ``fargate_execution_role``)."""
    out: dict[str, set[str]] = {role_arn(ctx, EXECUTION_PURPOSE): {"states.amazonaws.com"}}
    if roles.events:
        out.setdefault(role_arn(ctx, EVENTS_PURPOSE), set()).add("events.amazonaws.com")
    for spec in job_definitions:
        for key in ("jobRoleArn", "executionRoleArn"):
            if arn := spec.container_properties.get(key):
                out.setdefault(arn, set()).update(BATCH_PASSED_TO)
    return {arn: tuple(sorted(services)) for arn, services in sorted(out.items())}
