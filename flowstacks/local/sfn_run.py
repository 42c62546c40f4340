"""Start a deployment's state machines and follow their executions through the Step Functions API.

Everything here goes through the emulated account's API, as a console or the AWS CLI would:
``StartExecution`` for a flow run by hand, the schedule rule's target for ``@schedule`` fired on
demand, ``ListExecutions`` to find executions EventBridge started (``@trigger_on_finish``), and
``GetExecutionHistory`` for each state and Batch job as it runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from flowstacks.local.deployment import Deployment, Rule
from flowstacks.render.serialize import metaflow_json

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
SETTLE_SECONDS = 3.0  # after the last execution ends: time for the rules it fired to start others


@dataclass
class TaskRun:
    """One Task state's run: for ``batch:submitJob.sync`` one Batch job (with its attempts)."""

    state: str
    entered: float
    resource: str = ""  # e.g. batch:submitJob.sync, dynamodb:getItem
    job_id: str | None = None
    status: str = "RUNNING"
    exited: float | None = None
    error: str | None = None
    cause: Any = None  # the DescribeJobs answer of a failed job, or the error's text
    pod: str | None = None  # Airflow: the pod that ran it (job_id is then the Metaflow task id)
    map_index: int | None = None  # Airflow: the mapped task's index
    log: str | None = None  # Airflow: the file the pod's output went to

    @property
    def seconds(self) -> float:
        return (self.exited or time.time()) - self.entered


@dataclass
class Execution:
    stack: str
    flow: str
    arn: str
    name: str
    machine_arn: str
    started_by: str
    status: str = "RUNNING"
    started: float = field(default_factory=time.time)
    stopped: float | None = None
    error: str | None = None
    cause: str | None = None
    tasks: list[TaskRun] = field(default_factory=list)
    metaflow_run_id: str | None = None  # Airflow: airflow-<hash>, from the pods' environment
    datastore_root: str | None = None  # Airflow: from the pods' environment
    seen_events: int = 0
    _by_event: dict[int, TaskRun] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        if self.metaflow_run_id is not None:
            return self.metaflow_run_id or "(run id not known yet)"
        return f"sfn-{self.name}"  # Metaflow's run id on Step Functions

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}"

    @property
    def seconds(self) -> float:
        return (self.stopped or time.time()) - self.started

    def task_of(self, state: str) -> TaskRun | None:
        done = [t for t in self.tasks if t.state == state and t.status == "SUCCEEDED"]
        return done[-1] if done else None

    @property
    def failed_tasks(self) -> list[TaskRun]:
        return [t for t in self.tasks if t.status == "FAILED"]


class Observer(Protocol):
    def execution_started(self, ex: Execution) -> None: ...
    def task_submitted(self, ex: Execution, task: TaskRun) -> None: ...
    def task_finished(self, ex: Execution, task: TaskRun) -> None: ...
    def execution_finished(self, ex: Execution) -> None: ...


def parameters_input(params: dict[str, Any]) -> str:
    """The execution input Metaflow's ``step-functions trigger`` sends."""
    return metaflow_json({"Parameters": metaflow_json(params)})


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


class StepFunctionsSession:
    """The executions of deployments sharing one account: started here or by EventBridge,
    followed to the end."""

    def __init__(self, account: Callable[[str], Any], deployments: list[Deployment], observer: Observer):
        self.sfn = account("stepfunctions")
        self.deployments = deployments
        self.observer = observer
        self.executions: dict[str, Execution] = {}
        self._started_by: dict[str, str] = {}

    # -- starting -------------------------------------------------------------------------------
    def start(self, dep: Deployment, flow: str, params: dict[str, Any]) -> str:
        """Start a flow's state machine by hand, as ``step-functions trigger`` does."""
        machine = dep.machine(flow)
        answer = self.sfn.start_execution(stateMachineArn=machine.arn, input=parameters_input(params))
        self._started_by[answer["executionArn"]] = "run-local"
        return answer["executionArn"]

    def fire_schedule(self, rule: Rule) -> list[str]:
        """What EventBridge does when the rule's schedule comes due: start each target with its
        constant input (a scheduled event has no pattern to match)."""
        arns = []
        for target in rule.targets:
            if ":states:" not in target.arn:
                continue
            answer = self.sfn.start_execution(stateMachineArn=target.arn,
                                              input=target.input if target.input is not None else "{}")
            self._started_by[answer["executionArn"]] = f"schedule {rule.schedule} (fired on demand)"
            arns.append(answer["executionArn"])
        return arns

    # -- following ------------------------------------------------------------------------------
    def _discover(self) -> None:
        for dep in self.deployments:
            for machine in dep.state_machines:
                self._discover_machine(dep, machine.logical, machine.arn)

    def _discover_machine(self, dep: Deployment, flow: str, machine_arn: str) -> None:
        page = self.sfn.list_executions(stateMachineArn=machine_arn, maxResults=1000)
        for item in page.get("executions", []):
            arn = item["executionArn"]
            if arn not in self.executions:
                started_by = self._started_by.get(arn) or self._rule_for(machine_arn)
                ex = Execution(stack=dep.stack, flow=flow, arn=arn, name=item["name"],
                               machine_arn=machine_arn, started_by=started_by)
                if hasattr(item.get("startDate"), "timestamp"):  # the service's time, not the poll's
                    ex.started = item["startDate"].timestamp()
                self.executions[arn] = ex
                self.observer.execution_started(ex)

    def _rule_for(self, machine_arn: str) -> str:
        rules = [r.name for dep in self.deployments for r in dep.rules
                 if r.pattern and any(t.arn == machine_arn for t in r.targets)]
        return f"event rule {rules[0]}" if rules else "outside run-local"

    def _task_for(self, ex: Execution, event: dict[str, Any]) -> TaskRun | None:
        return ex._by_event.get(event.get("previousEventId", -1))

    def _apply(self, ex: Execution, event: dict[str, Any]) -> None:
        kind, eid = event["type"], event["id"]
        if kind == "TaskStateEntered":
            task = TaskRun(state=event["stateEnteredEventDetails"]["name"], entered=time.time())
            ex.tasks.append(task)
            ex._by_event[eid] = task
            return
        task = self._task_for(ex, event)
        if task is None:
            return
        ex._by_event[eid] = task
        if kind == "TaskScheduled":
            details = event.get("taskScheduledEventDetails", {})
            task.resource = f"{details.get('resourceType', '')}:{details.get('resource', '')}"
        elif kind == "TaskSubmitted":
            output = _json(event.get("taskSubmittedEventDetails", {}).get("output"))
            task.job_id = output.get("JobId") if isinstance(output, dict) else None
            self.observer.task_submitted(ex, task)
        elif kind in ("TaskSucceeded", "TaskStateExited") and task.status == "RUNNING":
            task.status, task.exited = "SUCCEEDED", time.time()
            self.observer.task_finished(ex, task)
        elif kind in ("TaskFailed", "TaskTimedOut") and task.status == "RUNNING":
            details = event.get("taskFailedEventDetails") or event.get("taskTimedOutEventDetails") or {}
            task.status, task.exited = "FAILED", time.time()
            task.error, task.cause = details.get("error"), _json(details.get("cause"))
            self.observer.task_finished(ex, task)

    def _follow(self, ex: Execution) -> None:
        history = self.sfn.get_execution_history(executionArn=ex.arn, maxResults=1000)
        events = history.get("events", [])
        for event in events[ex.seen_events:]:
            self._apply(ex, event)
        ex.seen_events = len(events)
        described = self.sfn.describe_execution(executionArn=ex.arn)
        if described["status"] in TERMINAL and ex.status == "RUNNING":
            history = self.sfn.get_execution_history(executionArn=ex.arn, maxResults=1000)
            for event in history.get("events", [])[ex.seen_events:]:
                self._apply(ex, event)
            ex.seen_events = len(history.get("events", []))
            stop = described.get("stopDate")
            ex.status, ex.stopped = described["status"], (stop.timestamp() if hasattr(stop, "timestamp")
                                                          else time.time())
            ex.error, ex.cause = described.get("error"), described.get("cause")
            self.observer.execution_finished(ex)

    def follow(self, timeout: float, poll: float = 2.0) -> list[Execution]:
        """Until every execution (those started here and those rules start) has ended."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            self._discover()
            for ex in list(self.executions.values()):
                if ex.status == "RUNNING":
                    self._follow(ex)
            if all(ex.status != "RUNNING" for ex in self.executions.values()):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= SETTLE_SECONDS:
                    break
            else:
                quiet_since = None
            time.sleep(poll)
        else:
            for ex in self.executions.values():
                if ex.status == "RUNNING":
                    self.sfn.stop_execution(executionArn=ex.arn, error="run-local.Timeout",
                                            cause=f"still running after {timeout:.0f} s")
                    ex.status, ex.stopped, ex.error = "TIMED_OUT", time.time(), "run-local.Timeout"
                    self.observer.execution_finished(ex)
        return sorted(self.executions.values(), key=lambda e: (e.stack, e.started))
