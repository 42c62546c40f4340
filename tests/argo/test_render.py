"""The pure Argo renderer: schema-valid, referentially sound, deterministic objects with
Metaflow's names, flags, env, retries, resources, schedules and triggers (SPEC §2.2, §4, §5)."""

from __future__ import annotations

import pytest

from flowstacks.errors import FlowstacksError
from flowstacks.naming.events import sensor_dependency_name
from flowstacks.render.argo import render_flow
from flowstacks.render.serialize import yaml_documents
from tests.argo import helpers as h

RENDERED = h.all_rendered()
IDS = [f"{stack}:{flow}" for stack, flow, _ in RENDERED]


@pytest.mark.parametrize("stack,flow,objs", RENDERED, ids=IDS)
def test_template_and_cron_validate_against_argo_schema(stack, flow, objs):
    for doc in (objs.template, objs.cron):
        if doc is not None:
            assert h.schema_errors(doc) == [], f"{doc['kind']} of {flow} in {stack}"


@pytest.mark.parametrize("stack,flow,objs", RENDERED, ids=IDS)
def test_reference_checks_and_no_nulls(stack, flow, objs):
    assert h.reference_problems(objs.template) == []
    for doc in objs.documents():
        assert h.nulls(doc) == [], f"null fields in {doc['kind']}"
        assert h.DNS1123_SUBDOMAIN.match(doc["metadata"]["name"])


def test_schema_check_catches_a_broken_template():
    objs = h.render(h.context("prod"), h.context("prod").flow("TrainFlow"))
    broken = dict(objs.template, spec=dict(objs.template["spec"], parallelism="many"))
    assert h.schema_errors(broken)
    assert h.reference_problems(objs.template) == []
    cyclic = {"metadata": objs.template["metadata"], "spec": dict(
        objs.template["spec"], templates=[{"name": "TrainFlow", "dag": {"tasks": [
            {"name": "a", "template": "TrainFlow", "depends": "b.Succeeded"},
            {"name": "b", "template": "TrainFlow", "depends": "a.Succeeded && c.Succeeded"}]}}],
        onExit=None)}
    problems = h.reference_problems(cyclic)
    assert any("cycle" in p for p in problems) and any("unknown ['c']" in p for p in problems)


def test_rendering_is_deterministic():
    ctx = h.context("test.feature_x")
    for fd in ctx.flows:
        a, b = h.render(ctx, fd), h.render(ctx, fd)
        assert a.artifact().content == b.artifact().content
        assert "deployment_timestamp" not in a.artifact().content
        assert "&id0" not in a.artifact().content  # no YAML anchors from shared dicts


def test_names_and_annotations_follow_metaflow():
    ctx = h.context("test.feature_x")
    objs = h.render(ctx, ctx.flow("ProjectFlow"))
    meta = objs.template["metadata"]
    assert meta["name"] == "exampleproject.test.featurex.projectflow"
    ann = meta["annotations"]
    assert ann["metaflow/production_token"] == ctx.production_token == "mfprj-hown53wp3mmxiiww-0-jbwk"
    assert ann["metaflow/owner"] == "platform-team"
    assert ann["metaflow/user"] == "argo-workflows"
    assert ann["metaflow/branch_name"] == "test.feature_x"
    assert ann["workflows.argoproj.io/title"] == "example_project.test.feature_x.ProjectFlow"
    assert meta["labels"] == {"app.kubernetes.io/part-of": "metaflow",
                              "app.kubernetes.io/name": "metaflow-flow"}
    run_ann = objs.template["spec"]["workflowMetadata"]["annotations"]
    assert run_ann["metaflow/run_id"] == "argo-{{workflow.name}}"
    assert "workflows.argoproj.io/title" not in run_ann


@pytest.mark.parametrize("stack,flags", [
    ("prod", "--production --quiet"),
    ("prod.staging", "--production --branch staging --quiet"),
    ("test.feature_x", "--branch feature_x --quiet"),
    ("user.alice", "--with 'environment:vars={}' --quiet"),
])
def test_step_command_repasses_project_flags(stack, flags):
    ctx = h.context(stack)
    tmpl = h.render(ctx, ctx.flow("ProjectFlow")).template
    for step in ("start", "end"):
        cmd = h.command(tmpl, step)
        assert flags in cmd
        assert f"step {step} --run-id argo-{{{{workflow.name}}}}" in cmd
        assert "--with 'kubernetes:cpu=1,memory=4096,disk=10240,image=python:3.11," \
               f"service_account={ctx.token_prefix}-tasks,namespace={ctx.config.kubernetes.namespace}," in cmd


def test_task_environment_carries_namespace_identity():
    ctx = h.context("prod")
    tmpl = h.render(ctx, ctx.flow("ProjectFlow")).template
    env = h.env(tmpl, "start")
    assert env["METAFLOW_PRODUCTION_TOKEN"] == "mfprj-6epsm4cfdput2lxm-0-dzey"
    assert env["METAFLOW_OWNER"] == "platform-team"
    assert env["METAFLOW_USER"] == "argo-workflows"
    assert env["ARGO_WORKFLOW_TEMPLATE"] == "exampleproject.prod.projectflow"
    assert env["ARGO_WORKFLOW_NAME"] == "{{workflow.name}}"
    # the namespace's own root (issue 16)
    assert env["METAFLOW_DATASTORE_SYSROOT_S3"] == f"s3://example-metaflow/metaflow/{ctx.branch_name}"
    assert env["METAFLOW_ARGO_EVENTS_WEBHOOK_URL"] == ctx.config.kubernetes.argo_events_webhook_url
    assert env["METAFLOW_CODE_URL"].startswith(
        f"s3://example-metaflow/metaflow/{ctx.branch_name}/ProjectFlow/data/")
    assert env["METAFLOW_KUBERNETES_POD_NAME"] is None  # a downward-API reference


def test_foreach_dag_retries_timeout_and_resources():
    ctx = h.context("test.feature_x")
    tmpl = h.render(ctx, ctx.flow("TrainFlow")).template
    templates = {t["name"]: t for t in tmpl["spec"]["templates"]}
    top = {t["name"]: t for t in templates["TrainFlow"]["dag"]["tasks"]}
    assert list(top) == ["start", "start-foreach-regions", "pick-best", "end"]
    assert top["start-foreach-regions"]["withParam"] == "{{tasks.start.outputs.parameters.num-splits}}"
    assert top["pick-best"]["depends"] == "start-foreach-regions.Succeeded"
    assert [t["name"] for t in templates["start-foreach-regions"]["dag"]["tasks"]] == ["train"]
    train = templates["train"]
    assert train["retryStrategy"] == {"retryPolicy": "Always", "limit": 2,
                                      "backoff": {"duration": "1m"}}
    assert train["activeDeadlineSeconds"] == 7200
    assert train["container"]["resources"]["requests"] == {
        "cpu": "4.0", "memory": "16384.0M", "ephemeral-storage": "10240.0M"}
    assert "--split-index {{inputs.parameters.split-index}}" in h.command(tmpl, "train")
    assert "generate_input_paths train" in h.command(tmpl, "pick-best")
    assert templates["pick-best"]["retryStrategy"]["limit"] == 3
    assert "retryStrategy" not in templates["end"]
    assert templates["end"]["activeDeadlineSeconds"] == 432000
    params = {p["name"]: p["value"] for p in tmpl["spec"]["arguments"]["parameters"]}
    assert params == {"epochs": "10", "learning_rate": "0.01"}


def test_static_split_joins_both_branches():
    ctx = h.context("prod")
    tmpl = h.render(ctx, ctx.flow("FeaturesFlow")).template
    dag = {t["name"]: t for t in tmpl["spec"]["templates"][0]["dag"]["tasks"]}
    assert dag["join"]["depends"] == "clicks.Succeeded && purchases.Succeeded"
    assert dag["join"]["arguments"]["parameters"][0]["value"] == (
        "argo-{{workflow.name}}/:clicks/{{tasks.clicks.outputs.parameters.task-id}},"
        "purchases/{{tasks.purchases.outputs.parameters.task-id}}")


@pytest.mark.parametrize("stack", ["prod", "user.alice"])
def test_schedule_becomes_cron_workflow_with_schedules_list(stack):
    ctx = h.context(stack)
    objs = h.render(ctx, ctx.flow("RefreshFlow"))
    cron = objs.cron
    assert cron["metadata"]["name"] == objs.template["metadata"]["name"]
    assert cron["spec"]["schedules"] == ["0 0 * * ?"]
    assert "schedule" not in cron["spec"]
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == cron["metadata"]["name"]
    assert objs.template["metadata"]["annotations"]["metaflow/cron"] == \
        '{"schedule": "0 0 * * ?", "tz": ""}'
    assert h.render(ctx, ctx.flow("ProjectFlow")).cron is None


@pytest.mark.parametrize("stack,event", [
    ("prod", "metaflow.example_project.prod.TrainFlow.end"),
    ("test.feature_x", "metaflow.example_project.test.feature_x.TrainFlow.end"),
    ("user.alice", "metaflow.example_project.user.alice.TrainFlow.end"),
])
def test_trigger_on_finish_sensor_follows_own_namespace(stack, event):
    ctx = h.context(stack)
    objs = h.render(ctx, ctx.flow("PublishFlow"))
    sensor = objs.sensor
    dep = sensor_dependency_name(event)
    assert sensor["metadata"]["name"] == objs.template["metadata"]["name"].replace(".", "-")
    [dependency] = sensor["spec"]["dependencies"]
    assert dependency["name"] == dep
    exprs = [e["expr"] for e in dependency["filters"]["exprs"]]
    assert exprs == [f"name == '{event}'", "field == 'True'", "field == 'example_project'",
                     f"field == '{ctx.branch_name}'"]
    k8s = sensor["spec"]["triggers"][0]["template"]["k8s"]
    assert k8s["source"]["resource"]["spec"]["workflowTemplateRef"]["name"] == \
        objs.template["metadata"]["name"]
    used = {p["src"]["dependencyName"] for p in k8s["parameters"]}
    assert used == {dep}
    env = h.env(objs.template, "start")
    assert env[f"METAFLOW_ARGO_EVENT_PAYLOAD_run_{dep}"] == "{{workflow.parameters.%s}}" % dep
    assert h.render(ctx, ctx.flow("ProjectFlow")).sensor is None


def test_artifact_is_one_multi_document_stream():
    ctx = h.context("prod")
    objs = h.render(ctx, ctx.flow("RefreshFlow"))
    art = objs.artifact()
    assert art.path == "argo/exampleproject.prod.refreshflow.yaml"
    assert art.content == yaml_documents([objs.template, objs.cron])
    assert art.content.count("\n---\n") + art.content.startswith("---") == 1


def test_user_name_kubernetes_rejects_is_an_error(monkeypatch):
    from flowstacks.load.project import ProjectDir
    from tests.conftest import EXAMPLE

    with pytest.raises(FlowstacksError) as early:  # the stack refuses it before rendering...
        ProjectDir(EXAMPLE, "argo").stack_context("user.john doe")
    assert "not a valid Kubernetes name" in early.value.message
    # ...and the renderer refuses it too, should a context ever reach it
    monkeypatch.setattr("flowstacks.load.project.check_names", lambda *args: None)
    ctx = ProjectDir(EXAMPLE, "argo").stack_context("user.john doe")
    fd = ctx.flow("ProjectFlow")
    assert fd.argo_template_name == "exampleproject.user.john doe.projectflow"  # as Metaflow
    with pytest.raises(FlowstacksError) as err:
        render_flow(ctx, fd, h.fixed_package(fd, ctx), "sa")
    assert "not a valid Kubernetes name" in err.value.message
    assert "ProjectFlow" in err.value.where


def test_unsupported_shapes_fail_with_flow_and_step():
    from flowstacks.model.flow import Decorator

    ctx = h.context("prod")
    fd = ctx.flow("ProjectFlow")
    start = fd.flow.step("start").model_copy(update={
        "decorators": (Decorator(name="parallel", attributes={}),)})
    flow = fd.flow.model_copy(update={"steps": (start, fd.flow.step("end"))})
    with pytest.raises(FlowstacksError) as err:
        h.render(ctx, fd.model_copy(update={"flow": flow}))
    assert "ProjectFlow.start" in err.value.where
    # Metaflow's linter would have refused this graph at load time; the renderer does too
    assert ("Step *start* has a @parallel decorator, but is not called with "
            "self.next(num_parallel=...)") in err.value.message


@pytest.mark.parametrize("deco,message", [
    (("batch", {"cpu": 1}), "marked for execution both on AWS Batch and Kubernetes"),
    (("timeout", {"seconds": 30}), "should be at least 60 seconds"),
])
def test_steps_kubernetes_refuses_fail_like_metaflow(deco, message):
    from flowstacks.errors import MetaflowRuleError
    from flowstacks.model.flow import Decorator

    ctx = h.context("prod")
    fd = ctx.flow("ProjectFlow")
    start = fd.flow.step("start").model_copy(
        update={"decorators": (Decorator(name=deco[0], attributes=deco[1]),)})
    flow = fd.flow.model_copy(update={"steps": (start, fd.flow.step("end"))})
    with pytest.raises(MetaflowRuleError) as err:
        h.render(ctx, fd.model_copy(update={"flow": flow}))
    assert message in err.value.message and "ProjectFlow.start" in err.value.where


def test_artifact_parses_back_to_the_objects():
    import yaml

    ctx = h.context("test.feature_x")
    objs = h.render(ctx, ctx.flow("PublishFlow"))
    assert list(yaml.safe_load_all(objs.artifact().content)) == objs.documents()


def test_nested_shapes_render_valid_dags(tmp_path):
    """Nested foreach and a split inside a foreach (compared with Metaflow in test_oracle)."""
    from flowstacks.load.project import ProjectDir
    from tests.conftest import REPO

    (tmp_path / "flowspecs").mkdir()
    src = REPO / "tests" / "argo" / "flows" / "shapes_flow.py"
    (tmp_path / "flowspecs" / src.name).write_text(src.read_text())
    ctx = ProjectDir(tmp_path, "argo").stack_context("prod")
    tmpl = h.render(ctx, ctx.flow("ShapesFlow")).template
    assert h.schema_errors(tmpl) == [] and h.reference_problems(tmpl) == []
    templates = {t["name"]: t for t in tmpl["spec"]["templates"]}
    outer = {t["name"]: t for t in templates["prepare-foreach-outer"]["dag"]["tasks"]}
    assert outer["fan-prepare-foreach-inner"]["arguments"]["parameters"][-1]["name"] == \
        "root-input-path"
    assert outer["ab-join"]["depends"] == "a.Succeeded && b.Succeeded"
    assert templates["inner-fan"]["container"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert templates["right"]["retryStrategy"]["limit"] == 3  # @catch retries
    assert h.env(tmpl, "left")["MODE"] == "left"
    assert "--with 'environment:vars={}'" not in h.command(tmpl, "left")


def test_named_weekdays_and_5_field_crons_keep_their_days():
    """A 5-field cron is Argo's own (0-6 from Sunday) and names mean the same everywhere: only a
    6-field EventBridge cron with numbered days is refused (test_bad_input)."""
    from flowstacks.model.flow import Schedule

    assert Schedule(cron="0 12 ? * MON-FRI *").numbered_weekdays is None
    assert Schedule(cron="0 12 * * 1-5").numbered_weekdays is None
    assert Schedule(cron="0 12 ? * 2#1 *").numbered_weekdays == "2#1"
    assert Schedule(cron="0 12 ? * */2 *").numbered_weekdays is None
