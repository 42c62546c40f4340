"""moto executes the control flow of the generated definitions (``execute_state_machine``).

moto cannot run Batch jobs, so each ``submitJob.sync`` task is emulated by two Pass states: the
first evaluates every ``Value.$`` of the task's environment against the state input (a missing
path fails the execution) and records the values beside the input; the second returns what the
task's OutputPath keeps of a Batch job description (``JobId`` and the job ``Parameters``, with
their ``.$`` entries resolved). The foreach cardinality read from DynamoDB becomes a Pass with a
3-item result. What this proves: the Parallel and Map wiring, the JSONPaths Metaflow's runtime
reads (parent task ids, split index, split parent, run id) all resolve, in each shape.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

CARDINALITY = ["0", "1", "2"]


def emulate(definition: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(definition)
    for name, st in list(d["States"].items()):
        if "Branches" in st:
            st["Branches"] = [emulate(b) for b in st["Branches"]]
        if "Iterator" in st:
            st["Iterator"] = emulate(st["Iterator"])
        resource = st.get("Resource", "")
        if resource.endswith("batch:submitJob.sync"):
            p = st["Parameters"]
            env = {e["Name"] + ".$": e["Value.$"]
                   for e in p["ContainerOverrides"]["Environment"] if "Value.$" in e}
            d["States"][name] = {"Type": "Pass", "Parameters": {"env": env, "input.$": "$"},
                                 "Next": f"{name}~job"}
            job = {"Type": "Pass", "InputPath": "$.input",
                   "Parameters": {"JobId": f"job-{name}", "Parameters": p["Parameters"]}}
            job.update({k: st[k] for k in ("Next", "End") if k in st})
            d["States"][f"{name}~job"] = job
        elif resource.endswith("dynamodb:getItem"):
            d["States"][name] = {"Type": "Pass", "ResultPath": st["ResultPath"], "Next": st["Next"],
                                 "Result": {"Item": {"for_each_cardinality": {"NS": CARDINALITY}}}}
    return d


def execute(definition: dict[str, Any]) -> tuple[dict, list[dict]]:
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name="emulated", definition=json.dumps(emulate(definition)),
            roleArn="arn:aws:iam::123456789012:role/emulated")["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=arn, name="run1",
                                           input=json.dumps({"Parameters": "{}"}))["executionArn"]
        for _ in range(100):
            desc = client.describe_execution(executionArn=execution)
            if desc["status"] != "RUNNING":
                break
            time.sleep(0.1)
        events = client.get_execution_history(executionArn=execution)["events"]
    return desc, events


def _one(value: Any) -> Any:
    # moto's JSONPath returns ``$.[0].JobId`` as a one-item list where AWS returns the value.
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _env_of(events: list[dict], state: str) -> list[dict]:
    """The env values the emulated task of ``state`` resolved, once per execution of it."""
    return [{k: _one(v) for k, v in json.loads(e["stateExitedEventDetails"]["output"])["env"].items()}
            for e in events if e.get("stateExitedEventDetails", {}).get("name") == state]


@pytest.fixture(scope="module")
def prod(definitions):
    return {name.rsplit(".", 1)[-1]: d for (kind, name), d in definitions.items() if kind == "prod"}


def test_foreach_runs_the_body_per_item_and_joins(prod):
    desc, events = execute(prod["TrainFlow"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    train = _env_of(events, "train")
    assert sorted(e["METAFLOW_SPLIT_INDEX"] for e in train) == CARDINALITY
    assert {e["METAFLOW_PARENT_TASK_ID"] for e in train} == {"job-start"}
    assert {e["METAFLOW_SPLIT_PARENT_TASK_ID_FOR_FOREACH_JOIN"] for e in train} == {"job-start"}
    (join,) = _env_of(events, "pick_best")
    assert join["METAFLOW_SPLIT_PARENT_TASK_ID"] == "job-start"
    assert join["METAFLOW_RUN_ID"] == "run1"
    output = json.loads(desc["output"])
    assert output["Parameters"]["metaflow.run_id"] == "run1"  # carried to the end step


def test_split_runs_both_branches_and_joins(prod):
    desc, events = execute(prod["FeaturesFlow"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    assert len(_env_of(events, "clicks")) == len(_env_of(events, "purchases")) == 1
    (join,) = _env_of(events, "join")
    assert {join["METAFLOW_PARENT_0_STEP"], join["METAFLOW_PARENT_1_STEP"]} == {"clicks", "purchases"}
    assert {join["METAFLOW_PARENT_0_TASK_ID"], join["METAFLOW_PARENT_1_TASK_ID"]} == {
        "job-clicks", "job-purchases"}
    assert join["METAFLOW_RUN_ID"] == "run1"


def test_a_broken_path_fails_the_execution(prod):
    """The emulation can fail: a parent id read from a field that does not exist."""
    broken = copy.deepcopy(prod["ProjectFlow"])
    for e in broken["States"]["end"]["Parameters"]["ContainerOverrides"]["Environment"]:
        if e["Name"] == "METAFLOW_PARENT_TASK_ID":
            e["Value.$"] = "$.NoSuchField"
    desc, _ = execute(broken)
    assert desc["status"] == "FAILED"
