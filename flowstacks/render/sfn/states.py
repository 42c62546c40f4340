"""Amazon States Language for one flow in one namespace, as Metaflow's deployer writes it
(docs/metaflow-contract.md#step-functions).

Pure: ``render_state_machine(ctx, deployment, inputs)`` turns the flow graph, the namespace and the
settings into the state machine definition, the AWS Batch job definitions its tasks use, and the
permissions its states need (:class:`StateNeeds`, the input of :mod:`flowstacks.iam.sfn`).

It follows Metaflow 2.19.39 ``plugins/aws/step_functions/step_functions.py`` (``_compile``,
``_batch``, ``_step_cli``) and ``plugins/aws/batch/batch.py`` (``create_job``, ``_command``):
the same states and state names, the same task command, Batch parameters and environment, in the
same order. Where Metaflow uses values only known at deploy time we differ, on purpose:

- the job definition ARN comes from Pulumi: the definition holds :func:`job_definition_ref`
  placeholders and the component substitutes the real ARNs with :func:`resolve_references_json`;
- the name of the file the start step sources its parameters from (and the foreach join its
  parent task ids from) is random in Metaflow; here it is derived from the state machine name and
  step, so that output is deterministic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Step
from flowstacks.render.metaflow_runtime import CATCH_FALLBACK_RETRIES, DEFAULT_RUNTIME_LIMIT
from flowstacks.render.serialize import compact_json
from flowstacks.render.sfn.batch import (
    JobDefinitionSpec, batch_attributes, job_definition, resource_requirements,
)
from flowstacks.render.sfn.checks import (
    check_flow, check_parallel, check_run_time_limit, unsupported,
)
from flowstacks.render.sfn.command import step_command
from flowstacks.render.sfn.context import FlowContext, SfnInputs
from flowstacks.render.sfn.env import container_environment, parameters_and_env
from flowstacks.render.walk import walk

OUTPUT_PATH = "$.['JobId', 'Parameters', 'Index', 'SplitParentTaskId']"
# State.batch(): Metaflow retries SubmitJob throttling (50 jobs/s admission limit) on every task.
SUBMIT_RETRY = {
    "ErrorEquals": ["Batch.AWSBatchException"],
    "BackoffRate": 2,
    "IntervalSeconds": 2,
    "MaxDelaySeconds": 60,
    "MaxAttempts": 10,
    "JitterStrategy": "FULL",
}
_REF = "${flowstacks:job-definition:%s}"


def job_definition_ref(name: str) -> str:
    """The placeholder the definition holds until Pulumi knows job definition ``name``'s ARN."""
    return _REF % name


def resolve_references_json(definition_json: str, arns: dict[str, str]) -> str:
    """The definition's compact JSON with each job definition placeholder (a string value)
    replaced by its ARN, by text: a thousand definitions stay text rather than trees while
    Pulumi resolves the ARNs. A placeholder without an ARN is a KeyError."""
    for name, arn in arns.items():
        definition_json = definition_json.replace(compact_json(job_definition_ref(name)),
                                                  compact_json(arn))
    left = definition_json.find('"' + _REF.split("%s")[0])
    if left >= 0:
        raise KeyError(f"no ARN for {definition_json[left:].split(chr(34))[1]}")
    return definition_json


@dataclass(frozen=True)
class StateNeeds:
    """What the states of one definition call, for the execution role (:mod:`flowstacks.iam.sfn`)."""

    job_definitions: tuple[str, ...] = ()
    job_queues: tuple[str, ...] = ()
    dynamodb_tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class SfnRendering:
    state_machine_name: str
    definition: dict[str, Any]
    job_definitions: dict[str, JobDefinitionSpec] = field(default_factory=dict)
    needs: StateNeeds = StateNeeds()


class _Renderer:
    """Builds the ASL for one flow: the :class:`~flowstacks.render.walk.Shapes` of Step Functions,
    recording the job definitions, queues and table its states use."""

    def __init__(self, fc: FlowContext):
        self.fc = fc
        self.job_definitions: dict[str, JobDefinitionSpec] = {}
        self.queues: set[str] = set()
        self.uses_dynamodb = False

    # -- Shapes -----------------------------------------------------------------------------
    def workflow(self, start: Step) -> dict[str, Any]:
        return {"StartAt": start.name, "States": {}}

    def task(self, wf: dict[str, Any], step: Step, next_step: str | None) -> None:
        wf["States"][step.name] = self._batch_state(step, next_step)

    def split(self, wf: dict[str, Any], step: Step, branches: list[dict[str, Any]],
              join: Step) -> None:
        # Metaflow names the Parallel state after its branches (sha224 of "a&b").
        name = hashlib.sha224("&".join(step.next).encode("utf-8")).hexdigest()
        wf["States"][step.name] = self._batch_state(step, name)
        wf["States"][name] = {"Type": "Parallel", "Branches": branches, "Next": join.name}

    def foreach(self, wf: dict[str, Any], step: Step, body: dict[str, Any], join: Step) -> None:
        # "#<child>" reads the foreach cardinality the task wrote to DynamoDB; "*<child>" maps it.
        child = step.next[0]
        cardinality, iterator = f"#{child}", f"*{child}"
        self.uses_dynamodb = True
        wf["States"][step.name] = self._batch_state(step, cardinality)
        wf["States"][cardinality] = {
            "Type": "Task",
            "Resource": f"arn:{self.fc.arn_partition}:states:::dynamodb:getItem",
            "Parameters": {
                "TableName": self.fc.ctx.dynamodb_table,
                "Key": {"pathspec": {"S.$": "$.JobId"}},
                "ConsistentRead": True,
                "ProjectionExpression": "for_each_cardinality",
            },
            "ResultPath": "$.Result",
            "Next": iterator,
        }
        body["ProcessorConfig"] = {"Mode": "INLINE"}
        wf["States"][iterator] = {
            "Type": "Map",
            "MaxConcurrency": self.fc.inputs.max_workers,
            "ItemsPath": "$.Result.Item.for_each_cardinality.NS",
            "Parameters": {
                "JobId.$": "$.JobId",
                "SplitParentTaskId.$": "$.JobId",
                "Parameters.$": "$.Parameters",
                "Index.$": "$$.Map.Item.Value",
            },
            "Iterator": body,
            # Only the first output: the join reads its parents' task ids from DynamoDB.
            "OutputPath": "$.[0]",
            "Next": join.name,
        }

    def unsupported(self, step: Step) -> FlowstacksError:
        return unsupported(self.fc.flow, step)

    # -- one Batch task ---------------------------------------------------------------------
    def _batch_state(self, step: Step, next_step: str | None) -> dict[str, Any]:
        fc = self.fc
        check_parallel(fc.flow, step)
        attrs, env, input_paths = parameters_and_env(fc, step)
        batch = batch_attributes(fc, step)
        # _get_retries: the max over decorators of (user code retries, error retries).
        user_retries = step.retry_times
        total_retries = user_retries + (CATCH_FALLBACK_RETRIES if step.decorator("catch") else 0)
        run_time_limit = step.timeout_seconds or DEFAULT_RUNTIME_LIMIT
        check_run_time_limit(fc.flow, step, run_time_limit)
        jobdef = job_definition(fc, batch, step)
        self.job_definitions[jobdef.name] = jobdef
        self.queues.add(batch["queue"])
        environment = container_environment(fc, step, env, batch)
        if fc.uses_dynamodb(step):
            self.uses_dynamodb = True
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{fc.arn_partition}:states:::batch:submitJob.sync",
            "Parameters": {
                "JobDefinition": job_definition_ref(jobdef.name),
                "JobName": f"SFN-{fc.flow.name}--{step.name}--",
                "JobQueue": batch["queue"],
                "Parameters": attrs,
                "ContainerOverrides": {
                    "Command": ["bash", "-c", step_command(fc, step, input_paths, batch,
                                                           user_retries)],
                    "ResourceRequirements": resource_requirements(batch),
                    "Environment": environment,
                },
                "RetryStrategy": {"Attempts": total_retries + 1},
                "Timeout": {"AttemptDurationSeconds": run_time_limit},
            },
            "Retry": [dict(SUBMIT_RETRY)],
            "OutputPath": OUTPUT_PATH,
        }
        if next_step is None:
            state["End"] = True
        else:
            state["Next"] = next_step
        return state


TRIGGER_CHECK = "has-trigger"  # not a Python identifier: no step has these names
NO_TRIGGER = "no-trigger"


def with_trigger_default(definition: dict[str, Any]) -> dict[str, Any]:
    """``definition`` starting with a Choice that gives an execution started without a
    ``Trigger`` (by hand, ``step-functions trigger``, a schedule) an empty one, so the start
    state's ``$.Trigger`` always resolves (a missing JSONPath fails the execution)."""
    start = definition["StartAt"]
    states = {
        TRIGGER_CHECK: {"Type": "Choice", "Choices": [
            {"Variable": "$.Trigger", "IsPresent": True, "Next": start}], "Default": NO_TRIGGER},
        NO_TRIGGER: {"Type": "Pass", "Result": "", "ResultPath": "$.Trigger", "Next": start},
        **definition["States"],
    }
    return {**definition, "StartAt": TRIGGER_CHECK, "States": states}


def render_state_machine(ctx: StackContext, dep: FlowDeployment, inputs: SfnInputs) -> SfnRendering:
    """The ASL definition of ``dep`` in ``ctx``'s namespace, its job definitions and needs."""
    check_flow(dep.flow)
    renderer = _Renderer(FlowContext(ctx, dep, inputs))
    definition = walk(dep.flow, renderer)
    if renderer.fc.triggered:
        definition = with_trigger_default(definition)
    table = ctx.dynamodb_table
    needs = StateNeeds(
        job_definitions=tuple(sorted(renderer.job_definitions)),
        job_queues=tuple(sorted(renderer.queues)),
        dynamodb_tables=(table,) if renderer.uses_dynamodb else (),
    )
    return SfnRendering(dep.state_machine_name, definition, dict(renderer.job_definitions), needs)
