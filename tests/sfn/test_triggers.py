"""Step Functions triggers, flowstacks' extension beyond Metaflow (issue 14): event fields mapped
into the flow's Parameters through the target's InputTransformer, rules matching only the
expected source and account, the triggering run handed to ``current.trigger`` (``--trigger``
through ``METAFLOW_TRIGGER``), several upstream flows refused (AND cannot be built on a rule),
and ``@schedule`` crons that EventBridge accepts.

The wiring is executed, not only inspected: moto's EventBridge (the transformer implementation
run-local uses) delivers the event to a queue standing in for the state machine (moto has no
Step Functions target), whose message is the execution input EventBridge would pass, and
moto's Step Functions interpreter runs the rendered Choice/Pass prologue.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from flowstacks.errors import FlowstacksError
from flowstacks.model.flow import EventTrigger, Parameter, Schedule
from flowstacks.naming.events import UpstreamSpec
from flowstacks.render.sfn import event_rules, render_state_machine, SfnInputs
from flowstacks.render.sfn.checks import check_flow
from flowstacks.render.sfn.schedule import CronError, eventbridge_cron

from .helpers import env, task


def _with(ctx, name, **update):
    dep = ctx.flow(name)
    return dep.model_copy(update={"flow": dep.flow.model_copy(update=update)})


@pytest.mark.parametrize("cron,expected", [
    ("0 0 * * *", "0 0 * * ? *"),            # every day: day-of-week becomes ?
    ("*/15 2 1 * *", "*/15 2 1 * ? *"),       # day-of-month kept, day-of-week ?
    ("0 12 * * 1-5", "0 12 ? * MON-FRI *"),   # Unix 1-5 -> names (EventBridge numbers from 1 = SUN)
    ("0 12 * * 0,6", "0 12 ? * SUN,SAT *"),
    ("0 12 * * 7", "0 12 ? * SUN *"),
    ("0 12 * * 5-7", "0 12 ? * FRI-SAT,SUN *"),
    ("0 12 * * mon", "0 12 ? * MON *"),
    ("0 12 ? * MON-FRI *", "0 12 ? * MON-FRI *"),  # already EventBridge's form
    ("0 0 * * ? *", "0 0 * * ? *"),
])
def test_cron_becomes_what_eventbridge_accepts(cron, expected):
    assert eventbridge_cron(cron) == expected


@pytest.mark.parametrize("cron,why", [
    ("0 0 1 * 1", "both restricted"),        # Unix: 1st of month OR Monday
    ("0 0 * * */2", "step"),
    ("0 0 * * * *", "exactly one"),          # 6 fields, no ?
    ("0 0 ? * ? *", "exactly one"),
    ("0 0 * *", "4 fields"),
    ("@daily", "1 fields"),
])
def test_cron_eventbridge_cannot_express_is_refused(cron, why):
    with pytest.raises(CronError, match=why.replace("*", r"\*")):
        eventbridge_cron(cron)


def test_schedule_rule_is_eventbridge_cron_or_refused(contexts):
    ctx = contexts["prod"]
    (rule,) = event_rules(ctx, _with(ctx, "RefreshFlow", schedule=Schedule(cron="30 6 * * 1-5")))
    assert rule.schedule_expression == "cron(30 6 ? * MON-FRI *)"
    with pytest.raises(FlowstacksError) as exc:
        event_rules(ctx, _with(ctx, "RefreshFlow", schedule=Schedule(cron="0 0 1 * 1")))
    assert "cannot be an EventBridge schedule" in exc.value.message
    assert exc.value.where == "flowspecs/refresh_flow.py (RefreshFlow)"


def test_several_upstreams_are_refused_not_ored(contexts):
    ctx = contexts["prod"]
    dep = _with(ctx, "PublishFlow", trigger_on_finish=(
        UpstreamSpec(flow="TrainFlow"), UpstreamSpec(flow="FeaturesFlow")))
    with pytest.raises(FlowstacksError) as exc:
        event_rules(ctx, dep)
    assert "every upstream flow has finished" in exc.value.message
    assert "'TrainFlow', 'FeaturesFlow'" in exc.value.message
    assert "PublishFlow" in exc.value.where


def test_event_parameters_checked_and_all_problems_reported(contexts):
    ctx = contexts["prod"]
    dep = _with(ctx, "ProjectFlow", parameters=(Parameter(name="alpha", type="float", default=0.1,
                                                          has_default=True),),
                triggers=(EventTrigger(name="e", parameters={"beta": "b", "alpha": "a.b"}),))
    with pytest.raises(FlowstacksError) as exc:
        event_rules(ctx, dep)
    assert "'beta', which ProjectFlow does not declare" in exc.value.message
    assert "field 'a.b' cannot be read" in exc.value.message


def test_kubernetes_step_refused_naming_flow_and_step(contexts):
    from flowstacks.model.flow import Decorator

    flow = contexts["prod"].flow("ProjectFlow").flow
    steps = tuple(s.model_copy(update={"decorators": (Decorator(name="kubernetes", attributes={}),)})
                  for s in flow.steps)
    with pytest.raises(FlowstacksError) as exc:
        check_flow(flow.model_copy(update={"steps": steps}))
    text = exc.value.render()
    assert text.count("marked for execution on Kubernetes") == len(steps)  # every step at once
    assert f"({flow.name}.start)" in text and f"({flow.name}.end)" in text


REGION, ACCOUNT = "us-east-1", "123456789012"


@pytest.fixture
def aws():
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield {n: boto3.client(n, region_name=REGION)
               for n in ("events", "stepfunctions", "iam", "sqs")}


def _machine(aws, name, definition):
    role = aws["iam"].create_role(RoleName=f"r-{name}"[:60], AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return aws["stepfunctions"].create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]


def _target(rule, arn):
    target = {"Id": "t", "Arn": arn}
    if rule.input_transformer:
        target["InputTransformer"] = rule.input_transformer
    else:
        target["Input"] = json.dumps(rule.input)
    return target


def _queue(aws, name):
    url = aws["sqs"].create_queue(QueueName=name)["QueueUrl"]
    arn = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, arn["Attributes"]["QueueArn"]


def _inputs(aws, url):
    """The inputs the target received (one message per delivered event)."""
    got = aws["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def test_event_fields_reach_the_parameters_only_from_the_expected_source(aws, contexts):
    ctx = contexts["prod"]
    dep = _with(ctx, "ProjectFlow",
                parameters=(Parameter(name="alpha", type="float", default=0.1, has_default=True),
                            Parameter(name="region", type="str", default="x", has_default=True)),
                triggers=(EventTrigger(name="data_ready", parameters={"alpha": "a", "region": "r"}),))
    (rule,) = event_rules(ctx, dep)
    url, arn = _queue(aws, "target")
    aws["events"].put_rule(Name=rule.name, EventPattern=json.dumps(rule.event_pattern))
    aws["events"].put_targets(Rule=rule.name, Targets=[_target(rule, arn)])
    detail = json.dumps({"a": 0.7, "r": "emea", "other": 1})
    aws["events"].put_events(Entries=[
        {"Source": "someone.else", "DetailType": "data_ready", "Detail": detail},  # wrong source
        {"Source": "metaflow", "DetailType": "other_event", "Detail": detail},      # wrong event
        {"Source": "metaflow", "DetailType": "data_ready", "Detail": detail}])
    (execution_input,) = _inputs(aws, url)
    assert json.loads(execution_input["Parameters"]) == {"alpha": "0.7", "region": "emea"}


def test_upstream_run_reaches_the_tasks_as_trigger(aws, contexts):
    ctx = contexts["prod"]
    dep = ctx.flow("PublishFlow")
    (rule,) = event_rules(ctx, dep)
    upstream = rule.event_pattern["detail"]["stateMachineArn"][0]
    url, arn = _queue(aws, "publish")
    aws["events"].put_rule(Name=rule.name, EventPattern=json.dumps(rule.event_pattern))
    aws["events"].put_targets(Rule=rule.name, Targets=[_target(rule, arn)])

    def status(machine, state):
        return {"Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
                "Detail": json.dumps({"status": state, "stateMachineArn": machine,
                                      "name": "abc-123"})}

    aws["events"].put_events(Entries=[status(upstream, "FAILED"),
                                      status(upstream.replace("TrainFlow", "OtherFlow"), "SUCCEEDED"),
                                      status(upstream, "SUCCEEDED")])
    (execution_input,) = _inputs(aws, url)
    assert execution_input == {"Parameters": "{}", "Trigger": "TrainFlow/sfn-abc-123"}


def test_trigger_prologue_runs_with_and_without_a_trigger(aws, contexts):
    """The rendered Choice/Pass prologue, executed by moto: a rule-started execution keeps its
    Trigger, a hand-started one (``step-functions trigger``) gets an empty one; every task of
    the flow reads it (start from the input, the others from the Batch parameters)."""
    ctx = contexts["prod"]
    dep = ctx.flow("PublishFlow")
    definition = render_state_machine(ctx, dep, SfnInputs("sha", "s3://b/k", "arn:role")).definition
    start = task(definition, "start")
    assert dict(env(start))["METAFLOW_TRIGGER"] == "$.Trigger"
    assert start["Parameters"]["Parameters"]["metaflow.trigger.$"] == "$.Trigger"
    assert dict(env(task(definition, "end")))["METAFLOW_TRIGGER"] == "$.Parameters.['metaflow.trigger']"
    prologue = {k: v for k, v in definition["States"].items() if v["Type"] in ("Choice", "Pass")}
    probe = {"StartAt": definition["StartAt"], "States": {
        **prologue, "start": {"Type": "Pass", "Parameters": {"trigger.$": "$.Trigger"}, "End": True}}}
    arn = _machine(aws, "prologue", probe)
    sfn = aws["stepfunctions"]
    outputs = []
    for i, execution_input in enumerate(({"Parameters": "{}", "Trigger": "TrainFlow/sfn-x"},
                                         {"Parameters": "{}"})):
        ex = sfn.start_execution(stateMachineArn=arn, name=f"run-{i}",
                                 input=json.dumps(execution_input))
        for _ in range(100):
            d = sfn.describe_execution(executionArn=ex["executionArn"])
            if d["status"] != "RUNNING":
                break
            time.sleep(0.1)
        assert d["status"] == "SUCCEEDED", d
        outputs.append(json.loads(d["output"]))
    assert outputs == [{"trigger": "TrainFlow/sfn-x"}, {"trigger": ""}]
