"""The pure Step Functions renderer: Metaflow's state graph, task command, parameters and env."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.flow import Schedule, Step
from flowstacks.naming.deployers import eventbridge_rule_name
from flowstacks.render.serialize import canonical_json
from flowstacks.render.sfn import (
    OUTPUT_PATH, SfnInputs, check_flow, event_rules, job_definition_ref, render_state_machine,
    resolve_references_json,
)
from flowstacks.render.walk import walk

from .helpers import command, env, oracle_context, render_resolved, task, tasks

REFERENCE = Path("/work/shared/metaflow/outputs/sfn_project_flow_prod.json")
SHA = "f4d5df9578ee82e20af6ea2a023c6b4ee4f48eb5"
URL = f"s3://mf-fake-bucket/metaflow/ProjectFlow/data/f4/{SHA}"
PARAM_FILE = re.compile(r"set_batch_environment parameters ([a-z]{10}) && \. `pwd`/\1")


def _inputs(ctx):
    from flowstacks.iam.sfn import task_role_arn

    return SfnInputs("a" * 40, f"s3://example-metaflow/metaflow/F/data/aa/{'a' * 40}",
                     task_role_arn(ctx))


def _render(ctx, flow):
    return render_state_machine(ctx, ctx.flow(flow), _inputs(ctx))


@pytest.mark.skipif(not REFERENCE.exists(), reason=f"{REFERENCE} not on this machine")
def test_project_flow_matches_metaflow_reference_output(contexts):
    """Byte-level equality with Metaflow 2.19.39's own output for the docs flow (prod), except
    the two documented differences (DIFFERENCES.md): the random parameters file name and the
    deployer's interpreter string in METAFLOW_VERSION."""
    ctx = oracle_context(contexts["prod"], "http://127.0.0.1:5055")
    ours = render_resolved(ctx, "ProjectFlow", SHA, URL)
    ref = json.loads(REFERENCE.read_text())

    def scrub(d):
        text = json.dumps(d, sort_keys=True)
        text = PARAM_FILE.sub("set_batch_environment parameters F && . `pwd`/F", text)
        return re.sub(r'\\"python_version(_code)?\\": \\"[^"\\]*\\"', "PY", text)

    assert scrub(ours) == scrub(ref)
    # and the differences are only those two
    assert json.dumps(ours, sort_keys=True) != json.dumps(ref, sort_keys=True)


def test_rendering_is_deterministic(contexts):
    ctx = contexts["prod"]
    first = [canonical_json(_render(ctx, d.flow.name).definition) for d in ctx.flows]
    second = [canonical_json(_render(ctx, d.flow.name).definition) for d in ctx.flows]
    assert first == second


def test_state_graphs(contexts):
    ctx = contexts["prod"]
    features = _render(ctx, "FeaturesFlow").definition
    parallel = [n for n, s in features["States"].items() if s["Type"] == "Parallel"]
    assert len(parallel) == 1 and len(parallel[0]) == 56  # sha224 of "clicks&purchases"
    branches = features["States"][parallel[0]]["Branches"]
    assert [b["StartAt"] for b in branches] == ["clicks", "purchases"]
    assert all(b["States"][b["StartAt"]]["End"] is True for b in branches)
    assert features["States"][parallel[0]]["Next"] == "join"
    assert features["States"]["start"]["Next"] == parallel[0]
    assert features["States"]["end"]["End"] is True

    train = _render(ctx, "TrainFlow").definition
    assert train["States"]["start"]["Next"] == "#train"
    assert train["States"]["#train"]["Resource"] == "arn:aws:states:::dynamodb:getItem"
    # prod's own table (the example config's platform_overrides)
    assert train["States"]["#train"]["Parameters"]["TableName"] == "example_project.prod.sfn-state"
    mapped = train["States"]["*train"]
    assert mapped["Type"] == "Map" and mapped["Next"] == "pick_best"
    assert mapped["Iterator"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert sorted(train["States"]) == ["#train", "*train", "end", "pick_best", "start"]
    assert list(mapped["Iterator"]["States"]) == ["train"]
    for _, state in tasks(train):
        assert state["OutputPath"] == OUTPUT_PATH
        assert state["Retry"][0]["ErrorEquals"] == ["Batch.AWSBatchException"]


def test_top_level_flags_per_namespace(contexts):
    flags = {kind: command(task(_render(ctx, "ProjectFlow").definition, "end"))
             for kind, ctx in contexts.items()}
    assert "' --production --quiet " in flags["prod"]
    assert "' --branch feature_x --quiet " in flags["test"]
    assert "--production" not in flags["user"] and "--branch" not in flags["user"]
    # the example project configures a metadata service (flowspecs/flowstacks_config.py)
    assert all("--metadata=service" in f and "--metadata=local" not in f for f in flags.values())
    assert "' --quiet --metadata=service" in flags["user"]


def test_metaflow_parameters_and_env(contexts):
    for kind, ctx in contexts.items():
        start = task(_render(ctx, "ProjectFlow").definition, "start")
        params = start["Parameters"]["Parameters"]
        assert params["metaflow.owner"] == ctx.owner
        assert params["metaflow.production_token"] == ctx.production_token
        assert params["metaflow.user"] == "SFN" and params["metaflow.flow_name"] == "ProjectFlow"
        assert params["metaflow.run_id.$"] == "$$.Execution.Name"
        e = dict(env(start))
        assert e["METAFLOW_PRODUCTION_TOKEN"] == ctx.production_token
        assert e["METAFLOW_OWNER"] == ctx.owner and e["USER"] == ctx.owner
        assert e["METAFLOW_USER"] == "SFN"
        assert e["SFN_STATE_MACHINE"] == ctx.flow("ProjectFlow").state_machine_name
        assert json.loads(e["METAFLOW_VERSION"])["production_token"] == ctx.production_token
    owners = {kind: ctx.owner for kind, ctx in contexts.items()}
    assert owners == {"prod": "platform-team", "test": "platform-team", "user": "alice"}


def test_parameters_are_execution_input(contexts):
    start = task(_render(contexts["prod"], "TrainFlow").definition, "start")
    e = env(start)
    assert ("METAFLOW_PARAMETERS", "$.Parameters") in e
    assert ("METAFLOW_DEFAULT_PARAMETERS", '{"epochs": 10, "learning_rate": 0.01}') in e
    assert start["Parameters"]["ContainerOverrides"]["Environment"][-1]["Name"] != "METAFLOW_PARAMETERS"
    assert " init --run-id sfn-$METAFLOW_RUN_ID --task-id ${AWS_BATCH_JOB_ID}-params" in command(start)


def test_configs_reach_tasks_as_metaflow_passes_them(contexts):
    start = task(_render(contexts["prod"], "ScoringFlow").definition, "start")
    assert ("METAFLOW_FLOW_CONFIG_VALUE", '{"settings": "kv.settings"}') in env(start)


def test_retries_timeouts_resources(contexts):
    train_def = _render(contexts["prod"], "TrainFlow").definition
    train = task(train_def, "train")["Parameters"]
    assert train["RetryStrategy"] == {"Attempts": 3}  # @retry(times=2)
    assert train["Timeout"] == {"AttemptDurationSeconds": 7200}  # @timeout(hours=2)
    assert train["ContainerOverrides"]["ResourceRequirements"] == [
        {"Value": "4", "Type": "VCPU"}, {"Value": "16384", "Type": "MEMORY"}]
    assert "--max-user-code-retries 2 " in command(task(train_def, "train"))
    assert "--split-index $METAFLOW_SPLIT_INDEX" in command(task(train_def, "train"))
    join = task(train_def, "pick_best")
    assert "set_batch_environment parent_tasks" in command(join)
    assert ("METAFLOW_INPUT_PATHS", "sfn-${METAFLOW_RUN_ID}/train/:${METAFLOW_PARENT_TASK_IDS}") in env(join)
    end = task(train_def, "end")["Parameters"]
    assert end["RetryStrategy"] == {"Attempts": 1}
    assert end["Timeout"] == {"AttemptDurationSeconds": 432000}  # Metaflow's 5-day default
    scoring = task(_render(contexts["prod"], "ScoringFlow").definition, "start")
    assert "batch:cpu=2,gpu=0,memory=8192,image=python:3.11," in command(scoring)


def test_job_definition_arn_is_a_pulumi_input(contexts):
    ctx = contexts["prod"]
    r = _render(ctx, "ProjectFlow")
    (name,) = r.job_definitions
    assert task(r.definition, "start")["Parameters"]["JobDefinition"] == job_definition_ref(name)
    # the component resolves the placeholders in the definition's text, JSON-escaping the ARN
    text = canonical_json(r.definition, indent=None)
    resolved = json.loads(resolve_references_json(text, {name: 'arn:"x":1'}))
    used = [s["Parameters"]["JobDefinition"] for _, s in tasks(resolved)]
    assert len(used) == len(list(tasks(r.definition))) > 1 and set(used) == {'arn:"x":1'}
    assert json.dumps(resolved).count("flowstacks:job-definition") == 0
    with pytest.raises(KeyError, match="job-definition"):
        resolve_references_json(text, {})
    assert r.needs.job_definitions == (name,)
    assert r.needs.dynamodb_tables == ()
    assert _render(ctx, "TrainFlow").needs.dynamodb_tables == (ctx.dynamodb_table,)


def test_schedule_and_trigger_rules(contexts):
    for kind, ctx in contexts.items():
        refresh = ctx.flow("RefreshFlow")
        (rule,) = event_rules(ctx, refresh)
        assert rule.name == refresh.eventbridge_rule_name == eventbridge_rule_name(
            refresh.state_machine_name)
        assert rule.schedule_expression == "cron(0 0 * * ? *)"
        assert rule.description == f"Metaflow generated rule for {rule.name}"
        publish = ctx.flow("PublishFlow")
        (rule,) = event_rules(ctx, publish)
        # the upstream resolves in the same namespace (docs/metaflow-contract.md#events)
        upstream = ctx.flow("TrainFlow").state_machine_name
        assert rule.event_pattern == {
            "source": ["aws.states"], "account": ["123456789012"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ["SUCCEEDED"], "stateMachineArn": [
                f"arn:aws:states:us-east-1:123456789012:stateMachine:{upstream}"]}}
        assert len(rule.name) <= 64
        assert event_rules(ctx, ctx.flow("ProjectFlow")) == []


def test_timezone_is_refused_with_metaflows_message(contexts):
    flow = contexts["prod"].flow("RefreshFlow").flow
    bad = flow.model_copy(update={"schedule": Schedule(daily=True, timezone="Europe/Paris")})
    with pytest.raises(MetaflowRuleError) as exc:
        check_flow(bad)
    assert exc.value.message == "Step Functions does not support scheduling with a timezone."
    assert "RefreshFlow" in exc.value.where


def test_switch_is_refused_naming_flow_and_step(contexts):
    ctx = contexts["prod"]
    dep = ctx.flow("ProjectFlow")
    start = dep.flow.step("start").model_copy(update={"type": "split-switch",
                                                     "next": ("end",)})
    flow = dep.flow.model_copy(update={"steps": (start, dep.flow.step("end"))})
    with pytest.raises(FlowstacksError) as exc:
        render_state_machine(ctx, dep.model_copy(update={"flow": flow}), _inputs(ctx))
    assert "switch" in exc.value.message
    assert exc.value.where == "flowspecs/project_flow.py (ProjectFlow.start)"


def test_walk_is_generic(contexts):
    """The same visitor drives any backend: here one that only records the shapes it sees."""

    class Recorder:
        def workflow(self, start: Step):
            return [f"wf:{start.name}"]

        def task(self, wf, step, next_step):
            wf.append(f"{step.name}->{next_step}")

        def split(self, wf, step, branches, join):
            wf.append(f"split:{step.name}:{branches}:{join.name}")

        def foreach(self, wf, step, body, join):
            wf.append(f"foreach:{step.name}:{body}:{join.name}")

        def unsupported(self, step):
            return FlowstacksError(step.name)

    flows = {d.flow.name: d.flow for d in contexts["prod"].flows}
    assert walk(flows["TrainFlow"], Recorder()) == [
        "wf:start", "foreach:start:['wf:train', 'train->None']:pick_best", "pick_best->end",
        "end->None"]
    assert walk(flows["FeaturesFlow"], Recorder()) == [
        "wf:start", "split:start:[['wf:clicks', 'clicks->None'], "
        "['wf:purchases', 'purchases->None']]:join", "join->end", "end->None"]


def test_trigger_on_finish_across_namespaces(contexts):
    """A fully qualified upstream (docs/metaflow-contract.md#events) is another namespace's state
    machine: a test stack may listen to prod's TrainFlow; the rule names prod's ARN, the role
    starts only its own."""
    from flowstacks.naming.events import UpstreamSpec

    ctx = contexts["test"]
    dep = ctx.flow("PublishFlow")
    flow = dep.flow.model_copy(update={"trigger_on_finish": (
        UpstreamSpec(flow="TrainFlow", project="example_project", branch="prod"),)})
    (rule,) = event_rules(ctx, dep.model_copy(update={"flow": flow}))
    assert rule.event_pattern["detail"]["stateMachineArn"] == [
        "arn:aws:states:us-east-1:123456789012:stateMachine:example_project.prod.TrainFlow"]
    half = flow.model_copy(update={"trigger_on_finish": (
        UpstreamSpec(flow="TrainFlow", project="other_project"),)})
    rules = event_rules(ctx, dep.model_copy(update={"flow": half}))  # branch from the downstream
    assert rules[0].event_pattern["detail"]["stateMachineArn"] == [
        "arn:aws:states:us-east-1:123456789012:stateMachine:other_project.test.feature_x.TrainFlow"]


def test_trigger_events_on_the_configured_bus(contexts):
    from flowstacks.model.flow import EventTrigger

    ctx = contexts["test"]
    aws = ctx.config.aws.model_copy(update={"event_bus": "metaflow-events"})
    ctx = ctx.model_copy(update={"config": ctx.config.model_copy(update={"aws": aws})})
    dep = ctx.flow("ProjectFlow")
    flow = dep.flow.model_copy(update={"triggers": (
        EventTrigger(name="data_ready", namespaced=True), EventTrigger(name="raw_event"))})
    rules = event_rules(ctx, dep.model_copy(update={"flow": flow}))
    # only this account's custom events from the documented source (issue 14)
    assert [r.event_pattern for r in rules] == [
        {"source": ["metaflow"], "account": ["123456789012"],
         "detail-type": ["mfns.example_project.test.feature_x.data_ready"]},
        {"source": ["metaflow"], "account": ["123456789012"], "detail-type": ["raw_event"]}]
    assert {r.event_bus for r in rules} == {"metaflow-events"}
    assert len({r.name for r in rules}) == 2 and all(len(r.name) <= 64 for r in rules)
