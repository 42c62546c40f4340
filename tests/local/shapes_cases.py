"""The cases of the proof by execution for every flow shape, on both backends that run here: the corpus project
``tests/local/flows`` (its own ``--project-dir``) deployed to Step Functions (stack ``prod``) and
to Airflow (stack ``prod.af``; Airflow refuses a nested foreach, as Metaflow does, so NestedFlow
runs on Step Functions only).

- BranchFlow: linear + split/join, Parameters (defaults, one passed at start, an ``IncludeFile``
  whose default the stack uploads),
  ``@environment``, ``@secrets`` (the secret in the emulated Secrets Manager), ``@retry`` on a step
  that fails its first attempt, ``@catch`` on a step that raises, ``@timeout`` on a step that
  finishes in time.
- ConfigFlow: a Config whose file differs per branch (settings/prod.json in both stacks).
- ForeachFlow: a foreach and its join; AfterForeachFlow: ``@trigger_on_finish(flow='ForeachFlow')``.
- AfterBothFlow (Airflow): ``@trigger_on_finish(flows=['ForeachFlow', 'ConfigFlow'])``, AND over two
  upstreams (an Asset condition); flowstacks refuses several upstreams on Step Functions.
- NestedFlow (Step Functions): a foreach inside a foreach.

Imported by ``test_run_local_shapes_sfn.py`` and ``test_run_local_shapes_airflow.py``, one
session (module fixture) per backend, so the two run on different test workers. Measured
2026-11-29, 2 cores shared with other jobs (load 3-7), both backends in one process: 523 s wall,
the Step Functions session 293 s and the Airflow session 227 s; about 550 s of CPU (user+sys,
children included) in an earlier run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("moto")
pytest.importorskip("metaflow_local_service")

CORPUS = Path(__file__).with_name("flows")
SECRETS = {"shapes/api": {"API_USER": "svc-shapes"}}
PARAMS = {"count": 4}


def _run(tmp_path_factory, stack, orchestrator):
    from rich.console import Console

    from flowstacks.local.report import Reporter
    from flowstacks.local.run import run_stacks

    reporter = Reporter(Console(stderr=True, width=200, highlight=False, color_system=None))
    return run_stacks(CORPUS, [(stack, None)], orchestrator, params=PARAMS, reporter=reporter,
                      timeout=1500, work=tmp_path_factory.mktemp(f"shapes-{orchestrator}"), secrets=SECRETS)


def start_session(tmp_path_factory, orchestrator):
    """Run the corpus' stack of ``orchestrator`` (``prod`` on Step Functions, ``prod.af`` on
    Airflow); skips when this machine has no Airflow virtualenv."""
    if orchestrator == "airflow":
        from flowstacks.local.airflow_run import airflow_python

        try:
            airflow_python(CORPUS)
        except Exception as exc:  # noqa: BLE001 - no Airflow venv on this machine
            pytest.skip(str(exc))
        return _run(tmp_path_factory, "prod.af", "airflow")
    return _run(tmp_path_factory, "prod", "step-functions")


def _one(session, flow):
    found = session.of(flow)
    assert len(found) == 1, f"{flow}: {len(found)} runs"
    return found[0]


def _artifacts(session, ex):
    store = session.checks[ex.pathspec].get("datastore", {})
    assert "artifacts" in store, store.get("error")
    return store["artifacts"]


def _flows(session):
    return ["BranchFlow", "ConfigFlow", "ForeachFlow", "AfterForeachFlow"] + (
        ["NestedFlow"] if _on(session) == "step-functions" else ["AfterBothFlow"])


def _on(session):
    return session.deployments[0].orchestrator


@pytest.mark.slow
def test_every_flow_succeeds_and_the_client_finds_it_in_the_stacks_namespace(session):
    assert sorted(ex.flow for ex in session.executions) == sorted(_flows(session))
    namespace = session.deployments[0].namespace
    for ex in session.executions:
        if ex.flow == "ConfigFlow" and _on(session) == "airflow":
            continue  # test_config_per_branch
        assert ex.status == "SUCCEEDED", f"{ex.pathspec}: {ex.error} {ex.cause}"
        client = session.checks[ex.pathspec]["client"]
        assert client["found"] and client["successful"], f"{ex.pathspec}: {client.get('error')}"
        assert f"project_branch:{session.deployments[0].stack}" in client["system_tags"]
    assert namespace.startswith("production:")


@pytest.mark.slow
def test_config_per_branch(session):
    ex = _one(session, "ConfigFlow")
    assert ex.status == "SUCCEEDED", f"{ex.pathspec}: {ex.error}"
    got = _artifacts(session, ex)
    assert (got["label"], got["factor"]) == ("'prod-settings'", "3")  # settings/prod.json, not default


@pytest.mark.slow
def test_parameters_environment_and_secrets_reach_the_tasks(session):
    got = _artifacts(session, _one(session, "BranchFlow"))
    assert got["summary"] == "'hello 12'"  # greeting default, count=4 passed at start
    assert got["colour"] == "'teal'"  # @environment
    assert got["api_user"] == "'svc-shapes'"  # @secrets from the emulated Secrets Manager
    # IncludeFile: the default the stack uploaded (an S3 object of the manifest), read by the task
    assert got["first_note"] == "'shapes corpus notes, uploaded by the stack'"


@pytest.mark.slow
def test_retry_catch_and_timeout(session):
    ex = _one(session, "BranchFlow")
    got = _artifacts(session, ex)
    assert got["attempt"] == "1"  # @retry: the first attempt failed, the second succeeded
    assert got["caught"] == "'builtins.ValueError'"  # @catch kept the run going with the exception
    flaky = [t for t in ex.tasks if t.state == "flaky"]
    # Step Functions: one Batch job, two attempts inside it; Airflow: two tries of the task
    assert flaky and flaky[-1].status == "SUCCEEDED"


@pytest.mark.slow
def test_foreach_values(session):
    assert _artifacts(session, _one(session, "ForeachFlow"))["values"] == "[9, 25]"
    assert _artifacts(session, _one(session, "ForeachFlow"))["total"] == "34"


@pytest.mark.slow
def test_trigger_on_finish_starts_the_downstream_flow_after_the_upstream(session):
    up, down = _one(session, "ForeachFlow"), _one(session, "AfterForeachFlow")
    assert down.started_by != "run-local" and down.started >= up.stopped - 1
    assert _artifacts(session, down)["marker"] == "'downstream ran'"


@pytest.mark.slow
def test_and_over_two_upstreams_starts_once_after_both(session):
    if _on(session) != "airflow":
        pytest.skip("flowstacks refuses AND over several upstreams on Step Functions; synth says so")
    ups = [_one(session, "ForeachFlow"), _one(session, "ConfigFlow")]
    down = _one(session, "AfterBothFlow")
    assert down.started_by != "run-local" and down.started >= max(u.stopped for u in ups) - 1
    assert _artifacts(session, down)["upstreams"] == repr(sorted(u.pathspec for u in ups))


@pytest.mark.slow
def test_nested_foreach_on_step_functions(session):
    if _on(session) != "step-functions":
        pytest.skip("Airflow refuses a nested foreach (Metaflow's rule); synth says so")
    assert _artifacts(session, _one(session, "NestedFlow"))["values"] == "[10, 20, 21]"


@pytest.mark.slow
def test_no_task_request_left_the_machine(session):
    assert session.refused == []
