"""Each policy rule on hand-made resources, through CrossGuard's own API, and `flowstacks check`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowstacks.naming.settings import NamingSettings
from flowstacks.policy.crossguard import resource_policies, stack_of
from flowstacks.policy.rules import (
    RULES, Resource, StackInfo, evaluate, name_in_namespace, names_in_namespace, namespace_tags,
    no_wildcard_iam, targets_own_namespace,
)

TEST = StackInfo("test.feat")
PROD = StackInfo("prod")
TAGS = {"metaflow/production_token": "mfprj-x-0-abcd", "metaflow/project": "example_project",
        "metaflow/branch": "test.feat", "flowstacks/stack": "test.feat"}


def role_policy(*statements):
    return Resource("aws:iam/rolePolicy:RolePolicy", "p",
                    {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})})


def allow(actions, resources):
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


@pytest.mark.parametrize("stmt,bad", [
    (allow("*", ["arn:aws:s3:::b/*"]), True),
    (allow(["s3:*"], ["arn:aws:s3:::b/*"]), True),
    (allow(["s3:GetObject"], "*"), True),
    (allow(["batch:DescribeJobs"], "*"), False),
    (allow(["s3:GetObject"], ["arn:aws:s3:::b/*"]), False),
    ({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": ["arn:aws:s3:::b"]}, True),
    ({"Effect": "Deny", "Action": "*", "Resource": "*"}, False),
])
def test_no_wildcard_iam(stmt, bad):
    assert bool(no_wildcard_iam(role_policy(stmt), TEST)) is bad


def test_no_wildcard_iam_reads_inline_role_policies():
    role = Resource("aws:iam/role:Role", "r", {"inlinePolicies": [
        {"name": "x", "policy": json.dumps({"Statement": [allow("*", "*")]})}], "tags": TAGS})
    assert len(no_wildcard_iam(role, TEST)) == 2


def test_namespace_tags():
    ok = Resource("aws:sfn/stateMachine:StateMachine", "sm", {"name": "p.test.feat.F", "tags": TAGS})
    assert namespace_tags(ok, TEST) == []
    missing = Resource("aws:iam/role:Role", "r", {"tags": {"metaflow/project": "p"}})
    assert "missing tags" in namespace_tags(missing, TEST)[0]
    wrong = Resource("aws:iam/role:Role", "r", {"tags": {**TAGS, "metaflow/branch": "prod"}})
    assert any("metaflow/branch='prod'" in m for m in namespace_tags(wrong, TEST))
    assert namespace_tags(Resource("aws:cloudwatch/eventTarget:EventTarget", "t", {}), TEST) == []


@pytest.mark.parametrize("name,stack,ok", [
    ("example_project.test.feat.TrainFlow", TEST, True),
    ("example_project.prod.TrainFlow", TEST, False),
    ("example_project.test.feature.TrainFlow", TEST, False),
    ("example_project.prod.TrainFlow", PROD, True),
    ("example_project.prod.staging.TrainFlow", PROD, False),
    # hashed (SPEC §2.1): the 60-character cut may fall inside the branch
    ("example_project.prod.ThisIsAVeryLongFlowClassNameUsedToTrigg-4gmr42pqzutvyedl", PROD, True),
    ("x" * 44 + ".prod.ProjectFlow"[:16] + "-azu6fma7gimipocl", PROD, True),
    ("example_project.prod.ThisIsAVeryLongFlowClassNa-v2b65xdt2kbna2s7", PROD, True),
    ("example_project.test.ThisIsAVeryLongFlowClassNa-v2b65xdt2kbna2s7", PROD, False),
    ("NotAProject.prod.X", PROD, False),
])
def test_name_in_namespace(name, stack, ok):
    assert name_in_namespace(name, stack) is ok


def test_names_in_namespace_checks_objects_and_granted_arns():
    foreign = Resource("aws:sfn/stateMachine:StateMachine", "sm", {"name": "example_project.prod.F"})
    assert names_in_namespace(foreign, TEST)
    grant = role_policy(allow(["states:StartExecution"], [
        "arn:aws:states:us-east-1:1:stateMachine:example_project.prod.F"]))
    assert "outside namespace 'test.feat'" in names_in_namespace(grant, TEST)[0]
    own = role_policy(allow(["states:StartExecution"], [
        "arn:aws:states:us-east-1:1:stateMachine:example_project.test.feat.F"]))
    assert names_in_namespace(own, TEST) == []
    template = Resource("kubernetes:apiextensions.k8s.io/v1:CustomResource", "t", {
        "kind": "WorkflowTemplate",
        "metadata": {"name": "x", "annotations": {"metaflow/branch_name": "prod"}}})
    assert names_in_namespace(template, TEST)


def test_a_stack_creates_only_its_own_foreach_table():
    """Issue 16: the one DynamoDB table a stack may create is its namespace's foreach-state table;
    the opt-in platform stack's shared tables belong to no namespace."""
    def table(name):
        return Resource("aws:dynamodb/table:Table", "t", {"name": name})

    assert names_in_namespace(table("example_project.test.feat.sfn-state"), TEST) == []
    for foreign in ("example_project.prod.sfn-state", "metaflow-sfn-state",
                    "example_project.test.feat.other.sfn-state"):
        assert "not the foreach-state table of namespace 'test.feat'" in \
            names_in_namespace(table(foreign), TEST)[0], foreign
    user = StackInfo("user.alice-corp-com", NamingSettings(metaflow_user="alice@corp.com"))
    from flowstacks.naming.namespace import sfn_state_table_name

    assert names_in_namespace(table(sfn_state_table_name("p", "user.alice@corp.com")), user) == []
    platform = StackInfo("platform")
    assert names_in_namespace(table("metaflow-sfn-state"), platform) == []
    assert namespace_tags(table("metaflow-sfn-state"), platform) == []
    assert namespace_tags(table("example_project.test.feat.sfn-state"), TEST)  # untagged


def test_targets_own_namespace():
    target = Resource("aws:cloudwatch/eventTarget:EventTarget", "t",
                      {"arn": "arn:aws:states:us-east-1:1:stateMachine:example_project.prod.F"})
    assert targets_own_namespace(target, TEST)
    assert targets_own_namespace(target, PROD) == []


def test_evaluate_levels():
    bad = role_policy(allow("*", "*"))
    assert {v.level for v in evaluate([bad], TEST)} == {"mandatory"}
    assert {v.level for v in evaluate([bad], TEST, {"no-wildcard-iam": "advisory"})} == {"advisory"}
    assert evaluate([bad], TEST, {"no-wildcard-iam": "disabled"}) == []


class FakeArgs:
    def __init__(self, resource: Resource, stack: str):
        self.resource_type, self.name, self.props = resource.type, resource.name, resource.inputs
        self.urn = f"urn:pulumi:{stack}::flowstacks::{resource.type}::{resource.name}"


class FakePolicy:
    def __init__(self, name, description, enforcement_level, validate):
        self.name, self.enforcement_level, self.validate = name, enforcement_level, validate


def test_crossguard_adapter_reports_through_report_violation():
    import pulumi_policy

    policies = resource_policies(FakePolicy, pulumi_policy.EnforcementLevel)
    assert [p.name for p in policies] == [r.name for r in RULES]
    levels = {p.name: p.enforcement_level for p in policies}
    assert levels["no-wildcard-iam"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert levels["steps-without-retry"] == pulumi_policy.EnforcementLevel.ADVISORY
    reported = []
    bad = Resource("aws:sfn/stateMachine:StateMachine", "sm", {"name": "example_project.prod.F", "tags": TAGS})
    for policy in policies:
        policy.validate(FakeArgs(bad, "test.feat"), lambda msg, urn=None: reported.append((msg, urn)))
    assert any("outside namespace 'test.feat'" in m for m, _ in reported)
    assert stack_of("urn:pulumi:user.John.Doe::flowstacks::aws:iam/role:Role::r") == "user.John.Doe"


def test_real_resource_validation_policy_accepts_the_adapter():
    from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy

    policies = resource_policies(ResourceValidationPolicy, EnforcementLevel)
    assert len(policies) == len(RULES)
    configured = resource_policies(ResourceValidationPolicy, EnforcementLevel, PolicyConfigSchema)
    schemas = {p.name: p.config_schema for p in configured}
    assert set(schemas["names-in-namespace"].properties) == {"state_machine_prefix",
                                                             "production_token_index", "metaflow_user"}
    # the tag rule compares the branch tag with the namespace, so it takes the Metaflow user too
    assert set(schemas["namespace-tags"].properties) == set(schemas["names-in-namespace"].properties)
    assert schemas["no-wildcard-iam"] is None


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "flowstacks.cli", *args], capture_output=True, text=True,
                          cwd=cwd, check=False)


def test_check_plan_exit_codes(tmp_path):
    good = {"stack": "test.feat", "project": "example_project", "resources": [
        {"type": "aws:sfn/stateMachine:StateMachine", "name": "sm",
         "inputs": {"name": "example_project.test.feat.F", "tags": TAGS}}]}
    (tmp_path / "good.json").write_text(json.dumps(good))
    proc = _cli("check", "--plan", "good.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 violations" in proc.stdout
    planted = json.loads(json.dumps(good))
    planted["resources"].append({"type": "aws:iam/rolePolicy:RolePolicy", "name": "wide", "inputs": {
        "policy": json.dumps({"Statement": [allow("*", "*")]})}})
    (tmp_path / "bad.json").write_text(json.dumps(planted))
    proc = _cli("check", "--plan", "bad.json", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no-wildcard-iam" in proc.stdout and "'wide'" in proc.stdout
    proc = _cli("check", "--plan", "bad.json", "--level", "no-wildcard-iam=advisory", cwd=tmp_path)
    assert proc.returncode == 0 and "[advisory]" in proc.stdout
    (tmp_path / "nota.json").write_text("[1, 2]")
    proc = _cli("check", "--plan", "nota.json", cwd=tmp_path)
    assert proc.returncode == 1 and "not a flowstacks manifest" in proc.stderr


def test_advisory_rules_read_retries_and_timeouts():
    from flowstacks.policy.rules import flow_without_timeout, steps_without_retry

    def machine(*tasks):
        states = {name: {"Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
                         "Parameters": {"RetryStrategy": {"Attempts": attempts},
                                        "Timeout": {"AttemptDurationSeconds": timeout}}}
                  for name, attempts, timeout in tasks}
        return Resource("aws:sfn/stateMachine:StateMachine", "sm",
                        {"definition": json.dumps({"StartAt": tasks[0][0], "States": states})})

    bare = machine(("start", 1, 432000), ("end", 1, 432000))
    assert "start" in steps_without_retry(bare, TEST)[0]
    assert flow_without_timeout(bare, TEST)
    good = machine(("start", 3, 600), ("end", 2, 432000))
    assert steps_without_retry(good, TEST) == [] and flow_without_timeout(good, TEST) == []
    template = Resource("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "t", {
        "kind": "WorkflowTemplate", "spec": {"templates": [
            {"name": "start", "container": {}, "retryStrategy": {"limit": 2}, "activeDeadlineSeconds": 60},
            {"name": "end", "container": {}, "activeDeadlineSeconds": 432000},
            {"name": "capture-error-hook-fn-preflight", "container": {}}]}})
    assert steps_without_retry(template, TEST) == ["steps without @retry: end; fix: add @retry to "
                                                   "steps that touch the network or spot capacity"]
    assert flow_without_timeout(template, TEST) == []


def test_example_plans_have_no_mandatory_violation():
    from flowstacks.policy.check import check_manifest
    from tests.conftest import EXAMPLE_STACKS, ORCHESTRATORS, synthesized

    for orchestrator in ORCHESTRATORS:
        for stack in EXAMPLE_STACKS:
            found = [v.render() for v in check_manifest(synthesized(orchestrator, stack).manifest())
                     if v.level == "mandatory"]
            assert found == [], (orchestrator, stack, found)


def test_planted_violations_in_a_synthesized_plan_are_found():
    import copy

    from flowstacks.policy.check import check_manifest
    from tests.conftest import synthesized

    plan = copy.deepcopy(synthesized("step-functions", "test.feature_x").manifest())
    machine = next(r for r in plan["resources"] if r["type"] == "aws:sfn/stateMachine:StateMachine")
    machine["inputs"]["name"] = "example_project.prod.Intruder"
    role = next(r for r in plan["resources"] if r["type"] == "aws:iam/role:Role")
    role["inputs"]["tags"] = {}
    rules = {v.rule for v in check_manifest(plan) if v.level == "mandatory"}
    assert {"names-in-namespace", "namespace-tags"} <= rules
