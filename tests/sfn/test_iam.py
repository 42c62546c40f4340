"""IAM of the Step Functions namespaces: parliament-clean, least privilege, confined to the namespace."""

from __future__ import annotations

import fnmatch
import json

import parliament

from flowstacks.iam.sfn import execution_role, state_machine_arn, task_role, merge_needs
from flowstacks.render.sfn import StateNeeds

TRUSTED = {"sfn-exec": "states.amazonaws.com", "batch-task": "ecs-tasks.amazonaws.com",
           "sfn-events": "events.amazonaws.com"}
# Actions AWS authorises only on "*" (no resource-level permission): the only ones allowed there.
STAR_ONLY = {"batch:DescribeJobs"}


def _statements(role: dict):
    for name, doc in role["policies"].items():
        for st in doc["Statement"]:
            yield name, st


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_parliament_reports_nothing(roles):
    checked = 0
    for kind, docs in roles.items():
        for role in docs:
            for name, doc in role["policies"].items():
                findings = parliament.analyze_policy_string(
                    json.dumps(doc), include_community_auditors=True).findings
                assert not findings, (role["role"], name, [(f.issue, f.detail) for f in findings])
                checked += 1
    assert checked == 9  # 3 roles x 3 namespaces


def test_parliament_would_report_a_mismatch():
    """The linter is live: a SubmitJob on a bucket is reported."""
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "batch:SubmitJob", "Resource": "arn:aws:s3:::bucket"}]}
    assert parliament.analyze_policy_string(json.dumps(bad)).findings


def test_each_role_trusted_by_exactly_its_service(roles):
    for docs in roles.values():
        assert len(docs) == 3
        for role in docs:
            purpose = next(p for p in TRUSTED if role["role"].endswith("-" + p))
            (st,) = role["assumeRolePolicy"]["Statement"]
            assert st["Principal"] == {"Service": TRUSTED[purpose]}
            assert st["Action"] == "sts:AssumeRole"
            assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_no_star_action_and_star_resource_only_where_aws_requires(roles):
    for docs in roles.values():
        for role in docs:
            for _, st in _statements(role):
                actions = _as_list(st["Action"])
                assert all("*" not in a for a in actions), (role["role"], st)
                if "*" in _as_list(st["Resource"]):
                    assert set(actions) <= STAR_ONLY, (role["role"], st)


def test_roles_carry_namespace_tags(roles, contexts):
    for kind, docs in roles.items():
        for role in docs:
            assert role["tags"] == contexts[kind].tags
            assert role["tags"]["metaflow/branch"] == contexts[kind].branch_name


def test_submit_job_only_on_namespace_job_definitions_and_queue(roles, manifests, contexts):
    for kind, docs in roles.items():
        jobdefs = {r["inputs"]["name"] for r in manifests[kind]["resources"]
                   if r["type"] == "aws:batch/jobDefinition:JobDefinition"}
        exec_role = next(r for r in docs if r["role"].endswith("-sfn-exec"))
        submit = next(st for _, st in _statements(exec_role) if st["Action"] == ["batch:SubmitJob"])
        queue = contexts[kind].config.aws.batch_job_queue_arn
        expected = {f"arn:aws:batch:us-east-1:123456789012:job-definition/{n}*" for n in jobdefs}
        assert set(submit["Resource"]) == expected | {queue, "arn:aws:batch:us-east-1:123456789012:job/*"}


def test_test_namespace_cannot_touch_prod(roles, manifests):
    """No statement of a test.<b> (or user) role matches an ARN that belongs to prod: its state
    machines (start, update, read), their executions, its job definitions, its roles."""
    prod = manifests["prod"]["resources"]
    prod_arns = set()
    for r in prod:
        name = r["inputs"].get("name")
        if r["type"] == "aws:sfn/stateMachine:StateMachine":
            prod_arns.add(f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}")
            prod_arns.add(f"arn:aws:states:us-east-1:123456789012:execution:{name}:run-1")
        elif r["type"] == "aws:batch/jobDefinition:JobDefinition":
            prod_arns.add(f"arn:aws:batch:us-east-1:123456789012:job-definition/{name}:1")
        elif r["type"] == "aws:iam/role:Role":
            prod_arns.add(f"arn:aws:iam::123456789012:role/{name}")
    assert len(prod_arns) >= 6 * 2 + 1 + 3
    for kind in ("test", "user"):
        for role in roles[kind]:
            for _, st in _statements(role):
                for pattern in _as_list(st["Resource"]):
                    if pattern == "*":
                        continue  # DescribeJobs only (checked above): no state machine access
                    hits = [a for a in prod_arns if fnmatch.fnmatchcase(a, pattern)]
                    assert not hits, (kind, role["role"], pattern, hits)


def test_events_role_starts_only_its_own_triggered_machines(roles, contexts):
    for kind, docs in roles.items():
        events = next(r for r in docs if r["role"].endswith("-sfn-events"))
        (st,) = events["policies"]["start"]["Statement"]
        assert st["Action"] == ["states:StartExecution"]
        ctx = contexts[kind]
        # RefreshFlow (@schedule) and PublishFlow (@trigger_on_finish) only
        assert st["Resource"] == sorted(
            state_machine_arn(ctx, f.state_machine_name) for f in ctx.flows
            if f.flow.name in ("PublishFlow", "RefreshFlow"))


def test_dynamodb_only_with_foreach(contexts):
    ctx = contexts["prod"]
    plain = merge_needs([StateNeeds(job_definitions=("metaflow_x",), job_queues=("q",))])
    assert "ForeachCardinality" not in json.dumps(execution_role(ctx, plain).policies)
    assert "dynamodb" not in json.dumps(task_role(ctx, plain).policies)
    foreach = merge_needs([plain, StateNeeds(dynamodb_tables=("metaflow-sfn-state",))])
    (dyn,) = [st for st in execution_role(ctx, foreach).policies["states"]["Statement"]
              if st["Sid"] == "ForeachCardinality"]
    assert dyn["Resource"] == ["arn:aws:dynamodb:us-east-1:123456789012:table/metaflow-sfn-state"]
    assert dyn["Action"] == ["dynamodb:GetItem"]


def test_existing_container_role_is_used_not_created(contexts):
    from flowstacks.iam.sfn import sfn_roles, task_role_arn

    ctx = contexts["test"]
    aws = ctx.config.aws.model_copy(update={"batch_container_role": "arn:aws:iam::123456789012:role/given"})
    given = ctx.model_copy(update={"config": ctx.config.model_copy(update={"aws": aws})})
    roles = sfn_roles(given, [StateNeeds(job_definitions=("metaflow_x",), job_queues=("q",))], [])
    assert roles.task is None and roles.events is None
    assert [r.name for r in roles.all()] == [f"{ctx.token_prefix}-sfn-exec"]
    assert task_role_arn(given) == "arn:aws:iam::123456789012:role/given"
    assert task_role_arn(ctx) == f"arn:aws:iam::123456789012:role/{ctx.token_prefix}-batch-task"
