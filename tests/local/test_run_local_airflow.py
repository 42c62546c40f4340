"""Proof by execution on Airflow: the example project's prod stack, deployed as Airflow DAG files
(``--orchestrator airflow``), runs in real Airflow 3 (its own virtualenv, ``dag.test()``), every
KubernetesPodOperator pod a local process, against the emulated account (moto server) and
metaflow-local-service; test.feature_x's RefreshFlow is deployed beside it into the same account.

One session for the module. Airflow runs a DAG's tasks one at a time, and each task is Metaflow's
own command (~10 s of CPU). Measured (2026-11-29, 2 cores shared with other jobs, load ~20):
28 min wall, 288 s of CPU (user+sys, children included), i.e. about 5 min on an idle core.
Defects the runs find are strict xfails naming the defect.
"""

from __future__ import annotations

import io

import pytest

pytest.importorskip("moto")
pytest.importorskip("metaflow_local_service")

from tests.conftest import REPO  # noqa: E402

PROD_FLOWS = ("FeaturesFlow", "ProjectFlow", "PublishFlow", "RefreshFlow", "ScoringFlow", "TrainFlow")
OUTPUT = io.StringIO()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from rich.console import Console

    from flowstacks.local.airflow_run import airflow_python
    from flowstacks.local.report import Reporter
    from flowstacks.local.run import run_stacks

    try:
        airflow_python(REPO)
    except Exception as exc:  # noqa: BLE001 - no Airflow venv on this machine
        pytest.skip(str(exc))
    plans = [("prod", None), ("test.feature_x", ["RefreshFlow"])]
    reporter = Reporter(Console(file=OUTPUT, width=200, highlight=False, color_system=None))
    return run_stacks(REPO, plans, "airflow", reporter=reporter, timeout=1800,
                      work=tmp_path_factory.mktemp("run-local-airflow"), keep=True)


def _one(session, flow, stack="prod"):
    found = session.of(flow, stack)
    assert len(found) == 1, f"{stack} {flow}: {len(found)} runs"
    return found[0]


def _artifacts(session, ex):
    store = session.checks[ex.pathspec].get("datastore", {})
    assert "artifacts" in store, store.get("error")
    return store["artifacts"]


@pytest.mark.slow
def test_every_prod_dag_ran_started_as_deployed(session):
    started = {ex.flow: ex.started_by for ex in session.executions if ex.stack == "prod"}
    assert sorted(started) == sorted(PROD_FLOWS)
    assert started["RefreshFlow"] == "schedule @daily (fired on demand)"  # Airflow's timetable summary
    assert started["PublishFlow"] == "asset events of example_project.prod.TrainFlow"
    assert {started[f] for f in ("FeaturesFlow", "ProjectFlow", "ScoringFlow", "TrainFlow")} == {"run-local"}


@pytest.mark.slow
@pytest.mark.parametrize("flow", [f for f in PROD_FLOWS if f not in ("PublishFlow", "ScoringFlow")])
def test_prod_flow_succeeds(session, flow):
    ex = _one(session, flow)
    assert ex.status == "SUCCEEDED", f"{ex.pathspec}: {ex.error}"
    assert ex.run_id.startswith("airflow-") and ex.task_of("end") is not None


@pytest.mark.slow
def test_scoring_flow_reads_its_branchs_config(session):
    ex = _one(session, "ScoringFlow")
    assert ex.status == "SUCCEEDED", f"{ex.pathspec}: {ex.error}"
    assert _artifacts(session, ex)["threshold"] == "0.8"  # settings/prod.json


@pytest.mark.slow
def test_publish_flow_started_by_train_flows_asset_succeeds(session):
    """The asset event's upstream run reaches --trigger (METAFLOW_TRIGGER), so current.trigger
    is TrainFlow's run."""
    ex = _one(session, "PublishFlow")
    assert ex.status == "SUCCEEDED", f"{ex.pathspec}: {ex.error}"
    assert _artifacts(session, ex)["upstream"] == repr(_one(session, "TrainFlow").pathspec)


@pytest.mark.slow
def test_asset_event_starts_publish_after_train_and_not_in_another_stack(session):
    train, publish = _one(session, "TrainFlow"), _one(session, "PublishFlow")
    assert train.status == "SUCCEEDED" and publish.started >= train.stopped - 1
    assert not session.of("PublishFlow", "test.feature_x")


@pytest.mark.slow
def test_foreach_ran_as_mapped_tasks_and_split_every_branch(session):
    train = _one(session, "TrainFlow")
    mapped = sorted(t.map_index for t in train.tasks if t.state == "train" and t.status == "SUCCEEDED")
    assert mapped == [0, 1, 2]
    features = _one(session, "FeaturesFlow")
    assert {t.state for t in features.tasks if t.status == "SUCCEEDED"} >= {"clicks", "purchases", "join"}


@pytest.mark.slow
def test_artifacts_have_the_values_the_flows_compute(session):
    assert _artifacts(session, _one(session, "TrainFlow"))["best_region"] in ("'emea'", "'amer'", "'apac'")
    assert _artifacts(session, _one(session, "FeaturesFlow"))["total_rows"] == "1250"
    assert _artifacts(session, _one(session, "RefreshFlow"))["tables"] == "['events', 'users']"
    assert _artifacts(session, _one(session, "RefreshFlow", "test.feature_x"))["tables"] == "['events', 'users']"


@pytest.mark.slow
def test_test_stack_artifacts_are_not_where_prod_reads(session):
    prod, test = _one(session, "RefreshFlow"), _one(session, "RefreshFlow", "test.feature_x")
    assert test.status == "SUCCEEDED"
    prod_at = session.checks[prod.pathspec]["datastore"]["location"]
    test_at = session.checks[test.pathspec]["datastore"]["location"]
    assert prod.run_id != test.run_id  # the DAG ids differ, so do the hashed run ids
    assert prod_at != test_at and f"/{test.run_id}/" in test_at and f"/{prod.run_id}/" in prod_at
    # (the code package is content-addressed, as Metaflow's: the same RefreshFlow file in both stacks
    # is one S3 key; the SFN test checks that a Config that differs per branch makes them differ)


@pytest.mark.slow
def test_client_finds_every_run_in_its_stacks_namespace_and_not_in_the_other(session):
    for ex in session.executions:
        if ex.status != "SUCCEEDED":
            continue
        client = session.checks[ex.pathspec]["client"]
        assert client["found"] and client["successful"], f"{ex.pathspec}: {client.get('error')}"
        assert f"project_branch:{ex.stack}" in client["system_tags"]
        visible = client["visible_in_other_namespaces"]
        assert visible and not any(visible.values()), ex.pathspec
    prod = _one(session, "RefreshFlow")
    assert session.checks[prod.pathspec]["client"]["latest_run"] == prod.pathspec


@pytest.mark.slow
def test_no_pod_request_left_the_machine(session):
    assert session.refused == []


@pytest.mark.slow
def test_output_shows_pods_pathspecs_and_snippets(session):
    text = OUTPUT.getvalue()
    train = _one(session, "TrainFlow")
    assert "TrainFlow train → pod train-" in text and "[2]" in text
    assert f"namespace('{session.deployment('prod').namespace}'); Run('{train.pathspec}')" in text
    publish = _one(session, "PublishFlow")
    assert f"Run('{publish.pathspec}')" in text and f"{publish.pathspec}/start failed" not in text
