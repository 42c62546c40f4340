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

_ok, _why = oracle_available()
pytestmark = [pytest.mark.oracle, pytest.mark.slow, pytest.mark.skipif(not _ok, reason=_why)]

# (stack, Metaflow CLI flags) of the namespaces compared
NAMESPACES = {"prod": {"production": True}, "prod.staging": {"branch": "staging", "production": True},
              "test.feature_x": {"branch": "feature_x"}, "user.alice": {}}
USER = "alice"
CASES = [(stack, fd.flow.name) for stack in NAMESPACES for fd in h.context(stack).flows]


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


def _compare_case(oracle, stack: str, flow: str, ctx0=None, flow_file=None
                  ) -> tuple[Comparison, dict, object]:
    ctx0 = ctx0 or h.context(stack)
    fd = ctx0.flow(flow)
    compiled = oracle.argo_compiled(flow_file or REPO / fd.flow.file, user=USER,
                                    generate_new_token=True, **NAMESPACES[stack])
    theirs = compiled["workflow_template"]
    ctx = oracle_context(ctx0, USER, dict(DEPLOY_ENV), _endpoint(theirs))
    objs = render_flow(ctx, fd, oracle_package(theirs, fd, ctx.config.aws.datastore_root),
                       ctx.config.kubernetes.service_account)
    result = compare(objs.template, theirs, param_file(fd))
    if compiled["sensor"] or objs.sensor:
        result.add(compare(objs.sensor or {}, compiled["sensor"] or {}, ""))
    return result, compiled, objs


@pytest.fixture(scope="module")
def comparisons(oracle):
    return {(stack, flow): _compare_case(oracle, stack, flow) for stack, flow in CASES}


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

    out = {}
    for path, cls in VECTOR_FLOWS.items():
        root = tmp_path_factory.mktemp(path.stem)
        (root / "flowspecs").mkdir()
        (root / "flowspecs" / path.name).write_text(path.read_text())
        for stack in ("prod", "user.alice"):
            ctx = ProjectDir(root, "argo").stack_context(stack)
            out[(path.name, stack)] = _compare_case(oracle, stack, cls, ctx, path)
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


def test_figures_and_documented_differences(comparisons, vector_comparisons, capsys):
    total = Comparison()
    for result, _, _ in [*comparisons.values(), *vector_comparisons.values()]:
        total.add(result)
    documented = set(re.findall(r"^## (D\d+)", (REPO / "tests/argo/DIFFERENCES.md").read_text(),
                                re.M))
    assert {kid for kid, _ in KEPT} <= documented
    assert set(total.kept) <= documented
    with capsys.disabled():
        print(f"\nArgo vs Metaflow 2.19.39: {len(comparisons) + len(vector_comparisons)} "
              "flow x namespace cases, "
              f"{total.points} points compared, {total.equal} equal, "
              f"kept differences {dict(sorted((k, len(v)) for k, v in total.kept.items()))}, "
              f"unexpected {len(total.unexpected)}")
    assert total.points > 10000 and total.unexpected == []
