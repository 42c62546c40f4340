"""Metaflow as the oracle: ``argo-workflows create --only-json`` of Metaflow 2.19.39 (run offline
against a local moto S3, SPEC §8) for every example flow in ``prod`` and ``test.feature_x``,
compared point by point with flowstacks' WorkflowTemplate and Sensor; the CronWorkflow is compared
with the schedule and timezone Metaflow compiled. Kept differences: tests/argo/DIFFERENCES.md."""

from __future__ import annotations

import re

import pytest

from flowstacks.render.argo import render_flow
from tests.argo import helpers as h
from tests.argo.oracle_compare import (KEPT, Comparison, compare, oracle_context, oracle_package,
                                       param_file)
from tests.conftest import REPO, VECTOR_FLOWS as VECTOR_DIR
from tests.oracle.harness import DEPLOY_ENV, oracle_available, shared_oracle
from tests.oracle.platform import (
    AUTH_KEY, INTERNAL_URL, fake_metadata_service, namespace_root_env, service_env,
    with_metaflow_platform,
)

_ok, _why = oracle_available()
pytestmark = [pytest.mark.oracle, pytest.mark.slow, pytest.mark.skipif(not _ok, reason=_why)]

# (stack, Metaflow CLI flags) of the namespaces compared
NAMESPACES = {"prod": {"production": True}, "prod.staging": {"branch": "staging", "production": True},
              "test.feature_x": {"branch": "feature_x"}, "user.alice": {}}
USER = "alice"
CASES = [(stack, fd.flow.name) for stack in NAMESPACES for fd in h.context(stack).flows]
# the same flows with a metadata service, its auth key, a secrets backend and SSE-KMS
# (tests/oracle/platform.py) in Metaflow's config
SERVICE_CASES = [(stack, flow) for stack, flow in CASES if stack in ("prod", "user.alice")]


@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("kubernetes", reason="argo-workflows create needs the kubernetes client")
    return shared_oracle()


def _endpoint(template: dict) -> str:
    for t in template["spec"]["templates"]:
        for e in (t.get("container") or {}).get("env") or []:
            if e["name"] == "METAFLOW_S3_ENDPOINT_URL":
                return e["value"]
    raise AssertionError("Metaflow's template has no METAFLOW_S3_ENDPOINT_URL")


@pytest.fixture(scope="module")
def metadata_service():
    with fake_metadata_service() as (url, _):
        yield url


def _compare_case(oracle, stack: str, flow: str, ctx0=None, flow_file=None, extra_env=None,
                  home=None) -> tuple[Comparison, dict, object]:
    ctx0 = ctx0 or h.context(stack)
    fd = ctx0.flow(flow)
    # Metaflow's deployer with the namespace's own datastore root (issue 16), as flowstacks uses it
    compiled = oracle.argo_compiled(flow_file or REPO / fd.flow.file, user=USER,
                                    generate_new_token=True,
                                    extra_env={**(extra_env or {}), **namespace_root_env(
                                        ctx0.branch_name, DEPLOY_ENV)},
                                    **NAMESPACES[stack])
    theirs = compiled["workflow_template"]
    ctx = oracle_context(ctx0, USER, dict(DEPLOY_ENV), _endpoint(theirs))
    # the platform flowstacks reads from the Metaflow config the deployer got
    ctx = with_metaflow_platform(ctx, {**DEPLOY_ENV, **(extra_env or {})}, home)
    objs = render_flow(ctx, fd, oracle_package(theirs, fd, ctx.config.aws.datastore_root),
                       ctx.config.kubernetes.service_account)
    result = compare(objs.template, theirs, param_file(fd))
    if compiled["sensor"] or objs.sensor:
        result.add(compare(objs.sensor or {}, compiled["sensor"] or {}, ""))
    return result, compiled, objs


@pytest.fixture(scope="module")
def comparisons(oracle, tmp_path_factory):
    home = tmp_path_factory.mktemp("mfhome")
    return {(stack, flow): _compare_case(oracle, stack, flow, home=home) for stack, flow in CASES}


@pytest.fixture(scope="module")
def service_comparisons(oracle, metadata_service, tmp_path_factory):
    home, extra = tmp_path_factory.mktemp("mfhome"), service_env(metadata_service)
    return {(stack, flow): _compare_case(oracle, stack, flow, extra_env=extra, home=home)
            for stack, flow in SERVICE_CASES}


@pytest.mark.parametrize("stack,flow", SERVICE_CASES, ids=[f"{s}:{f}" for s, f in SERVICE_CASES])
def test_matches_metaflow_with_a_metadata_service(service_comparisons, stack, flow):
    """Task env and flags agree with Metaflow configured for a real deployment; the settings
    did reach Metaflow's tasks (so the agreement is not about absent values)."""
    result, compiled, objs = service_comparisons[(stack, flow)]
    assert result.unexpected == [], "\n".join(
        f"{p}\n   flowstacks: {str(a)[:400]}\n   metaflow:   {str(b)[:400]}"
        for p, a, b in result.unexpected[:10])
    want = {"METAFLOW_SERVICE_URL": INTERNAL_URL, "METAFLOW_DEFAULT_METADATA": "service",
            "METAFLOW_SERVICE_HEADERS": '{"x-api-key": "%s"}' % AUTH_KEY,
            "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE": "aws-secrets-manager",
            "METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION": "eu-west-1",
            "METAFLOW_S3_SERVER_SIDE_ENCRYPTION": "aws:kms"}
    steps = [t for t in compiled["workflow_template"]["spec"]["templates"]
             if t.get("container") and t["name"] != "error-msg-capture-hook"]
    assert steps
    for template in steps:
        their_env = {e["name"]: e.get("value") for e in template["container"]["env"]}
        assert {k: their_env.get(k) for k in want} == want
        assert "--metadata=service" in template["container"]["command"][2]
        assert "--metadata=local" not in template["container"]["command"][2]


@pytest.mark.parametrize("stack,flow", CASES, ids=[f"{s}:{f}" for s, f in CASES])
def test_matches_metaflow(comparisons, stack, flow):
    result, compiled, objs = comparisons[(stack, flow)]
    assert objs.template["metadata"]["name"] == compiled["name"]
    assert result.unexpected == [], "\n".join(
        f"{p}\n   flowstacks: {str(a)[:400]}\n   metaflow:   {str(b)[:400]}"
        for p, a, b in result.unexpected[:10])
    assert result.equal >= 0.9 * result.points
    if compiled["sensor"]:
        assert objs.sensor["metadata"]["name"] == compiled["sensor_name"]


@pytest.mark.parametrize("stack,flow", CASES, ids=[f"{s}:{f}" for s, f in CASES])
def test_cron_matches_compiled_schedule(comparisons, stack, flow):
    _, compiled, objs = comparisons[(stack, flow)]
    if compiled["schedule"] is None:
        assert objs.cron is None
        return
    # argo_client.schedule_workflow_template with METAFLOW_ARGO_WORKFLOWS_USE_SCHEDULES=true
    assert objs.cron["metadata"]["name"] == compiled["name"]
    assert objs.cron["spec"] == {
        "suspend": False, "schedules": [compiled["schedule"]],
        "timezone": compiled["timezone"] or "", "failedJobsHistoryLimit": 10000,
        "successfulJobsHistoryLimit": 10000, "startingDeadlineSeconds": 3540,
        "workflowSpec": {"workflowTemplateRef": {"name": compiled["name"]}},
    }


# Extra flows, rendered in a zero-config project of their own: the shared vector flows with
# @trigger (literal + namespaced events) and @trigger_on_finish (own namespace, fully qualified,
# dict with project_branch) for their Sensors, and tests/argo/flows/shapes_flow.py for the DAG
# shapes the example project lacks (nested foreach, split inside a foreach, @catch, @environment,
# a GPU, a JSON parameter).
VECTOR_FLOWS = {VECTOR_DIR / "trigger_flow.py": "EventProjectFlow",
                VECTOR_DIR / "trigger_on_finish_flow.py": "DownstreamProjectFlow",
                REPO / "tests/argo/flows/shapes_flow.py": "ShapesFlow"}
VECTOR_CASES = [(f.name, s) for f in VECTOR_FLOWS for s in ("prod", "user.alice")]


@pytest.fixture(scope="module")
def vector_comparisons(oracle, tmp_path_factory):
    from flowstacks.load.project import ProjectDir

    home = tmp_path_factory.mktemp("mfhome")
    out = {}
    for path, cls in VECTOR_FLOWS.items():
        root = tmp_path_factory.mktemp(path.stem)
        (root / "flowspecs").mkdir()
        (root / "flowspecs" / path.name).write_text(path.read_text())
        for stack in ("prod", "user.alice"):
            ctx = ProjectDir(root, "argo").stack_context(stack)
            out[(path.name, stack)] = _compare_case(oracle, stack, cls, ctx, path, home=home)
    return out


@pytest.mark.parametrize("flow_file,stack", VECTOR_CASES, ids=[f"{s}:{f}" for f, s in VECTOR_CASES])
def test_extra_flows_match_metaflow(vector_comparisons, flow_file, stack):
    result, compiled, objs = vector_comparisons[(flow_file, stack)]
    assert bool(compiled["sensor"]) is (objs.sensor is not None)
    if objs.sensor:
        assert [t["name"] for t in compiled["triggers"]] == \
            [d["filters"]["exprs"][0]["expr"][len("name == '"):-1]
             for d in objs.sensor["spec"]["dependencies"]]
    assert h.reference_problems(objs.template) == []
    assert h.schema_errors(objs.template) == []
    assert result.unexpected == [], "\n".join(
        f"{p}\n   flowstacks: {str(a)[:400]}\n   metaflow:   {str(b)[:400]}"
        for p, a, b in result.unexpected[:10])


def test_figures_and_documented_differences(comparisons, vector_comparisons, service_comparisons,
                                           capsys):
    total = Comparison()
    cases = [*comparisons.values(), *vector_comparisons.values(), *service_comparisons.values()]
    for result, _, _ in cases:
        total.add(result)
    documented = set(re.findall(r"^## (D\d+)", (REPO / "tests/argo/DIFFERENCES.md").read_text(),
                                re.M))
    assert {kid for kid, _ in KEPT} <= documented
    assert set(total.kept) <= documented
    with capsys.disabled():
        print(f"\nArgo vs Metaflow 2.19.39: {len(cases)} flow x namespace cases "
              f"({len(service_comparisons)} with a metadata service), "
              f"{total.points} points compared, {total.equal} equal, "
              f"kept differences {dict(sorted((k, len(v)) for k, v in total.kept.items()))}, "
              f"unexpected {len(total.unexpected)}")
    assert total.points > 10000 and total.unexpected == []
