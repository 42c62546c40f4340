"""The DAG renderer on its own: valid Python, deterministic, Metaflow's rules and messages."""

from __future__ import annotations

import ast
from dataclasses import replace

import pytest

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.flow import Decorator, Schedule
from flowstacks.naming.names_model import AirflowNames
from flowstacks.naming.events import UpstreamSpec
from flowstacks.render import airflow as af
from tests.airflow.conftest import RenderedDag, fixed_package, render_stack


def test_every_dag_parses(rendered: list[RenderedDag]) -> None:
    assert len(rendered) == 18  # 6 flows x 3 namespace kinds
    for dag in rendered:
        tree = ast.parse(dag.source, filename=dag.dag_id)
        imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        # Airflow 3 API and the current provider path, not Metaflow's (gone) ones
        assert {"airflow.sdk", "airflow.providers.cncf.kubernetes.operators.pod"} <= imports
        assert "schedule_interval" not in dag.source


def test_rendering_is_deterministic(example_project, rendered: list[RenderedDag]) -> None:
    again = render_stack(example_project.stack_context("prod"), "prod")
    first = {d.dag_id: d.source for d in rendered if d.kind == "prod"}
    assert {d.dag_id: d.source for d in again} == first


def test_dag_ids_are_metaflow_names(rendered: list[RenderedDag]) -> None:
    ids = {(d.kind, d.fd.flow.name): d.dag_id for d in rendered}
    assert ids[("prod", "ProjectFlow")] == "example_project.prod.ProjectFlow"
    assert ids[("test", "TrainFlow")] == "example_project.test.feature_x.TrainFlow"
    assert ids[("user", "ScoringFlow")] == "example_project.user.alice.ScoringFlow"


def _dag(rendered, kind, flow) -> RenderedDag:
    return next(d for d in rendered if d.kind == kind and d.fd.flow.name == flow)


def _task(dag: RenderedDag, step: str) -> dict:
    return next(t for t in dag.context["tasks"] if t["step"] == step)


def test_task_command_flags_per_namespace(rendered) -> None:
    prod = _task(_dag(rendered, "prod", "ProjectFlow"), "end")["kwargs"]["cmds"][2]
    test = _task(_dag(rendered, "test", "ProjectFlow"), "end")["kwargs"]["cmds"][2]
    user = _task(_dag(rendered, "user", "ProjectFlow"), "end")["kwargs"]["cmds"][2]
    assert "--with=airflow_internal step end" in prod
    assert " --production --quiet " in prod and "--branch" not in prod
    assert " --branch feature_x --quiet " in test and "--production" not in test
    assert "--production" not in user and "--branch" not in user
    # run and task ids from the Airflow run, input path from the parent's XCom (SPEC §4)
    assert ("--run-id airflow-{{ [run_id, dag_run.dag_id] | run_id_creator }} --task-id "
            "airflow-{{ [run_id, ti.task_id, dag_run.dag_id] | task_id_creator  }}") in prod
    assert ("--input-paths airflow-{{ [run_id, dag_run.dag_id] | run_id_creator }}/start/"
            "{{ task_instance.xcom_pull(task_ids='start',key='metaflow_task_id') }}") in prod


def test_env_owner_user_and_token(rendered) -> None:
    prod = _dag(rendered, "prod", "ProjectFlow")
    env = _task(prod, "start")["kwargs"]["env_vars"]
    assert env["METAFLOW_PRODUCTION_TOKEN"] == prod.ctx.production_token
    assert env["METAFLOW_OWNER"] == env["METAFLOW_USER"] == "platform-team"
    user_env = _task(_dag(rendered, "user", "ProjectFlow"), "start")["kwargs"]["env_vars"]
    assert user_env["METAFLOW_OWNER"] == user_env["METAFLOW_USER"] == "alice"
    ann = _task(prod, "end")["kwargs"]["annotations"]
    assert ann["metaflow/project_flow_name"] == "example_project.prod.ProjectFlow"
    assert ann["metaflow/branch_name"] == "prod"


def test_foreach_is_mapped_and_joined(rendered) -> None:
    train = _dag(rendered, "test", "TrainFlow")
    mapped = _task(train, "train")
    assert mapped["mapped"] and mapped["map_over"] == "step_start"
    assert "--split-index {{ ti.map_index }}" in mapped["kwargs"]["cmds"][2]
    # a flow with a foreach derives every task id with the map index
    assert af.FOREACH_TASK_ID in _task(train, "end")["kwargs"]["cmds"][2]
    join = _task(train, "pick_best")["kwargs"]["cmds"][2]
    assert ("/train/:{{ task_instance.xcom_pull(task_ids='train',key='metaflow_task_id') "
            "| join_list }}") in join
    assert ".partial(" in train.source and ".expand(mapper_arr=step_start.output)" in train.source


def test_static_split_join_inputs(rendered) -> None:
    features = _dag(rendered, "prod", "FeaturesFlow")
    join = _task(features, "join")
    assert join["upstream"] == ["step_clicks", "step_purchases"]
    assert ("--input-paths airflow-{{ [run_id, dag_run.dag_id] | run_id_creator }}:/clicks/"
            "{{ task_instance.xcom_pull(task_ids='clicks',key='metaflow_task_id') }},/purchases/"
            ) in join["kwargs"]["cmds"][2]


def test_resources_retries_timeouts(rendered) -> None:
    train = _task(_dag(rendered, "prod", "TrainFlow"), "train")
    assert train["resources"]["requests"] == {"cpu": "4.0", "memory": "16384.0M",
                                              "ephemeral-storage": "10240.0M"}
    assert train["kwargs"]["retries"] == 2 and train["retry_delay"] == 60
    assert train["execution_timeout"] == 2 * 3600
    assert "--max-user-code-retries 2" in train["kwargs"]["cmds"][2]
    plain = _task(_dag(rendered, "prod", "ProjectFlow"), "start")
    assert plain["execution_timeout"] == 5 * 24 * 3600 and plain["retry_delay"] is None


def test_schedule_and_assets(rendered) -> None:
    assert _dag(rendered, "prod", "RefreshFlow").context["schedule"] == "@daily"
    assert _dag(rendered, "prod", "ProjectFlow").context["schedule"] is None
    for kind, branch in (("prod", "prod"), ("test", "test.feature_x"), ("user", "user.alice")):
        publish = _dag(rendered, kind, "PublishFlow")
        # @trigger_on_finish('TrainFlow') follows the downstream's own namespace (SPEC §5.3)
        assert publish.context["schedule_assets"] == [{
            "name": f"metaflow.example_project.{branch}.TrainFlow.end",
            "uri": f"metaflow://example_project/{branch}/TrainFlow"}]
        train_end = _task(_dag(rendered, kind, "TrainFlow"), "end")
        assert train_end["outlets"] == publish.context["schedule_assets"]


def _variant(dag: RenderedDag, **flow_changes) -> tuple:
    fd = dag.fd.model_copy(update={"flow": dag.fd.flow.model_copy(update=flow_changes)})
    return dag.ctx, fd


@pytest.mark.parametrize("schedule,expected", [
    (Schedule(hourly=True), "@hourly"), (Schedule(weekly=True), "@weekly"),
    (Schedule(cron="*/5 * * * *"), "*/5 * * * *"), (Schedule(daily=False), None)])
def test_schedule_kinds(rendered, schedule, expected) -> None:
    ctx, fd = _variant(_dag(rendered, "prod", "RefreshFlow"), schedule=schedule)
    assert af.dag_context(ctx, fd, *fixed_package(ctx, fd))["schedule"] == expected


def test_timezone_is_refused_with_metaflows_message(rendered) -> None:
    ctx, fd = _variant(_dag(rendered, "prod", "RefreshFlow"),
                       schedule=Schedule(daily=True, timezone="Europe/Paris"))
    with pytest.raises(MetaflowRuleError) as err:
        af.dag_context(ctx, fd, *fixed_package(ctx, fd))
    assert err.value.message == "`airflow create` does not support scheduling with `timezone`."
    assert "RefreshFlow" in err.value.where


def test_aws_cron_year_is_dropped_as_metaflows_argo_does(rendered) -> None:
    """Metaflow passes ``0 12 * * ? *`` through, and croniter reads the 6th field as the
    second (a run every second of 12:00): the EventBridge year ``*`` is dropped instead."""
    ctx, fd = _variant(_dag(rendered, "prod", "RefreshFlow"),
                       schedule=Schedule(cron="0 12 ? * MON-FRI *"))
    assert af.dag_context(ctx, fd, *fixed_package(ctx, fd))["schedule"] == "0 12 ? * MON-FRI"


@pytest.mark.parametrize("cron,match,hint", [
    ("0 12 ? * 2-6 *", "1-7 from Sunday", "name the days"),
    ("0 12 * * ? 2027", "year '2027' has no Airflow form", "'0 12 * * ?'"),
    ("0 12 * *", "has 4 fields", None)])
def test_crons_airflow_cannot_take_are_refused_early(rendered, cron, match, hint) -> None:
    ctx, fd = _variant(_dag(rendered, "prod", "RefreshFlow"), schedule=Schedule(cron=cron))
    with pytest.raises(FlowstacksError, match=match) as exc:
        af.dag_context(ctx, fd, *fixed_package(ctx, fd))
    assert "RefreshFlow" in exc.value.where
    if hint:
        assert hint in exc.value.hint


def test_six_field_cron_with_seconds_is_accepted_as_metaflow_does(rendered) -> None:
    """Metaflow's airflow create passes a 6-field cron through; Airflow takes the 6th as seconds."""
    ctx, fd = _variant(_dag(rendered, "prod", "RefreshFlow"),
                       schedule=Schedule(cron="0 12 * * 1-5 30"))
    assert af.dag_context(ctx, fd, *fixed_package(ctx, fd))["schedule"] == "0 12 * * 1-5 30"


def test_fully_qualified_upstream(rendered) -> None:
    ctx, fd = _variant(_dag(rendered, "test", "PublishFlow"), trigger_on_finish=(
        UpstreamSpec(flow="TrainFlow", project="example_project", branch="prod"),))
    assets = af.dag_context(ctx, fd, *fixed_package(ctx, fd))["schedule_assets"]
    assert assets == [{"name": "metaflow.example_project.prod.TrainFlow.end",
                       "uri": "metaflow://example_project/prod/TrainFlow"}]


def test_dag_id_error_is_metaflows(rendered) -> None:
    dag = _dag(rendered, "user", "ProjectFlow")
    names = replace(dag.fd.names, airflow=AirflowNames(dag_id=None, error=(
        "Name 'x y' contains invalid characters. Please construct a name using regex "
        "[^a-zA-Z0-9_\\-\\.]")))
    fd = dag.fd.model_copy(update={"names": names})
    with pytest.raises(MetaflowRuleError, match="contains invalid characters"):
        af.dag_context(dag.ctx, fd, *fixed_package(dag.ctx, fd))


def test_batch_step_is_refused(rendered) -> None:
    dag = _dag(rendered, "prod", "ProjectFlow")
    batch = (Decorator(name="batch", attributes={}),)
    start = dag.fd.flow.steps[0].model_copy(update={"decorators": batch})
    ctx, fd = _variant(dag, steps=(start,) + dag.fd.flow.steps[1:])
    with pytest.raises(MetaflowRuleError,
                       match=r"Step \*start\* is marked for execution on AWS Batch"):
        af.dag_context(ctx, fd, *fixed_package(ctx, fd))


def test_parameters_become_params(rendered) -> None:
    params = _dag(rendered, "prod", "TrainFlow").context["params"]
    assert params == [{"name": "epochs", "default": 10, "type": "integer"},
                      {"name": "learning_rate", "default": 0.01,
                       "description": "step size of the optimiser", "type": "number"}]
    start_env = _task(_dag(rendered, "prod", "TrainFlow"), "start")["kwargs"]["env_vars"]
    assert start_env["METAFLOW_PARAMETERS"] == "{{ params | json_dump }}"


@pytest.mark.parametrize("prefix,key", [("dags/", "dags/x.py"), ("dags", "dags/x.py"),
                                        ("/a/b/", "a/b/x.py"), ("", "x.py")])
def test_dag_object_key(prefix: str, key: str) -> None:
    assert af.dag_object_key(prefix, "x") == key


def _with_decorators(dag: RenderedDag, step: str, *decos: Decorator) -> dict:
    steps = tuple(s.model_copy(update={"decorators": decos}) if s.name == step else s
                  for s in dag.fd.flow.steps)
    ctx, fd = _variant(dag, steps=steps)
    context = af.dag_context(ctx, fd, *fixed_package(ctx, fd))
    return next(t for t in context["tasks"] if t["step"] == step)


def test_gpu_and_environment(rendered) -> None:
    dag = _dag(rendered, "prod", "ProjectFlow")
    task = _with_decorators(dag, "start",
                            Decorator(name="resources", attributes={"cpu": "1", "gpu": 2,
                                                                    "memory": "4096"}),
                            Decorator(name="environment", attributes={"vars": {"A": "1"}}))
    assert task["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert "namespace=airflow,gpu=2,gpu_vendor=nvidia" in task["kwargs"]["cmds"][2]
    assert list(task["kwargs"]["env_vars"])[0] == "A"  # @environment first, as Metaflow


def test_static_kubernetes_is_not_repassed(rendered) -> None:
    dag = _dag(rendered, "prod", "ProjectFlow")
    task = _with_decorators(dag, "start", Decorator(name="kubernetes", attributes={
        "cpu": "3", "image": "my/image:1", "secrets": "s1,s2"}))
    assert "--with 'kubernetes:" not in task["kwargs"]["cmds"][2]  # it is in the package
    assert task["kwargs"]["image"] == "my/image:1"
    assert task["resources"]["requests"]["cpu"] == "3"
    assert task["secrets"] == ["s1", "s2"]


def test_kubernetes_tmpfs_is_refused(rendered) -> None:
    dag = _dag(rendered, "prod", "ProjectFlow")
    with pytest.raises(MetaflowRuleError, match=r"\*use_tmpfs\* is currently not supported"):
        _with_decorators(dag, "end", Decorator(name="kubernetes", attributes={"use_tmpfs": True}))


def test_dag_id_longer_than_airflow_takes(rendered) -> None:
    dag = _dag(rendered, "user", "ProjectFlow")
    long_id = "p." + "x" * 250
    fd = dag.fd.model_copy(update={"names": replace(
        dag.fd.names, airflow=AirflowNames(dag_id=long_id, error=None))})
    with pytest.raises(FlowstacksError, match="at most 250"):
        af.dag_context(dag.ctx, fd, *fixed_package(dag.ctx, fd))


def test_bash_c_command_equals_shlex():
    import shlex

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from flowstacks.render.airflow import bash_c_command

    @settings(max_examples=2000, deadline=None)
    @given(st.text('ab \\"$`\'\n', max_size=30))
    def check(body):
        try:
            expected = shlex.split('bash -c "%s"' % body)
        except ValueError:
            return  # unbalanced quotes: Metaflow's own split fails too
        assert bash_c_command(body) == expected

    check()
