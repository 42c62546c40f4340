"""A real Airflow 3 (apache-airflow 3.3 + cncf-kubernetes provider, in its own virtualenv) loads
every generated DAG of the example project and builds each task's pod.

The venv is created by ``tests/airflow_check/setup_venv.sh`` when missing; the test is skipped
only if that fails (no network to the package index).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.airflow.conftest import RenderedDag
from tests.conftest import REPO

CHECK = REPO / "tests" / "airflow_check"
VENV = Path(os.environ.get("FLOWSTACKS_AIRFLOW_VENV", REPO / ".venv-airflow"))
METAFLOW_LABELS = {"app": "metaflow", "app.kubernetes.io/name": "metaflow-task",
                   "app.kubernetes.io/part-of": "metaflow"}


def airflow_python() -> Path:
    """The Airflow venv's interpreter, creating the venv (idempotent, fast when present)."""
    setup = subprocess.run(["bash", str(CHECK / "setup_venv.sh")], capture_output=True, text=True,
                           env={**os.environ, "FLOWSTACKS_AIRFLOW_VENV": str(VENV)})
    python = VENV / "bin" / "python"
    if setup.returncode != 0 or not python.exists():
        pytest.skip("cannot create the Airflow virtualenv (no network to the package index?): "
                    + (setup.stderr or setup.stdout)[-800:])
    return python


@pytest.fixture(scope="module")
def airflow_report(dag_folder: Path) -> dict:
    python = airflow_python()
    out = subprocess.run([str(python), str(CHECK / "check_dags.py"), str(dag_folder)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_airflow_3_loads_every_dag(airflow_report: dict, rendered: list[RenderedDag],
                                   variants: list[RenderedDag]) -> None:
    assert airflow_report["airflow_version"].startswith("3.")
    assert airflow_report["import_errors"] == {}
    assert set(airflow_report["dags"]) == {d.dag_id for d in rendered + variants}
    assert all(not w for w in airflow_report["warnings"].values())


def test_tasks_dependencies_schedule(airflow_report: dict, rendered: list[RenderedDag]) -> None:
    for dag in rendered:
        loaded = airflow_report["dags"][dag.dag_id]
        tasks = loaded["tasks"]
        flow = dag.fd.flow
        assert set(tasks) == {s.name for s in flow.steps}, dag.dag_id  # one task per step
        for step in flow.steps:
            task = tasks[step.name]
            assert task["upstream"] == sorted(step.in_funcs), (dag.dag_id, step.name)
            assert task["operator"] == "MetaflowKubernetesOperator"
            parent_foreach = any(flow.step(p).type == "foreach" for p in step.in_funcs)
            assert task["is_mapped"] == parent_foreach
            assert task["retries"] == step.retry_times
            assert task["template_errors"] == []
        expected = {"RefreshFlow": "@daily"}.get(flow.name)
        if flow.name == "PublishFlow":
            expected = f"metaflow://example_project/{dag.fd.branch_name}/TrainFlow"
        assert loaded["schedule"] == expected, dag.dag_id
        assert loaded["catchup"] is False


def test_asset_wiring(airflow_report: dict, rendered: list[RenderedDag]) -> None:
    for dag in rendered:
        end = airflow_report["dags"][dag.dag_id]["tasks"]["end"]
        assert end["outlets"] == [f"metaflow://{dag.fd.project_name}/{dag.fd.branch_name}/"
                                  f"{dag.fd.flow.name}"]
    for kind in ("prod", "test", "user"):
        publish = next(d for d in rendered if d.kind == kind and d.fd.flow.name == "PublishFlow")
        train = next(d for d in rendered if d.kind == kind and d.fd.flow.name == "TrainFlow")
        condition = airflow_report["dags"][publish.dag_id]["asset_condition"]
        produced = airflow_report["dags"][train.dag_id]["tasks"]["end"]["outlets"]
        assert [a["asset"] for a in condition["all"]] == produced


def test_pods_built_by_the_provider(airflow_report: dict, rendered: list[RenderedDag]) -> None:
    built = 0
    for dag in rendered:
        tasks = airflow_report["dags"][dag.dag_id]["tasks"]
        for task in dag.context["tasks"]:
            pod = tasks[task["step"]]["pod"]
            assert "error" not in pod, (dag.dag_id, task["step"], pod)
            kwargs = task["kwargs"]
            assert pod["base_name"] == task["step"]
            assert pod["command"] == kwargs["cmds"]
            assert pod["image"] == kwargs["image"] and pod["namespace"] == kwargs["namespace"]
            assert pod["annotations"] == kwargs["annotations"]
            assert pod["resources"] == task["resources"]
            env = {k: v for k, v in pod["env"].items() if not isinstance(v, dict)}
            assert env == kwargs["env_vars"]
            assert env["METAFLOW_PRODUCTION_TOKEN"] == dag.ctx.production_token
            assert env["METAFLOW_OWNER"] == env["METAFLOW_USER"] == dag.ctx.owner
            if not task["mapped"]:  # a real pod from build_pod_request_obj()
                built += 1
                field_refs = {k: v["value_from"]["field_ref"]["field_path"]
                              for k, v in pod["env"].items() if isinstance(v, dict)}
                assert field_refs == dag.context["pod_field_env"]
                assert METAFLOW_LABELS.items() <= pod["labels"].items()
                assert pod["labels"]["app.kubernetes.io/created-by"] == dag.ctx.owner
                assert pod["service_account_name"] == kwargs["service_account_name"]
                assert "airflow-xcom-sidecar" in pod["containers"]
    assert built == 48  # 16 non-mapped steps (17 steps, 1 mapped) x 3 namespaces


def test_cron_or_assets_and_several_upstreams(airflow_report: dict,
                                              variants: list[RenderedDag]) -> None:
    either, both = (airflow_report["dags"][v.dag_id] for v in variants[:2])
    assert either["timetable"]["class"] == "AssetOrTimeSchedule"
    assert "0 * * * *" in json.dumps(either["timetable"])  # @hourly, as Metaflow maps it
    assert [a["asset"] for a in either["asset_condition"]["all"]] == [
        "metaflow://example_project/test.feature_x/TrainFlow"]
    # all upstreams must finish (an Argo sensor without conditions); the fully qualified one
    # is followed in its own namespace (SPEC §5.3)
    assert [a["asset"] for a in both["asset_condition"]["all"]] == [
        "metaflow://example_project/test.feature_x/TrainFlow",
        "metaflow://example_project/prod/FeaturesFlow"]


def test_six_field_cron_and_include_file_default_load(airflow_report: dict,
                                                     variants: list[RenderedDag]) -> None:
    """Airflow loads a 6-field cron (6th field: the second) as Metaflow deploys it, and the
    IncludeFile parameter's default is the uploader-v2 descriptor (issue 14)."""
    six = variants[2]
    report = airflow_report["dags"][six.dag_id]
    assert "0 12 * * 1-5 30" in json.dumps(report["timetable"])
    assert '"type": "uploader-v2"' in six.source and '"sub-type": "uploaded"' in six.source
    assert six.dag_id in airflow_report["dags"]


def test_eventbridge_cron_runs_once_a_day_not_every_second(airflow_report: dict,
                                                          variants: list[RenderedDag]) -> None:
    """``0 12 ? * MON-FRI *`` (Metaflow's EventBridge form) loads as ``0 12 ? * MON-FRI``:
    croniter would have read the year ``*`` as every second of 12:00."""
    timetable = airflow_report["dags"][variants[3].dag_id]["timetable"]
    assert timetable["expression"] == "0 12 ? * MON-FRI", timetable


def test_mapped_foreach_expands_over_the_foreach_step(airflow_report: dict,
                                                     rendered: list[RenderedDag]) -> None:
    for dag in rendered:
        if dag.fd.flow.name == "TrainFlow":
            train = airflow_report["dags"][dag.dag_id]["tasks"]["train"]
            assert train["expand"] == {"mapper_arr": "XComArg(task_id=start, key=return_value)"}


RUN_ID = "scheduled__2026-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def rendered_at_run_time(dag_folder: Path, rendered: list[RenderedDag]) -> dict:
    """The test.feature_x TrainFlow and FeaturesFlow tasks as an Airflow 3 worker renders them
    (its Jinja environment and the DAG's filters), with made-up upstream task ids in XCom."""
    python = airflow_python()
    train = next(d for d in rendered if d.kind == "test" and d.fd.flow.name == "TrainFlow")
    features = next(d for d in rendered if d.kind == "test" and d.fd.flow.name == "FeaturesFlow")
    xcoms = {"start": "airflow-s", "train": ["airflow-t0", "airflow-t1"], "pick_best": "airflow-p",
             "clicks": "airflow-c", "purchases": "airflow-u", "join": "airflow-j"}
    cases = [{"file": str(dag_folder / f"{train.dag_id}.py"), "run_id": RUN_ID, "xcoms": xcoms},
             # one foreach split: Airflow 3 pulls a single mapped XCom as a plain value
             {"file": str(dag_folder / f"{train.dag_id}.py"), "run_id": RUN_ID,
              "xcoms": {**xcoms, "train": "airflow-t0"}},
             {"file": str(dag_folder / f"{features.dag_id}.py"), "run_id": RUN_ID,
              "xcoms": xcoms}]
    out = subprocess.run([str(python), str(REPO / "tests" / "airflow" / "render_templates.py"),
                          json.dumps(cases)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    many, single, feats = json.loads(out.stdout)
    return {"train": (train.dag_id, many, single), "features": (features.dag_id, feats)}


def test_run_and_task_ids_as_metaflow_derives_them(rendered_at_run_time: dict) -> None:
    # Metaflow's own functions are the oracle for the ids (airflow_utils.py)
    from metaflow.plugins.airflow.airflow_utils import run_id_creator, task_id_creator

    dag_id, tasks, _ = rendered_at_run_time["train"]
    run = "airflow-" + run_id_creator([RUN_ID, dag_id])
    for step, map_index in (("start", -1), ("train", 0), ("pick_best", -1), ("end", -1)):
        env = tasks[step]["env"]
        task = "airflow-" + task_id_creator([RUN_ID, step, dag_id, map_index])
        assert env["METAFLOW_RUN_ID"] == run
        assert env["METAFLOW_AIRFLOW_TASK_ID"] == task
        assert env["METAFLOW_AIRFLOW_DAG_RUN_ID"] == RUN_ID
        assert env["METAFLOW_ATTEMPT_NUMBER"] == "0"
        assert f"--run-id {run} --task-id {task} --retry-count 0" in tasks[step]["cmds"][2]
        assert f"MF_PATHSPEC=TrainFlow/{run}/{step}/{task} " in tasks[step]["cmds"][2]
    assert tasks["start"]["env"]["METAFLOW_PARAMETERS"] == '{"alpha": 1}'
    dag_id, features = rendered_at_run_time["features"]
    frun = "airflow-" + run_id_creator([RUN_ID, dag_id])
    # no foreach in the flow: task ids without the map index
    assert features["join"]["env"]["METAFLOW_AIRFLOW_TASK_ID"] == \
        "airflow-" + task_id_creator([RUN_ID, "join", dag_id])
    assert f"--input-paths {frun}:/clicks/airflow-c,/purchases/airflow-u)" in \
        features["join"]["cmds"][2]


def test_input_paths_from_xcom(rendered_at_run_time: dict) -> None:
    dag_id, many, single = rendered_at_run_time["train"]
    from metaflow.plugins.airflow.airflow_utils import run_id_creator

    run = "airflow-" + run_id_creator([RUN_ID, dag_id])
    assert f"--input-paths {run}/start/airflow-s --split-index 0)" in many["train"]["cmds"][2]
    assert f"--input-paths {run}/train/:airflow-t0,airflow-t1)" in many["pick_best"]["cmds"][2]
    assert f"--input-paths {run}/train/:airflow-t0)" in single["pick_best"]["cmds"][2]
    assert f"--input-paths {run}/pick_best/airflow-p)" in many["end"]["cmds"][2]
