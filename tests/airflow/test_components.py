"""The Airflow backend under Pulumi's mock engine: what the provider would receive."""

from __future__ import annotations

import hashlib
import json

import pytest

from flowstacks.synth.engine import synth_stack
from tests.conftest import EXAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["prod", "user.alice"])
def stack(request):
    return synth_stack(EXAMPLE, request.param, "airflow")


def _of_type(stack, typ: str) -> list:
    return [r for r in stack.resources if r.custom and r.type == typ]


def test_one_dag_object_per_flow(stack) -> None:
    objects = _of_type(stack, "aws:s3/bucketObjectv2:BucketObjectv2")
    dags = {r.inputs["key"]: r for r in objects if r.inputs["bucket"] == "airflow-dags"}
    artifacts = {a.path: a.content for a in stack.artifacts}
    branch = stack.stack
    flows = ["FeaturesFlow", "ProjectFlow", "PublishFlow", "RefreshFlow", "ScoringFlow",
             "TrainFlow"]
    assert sorted(dags) == [f"dags/example_project.{branch}.{f}.py" for f in flows]
    for key, res in dags.items():
        source = artifacts[f"airflow/{key.removeprefix('dags/')}"]
        assert res.inputs["content"] == source  # the artifact is what is uploaded
        assert res.inputs["sourceHash"] == hashlib.sha256(source.encode()).hexdigest()
        assert res.inputs["tags"]["metaflow/branch"] == branch
        assert res.protect == (branch == "prod")
    assert stack.outputs["flows"]["TrainFlow"]["orchestrator_object"] == \
        f"example_project.{branch}.TrainFlow"


def test_code_package_matches_the_dag(stack) -> None:
    packages = {r.inputs["key"]: r for r in _of_type(stack, "aws:s3/bucketObjectv2:BucketObjectv2")
                if r.inputs["bucket"] == "example-metaflow"}
    assert len(packages) == 6
    train = next(a.content for a in stack.artifacts if a.path.endswith(".TrainFlow.py"))
    # under the namespace's own datastore root (issue 16)
    key = next(k for k in packages if k.startswith(f"metaflow/{stack.stack}/TrainFlow/data/"))
    assert f"'METAFLOW_CODE_URL': 's3://example-metaflow/{key}'" in train
    assert f"'METAFLOW_CODE_SHA': '{key.rsplit('/', 1)[1]}'" in train


def test_task_identity_per_namespace(stack) -> None:
    roles = [r for r in _of_type(stack, "aws:iam/role:Role")
             if r.inputs["name"].endswith("-k8s-task")]  # the program adds a deployer role
    assert len(roles) == 1
    role = roles[0]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    sa = next(r for r in _of_type(stack, "kubernetes:core/v1:ServiceAccount"))
    meta = sa.inputs["metadata"]
    sub = next(iter(trust["Statement"][0]["Condition"]["StringEquals"].items()))
    # the class's own namespace (issue 16): prod's as configured, user's beside it
    namespace = "airflow" if stack.stack == "prod" else "airflow-user"
    assert f"system:serviceaccount:{namespace}:{meta['name']}" in {v for k, v in
        trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub")}, sub
    assert meta["namespace"] == namespace
    role_arn = meta["annotations"]["eks.amazonaws.com/role-arn"]
    assert role_arn.endswith(f":role/{role.inputs['name']}")
    # every DAG's pods run as that service account
    for art in stack.artifacts:
        if art.path.startswith("airflow/"):
            assert f"service_account_name='{meta['name']}'" in art.content
    policies = [p for p in _of_type(stack, "aws:iam/rolePolicy:RolePolicy")
                if p.inputs["role"] == role.inputs["name"]]
    assert policies
    for pol in policies:
        for st in json.loads(pol.inputs["policy"])["Statement"]:
            assert "*" not in st["Action"] and st["Resource"] != "*"
    iam = [a.path for a in stack.artifacts if a.path.startswith("iam/")]
    assert f"iam/{role.inputs['name']}.json" in iam
