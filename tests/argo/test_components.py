"""The Argo backend under Pulumi's mock engine: the resources it creates, their wiring (IRSA role
ARN on the service account), protection of prod, and the artifacts synth writes."""

from __future__ import annotations

import json

import pytest

from flowstacks.synth.engine import synth_stack
from tests.argo import helpers as h
from tests.conftest import EXAMPLE

pytestmark = pytest.mark.slow

K8S_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
K8S_CRON = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
K8S_SENSOR = "kubernetes:argoproj.io/v1alpha1:Sensor"
SA = "kubernetes:core/v1:ServiceAccount"


@pytest.fixture(scope="module", params=["prod", "test.feature_x"])
def synthed(request):
    return request.param, synth_stack(EXAMPLE, request.param, "argo")


def _by_type(result, typ):
    return [r for r in result.resources if r.type == typ]


def test_one_custom_resource_per_object(synthed):
    stack, result = synthed
    ctx = h.context(stack)
    templates = _by_type(result, K8S_TEMPLATE)
    assert sorted(r.inputs["metadata"]["name"] for r in templates) == sorted(
        fd.argo_template_name for fd in ctx.flows)
    assert [r.inputs["metadata"]["name"] for r in _by_type(result, K8S_CRON)] == [
        ctx.flow("RefreshFlow").argo_template_name]
    assert [r.inputs["metadata"]["name"] for r in _by_type(result, K8S_SENSOR)] == [
        ctx.flow("PublishFlow").argo_sensor_name]
    for r in templates:
        assert r.inputs["metadata"]["namespace"] == ctx.config.kubernetes.namespace
        assert r.inputs["apiVersion"] == "argoproj.io/v1alpha1"
        assert h.schema_errors({k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}) == []


def test_service_account_is_bound_to_the_irsa_role(synthed):
    stack, result = synthed
    ctx = h.context(stack)
    [sa] = _by_type(result, SA)
    [role] = [r for r in _by_type(result, "aws:iam/role:Role")
              if r.inputs["name"] == f"{ctx.token_prefix}-k8s-task"]
    meta = sa.inputs["metadata"]
    assert meta["name"] == f"{ctx.token_prefix}-tasks"
    assert meta["annotations"]["eks.amazonaws.com/role-arn"] == \
        f"arn:aws:iam::123456789012:role/{role.inputs['name']}"
    trust = json.loads(role.inputs["assumeRolePolicy"])
    [st] = trust["Statement"]
    assert meta["namespace"] == {"prod": "metaflow"}.get(ctx.kind, f"metaflow-{ctx.kind}")
    assert f"system:serviceaccount:{meta['namespace']}:{meta['name']}" in \
        st["Condition"]["StringEquals"].values()
    assert role.inputs["tags"] == ctx.tags
    [policy] = [p for p in _by_type(result, "aws:iam/rolePolicy:RolePolicy")
                if p.name.startswith(role.inputs["name"])]
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Sid"] == "DatastoreObjects"


def test_prod_is_protected_and_test_is_not(synthed):
    stack, result = synthed
    ours = {K8S_TEMPLATE, K8S_CRON, K8S_SENSOR, SA, "aws:s3/bucketObjectv2:BucketObjectv2",
            "kubernetes:rbac.authorization.k8s.io/v1:Role",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"}
    custom = [r for r in result.resources if r.custom and r.type in ours and not r.retain
              and (not r.type.startswith("aws:iam") or "-k8s-task" in r.name)]
    # code packages are retained (kept in S3 when they leave the stack), never protected
    assert all(not r.protect for r in result.resources if r.retain)
    assert custom
    assert all(r.protect for r in custom) is (stack == "prod")
    assert not any(r.protect for r in custom) is (stack != "prod")


def test_code_package_objects_and_outputs(synthed):
    stack, result = synthed
    ctx = h.context(stack)
    objects = _by_type(result, "aws:s3/bucketObjectv2:BucketObjectv2")
    assert len(objects) == len(ctx.flows)
    assert all(o.inputs["bucket"] == "example-metaflow" and o.inputs["tags"] == ctx.tags
               for o in objects)
    templates = {r.inputs["metadata"]["name"]: r for r in _by_type(result, K8S_TEMPLATE)}
    for fd in ctx.flows:
        start = next(t for t in templates[fd.argo_template_name].inputs["spec"]["templates"]
                     if t["name"] == "start")
        env = {e["name"]: e.get("value") for e in start["container"]["env"]}
        assert any(o.inputs["key"] == env["METAFLOW_CODE_URL"].split("/", 3)[3] for o in objects)
        assert result.outputs["flows"][fd.flow.name]["orchestrator_object"] == fd.argo_template_name


def test_artifacts(synthed):
    stack, result = synthed
    ctx = h.context(stack)
    paths = sorted(a.path for a in result.artifacts
                   if a.path.startswith("argo/") or a.path.endswith("-k8s-task.json"))
    assert paths == sorted([f"argo/{fd.argo_template_name}.yaml" for fd in ctx.flows]
                           + [f"iam/{ctx.token_prefix}-k8s-task.json"])


def test_service_account_may_report_task_outputs(synthed):
    stack, result = synthed
    ctx = h.context(stack)
    sa = f"{ctx.token_prefix}-tasks"
    [role] = _by_type(result, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    [binding] = _by_type(result, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert role.inputs["rules"] == [{"apiGroups": ["argoproj.io"],
                                     "resources": ["workflowtaskresults"],
                                     "verbs": ["create", "patch"]}]
    assert binding.inputs["roleRef"]["name"] == role.inputs["metadata"]["name"]
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": sa,
                                           "namespace": ctx.config.kubernetes.namespace}]
