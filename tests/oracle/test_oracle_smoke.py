"""Smoke tests for the oracle harness: Metaflow 2.19.39's own deployers, run offline
against a private moto server, produce the facts recorded in SPEC.md."""

from pathlib import Path

import pytest

from .harness import (
    OracleError,
    extract_json,
    oracle_available,
    shared_oracle,
    stop_shared_oracle,
)

FLOWS = Path("/work/shared/metaflow/vector-flows")
PROJECT_FLOW = FLOWS / "project_flow.py"
TRIGGER_FLOW = FLOWS / "trigger_flow.py"
PROD_TOKEN = "mfprj-6epsm4cfdput2lxm-0-dzey"

_ok, _why = oracle_available()
pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(not _ok, reason=_why),
    pytest.mark.skipif(not PROJECT_FLOW.exists(), reason="vector flows not present"),
]


@pytest.fixture(scope="session")
def oracle():
    # One moto server for the whole session; other modules calling shared_oracle()
    # reuse it (and its cache). Stopped at session end (and at exit, as a fallback).
    o = shared_oracle()
    yield o
    stop_shared_oracle()


def _needs_kubernetes():
    # Metaflow imports the kubernetes client while compiling Argo objects.
    pytest.importorskip("kubernetes", reason="argo-workflows create needs `kubernetes` (==36.0.3)")


def test_extract_json_skips_noise():
    text = 'Deploying...\n{not json\n{"a": [1, {"b": 2}]}\n'
    assert extract_json(text) == {"a": [1, {"b": 2}]}
    assert extract_json('x\n  {"a": 1}\ntrailer {"b": 2}\n') == {"a": 1}
    with pytest.raises(ValueError):
        extract_json("no json here")


def test_sfn_production_token_and_flags(oracle):
    sm = oracle.sfn_json(PROJECT_FLOW, production=True)
    start = sm["States"][sm["StartAt"]]
    params = start["Parameters"]["Parameters"]
    assert params["metaflow.production_token"] == PROD_TOKEN
    assert params["metaflow.owner"] == "alice"
    assert params["metaflow.user"] == "SFN"
    command = " ".join(start["Parameters"]["ContainerOverrides"]["Command"])
    assert "--production" in command
    assert " step start " in command


def test_sfn_is_cached_and_copied(oracle):
    first = oracle.sfn_json(PROJECT_FLOW, production=True)
    calls = oracle.calls
    first["mutated"] = True
    second = oracle.sfn_json(PROJECT_FLOW, production=True)
    assert oracle.calls == calls
    assert "mutated" not in second


def test_sfn_user_branch_token(oracle):
    sm = oracle.sfn_json(PROJECT_FLOW)
    params = sm["States"][sm["StartAt"]]["Parameters"]["Parameters"]
    # example_project.user.alice -> candidate 0 (SPEC 3.2)
    assert params["metaflow.production_token"] == "mfprj-7uebqdoxnkvhtw73-0-ybvq"


def test_sfn_rejects_trigger_with_stderr(oracle):
    with pytest.raises(OracleError) as ei:
        oracle.sfn_json(TRIGGER_FLOW)
    assert "is not supported currently" in str(ei.value)


def test_argo_template_name_and_token(oracle):
    _needs_kubernetes()
    tmpl = oracle.argo_json(PROJECT_FLOW, production=True, generate_new_token=True)
    assert tmpl["kind"] == "WorkflowTemplate"
    assert tmpl["metadata"]["name"] == "exampleproject.prod.projectflow"
    ann = tmpl["metadata"]["annotations"]
    assert ann["metaflow/production_token"] == PROD_TOKEN
    assert ann["metaflow/project_flow_name"] == "example_project.prod.ProjectFlow"


def test_argo_placeholder_token_without_generate(oracle):
    _needs_kubernetes()
    tmpl = oracle.argo_json(PROJECT_FLOW, production=True)
    assert (
        tmpl["metadata"]["annotations"]["metaflow/production_token"]
        == "__PLACEHOLDER_PRODUCTION_TOKEN__"
    )


def test_argo_sensor(oracle):
    _needs_kubernetes()
    assert oracle.argo_sensor(PROJECT_FLOW, production=True) is None
    compiled = oracle.argo_compiled(TRIGGER_FLOW, branch="better_version")
    sensor = compiled["sensor"]
    assert sensor["kind"] == "Sensor"
    assert sensor["metadata"]["name"] == "examplproject-test-betterv-eventpectflow-kdfnc"
    assert compiled["sensor_name"] == sensor["metadata"]["name"]
    assert [t["name"] for t in compiled["triggers"]] == [
        "literal_event",
        "mfns.example_project.test.better_version.data_ready",
    ]
    deps = [d["name"] for d in sensor["spec"]["dependencies"]]
    assert deps == ["literal_event_o7rd", "mfnsexample_projecttestbetter_versiondata_ready_pr4z"]


def test_airflow_dag_id(oracle):
    dag = oracle.airflow_dag(PROJECT_FLOW, production=True)
    assert "example_project.prod.ProjectFlow" in dag
    assert PROD_TOKEN in dag
