"""Amazon States Language for one flow in one namespace, as Metaflow's deployer writes it (SPEC §4).

Pure: ``render_state_machine(ctx, deployment, inputs)`` turns the flow graph, the namespace and the
settings into the state machine definition, the AWS Batch job definitions its tasks use, and the
permissions its states need (:class:`StateNeeds`, the input of :mod:`flowstacks.iam.sfn`).

It follows Metaflow 2.19.39 ``plugins/aws/step_functions/step_functions.py`` (``_compile``,
``_batch``, ``_step_cli``) and ``plugins/aws/batch/batch.py`` (``create_job``, ``_command``):
the same states and state names, the same task command, Batch parameters and environment, in the
same order. Where Metaflow uses values only known at deploy time we differ, on purpose:

- the job definition ARN comes from Pulumi: the definition holds :func:`job_definition_ref`
  placeholders and the component substitutes the real ARNs with :func:`resolve_references`;
- the name of the file the start step sources its parameters from (and the foreach join its
  parent task ids from) is random in Metaflow; here it is derived from the state machine name and
  step, so that output is deterministic.
"""

from __future__ import annotations

import hashlib
import shlex
import string
from dataclasses import dataclass, field
from typing import Any, Iterable

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow, Step
from flowstacks.naming.deployers import b32sha1, eventbridge_rule_name, sfn_state_machine_name
from flowstacks.naming.events import resolve_upstream
from flowstacks.render.serialize import compact_json, metaflow_json
from flowstacks.render.walk import walk

METAFLOW_VERSION = "2.19.39"  # the pinned Metaflow whose deployer this renderer matches
# metaflow_config.DEFAULT_RUNTIME_LIMIT: 5 days, the Batch attempt timeout without @timeout.
DEFAULT_RUN_TIME_LIMIT = 5 * 24 * 60 * 60
MIN_RUN_TIME_LIMIT = 60  # batch_decorator.step_init: Batch timeouts below 60 s are refused
NUM_FALLBACK_RETRIES = 3  # catch_decorator.NUM_FALLBACK_RETRIES: @catch adds 3 error retries
SFN_MAX_WORKERS = 100  # step-functions create --max-workers default: Map MaxConcurrency
CODE_METADATA = {"version": 0, "archive_format": "tgz", "mfcontent_version": 1}
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
# BatchDecorator.defaults, in Metaflow's order: the order of the --with batch:... spec.
BATCH_ATTRIBUTES = (
    "cpu", "gpu", "memory", "image", "queue", "iam_role", "execution_role", "shared_memory",
    "max_swap", "swappiness", "inferentia", "efa", "host_volumes", "efs_volumes", "use_tmpfs",
    "aws_batch_tags", "tmpfs_tempdir", "tmpfs_size", "tmpfs_path", "ephemeral_storage",
    "log_driver", "log_options", "executable", "privileged",
)
RESOURCE_DEFAULTS = {"cpu": "1", "gpu": "0", "memory": "4096"}  # BatchDecorator.resource_defaults
_REF = "${flowstacks:job-definition:%s}"


def job_definition_ref(name: str) -> str:
    """The placeholder the definition holds until Pulumi knows job definition ``name``'s ARN."""
    return _REF % name


def resolve_references(definition: Any, arns: dict[str, str]) -> Any:
    """A copy of ``definition`` with every job definition placeholder replaced by its ARN."""
    refs = {job_definition_ref(name): arn for name, arn in arns.items()}
    if isinstance(definition, dict):
        return {k: resolve_references(v, arns) for k, v in definition.items()}
    if isinstance(definition, list):
        return [resolve_references(v, arns) for v in definition]
    if isinstance(definition, str) and definition in refs:
        return refs[definition]
    if isinstance(definition, str) and definition.startswith("${flowstacks:job-definition:"):
        raise KeyError(f"no ARN for {definition}")
    return definition


def resolve_references_json(definition_json: str, arns: dict[str, str]) -> str:
    """:func:`resolve_references` on the definition's compact JSON, by text: each placeholder
    string value becomes its ARN (tests hold the two equal). Keeps a thousand definitions as
    text rather than as trees while Pulumi resolves the ARNs."""
    for name, arn in arns.items():
        definition_json = definition_json.replace(compact_json(job_definition_ref(name)),
                                                  compact_json(arn))
    left = definition_json.find('"' + _REF.split("%s")[0])
    if left >= 0:
        raise KeyError(f"no ARN for {definition_json[left:].split(chr(34))[1]}")
    return definition_json


@dataclass(frozen=True)
class SfnInputs:
    """What the renderer needs beyond the flow and the namespace (known before rendering)."""

    code_package_sha: str
    code_package_url: str
    task_role_arn: str  # the Batch container role (--with batch:iam_role=...)
    metaflow_version: str = METAFLOW_VERSION
    max_workers: int = SFN_MAX_WORKERS


@dataclass(frozen=True)
class JobDefinitionSpec:
    """An AWS Batch job definition as Metaflow registers it (``_register_job_definition``)."""

    name: str  # metaflow_<sha224 of the definition>, Metaflow's own content-addressed name
    container_properties: dict[str, Any]
    platform_capabilities: tuple[str, ...] = ()
    propagate_tags: bool = True


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


def partition(region: str) -> str:
    """The ARN partition of ``region`` (Metaflow reads it from the SFN role ARN)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _where(flow: Flow, step: Step | None = None) -> str:
    return f"{flow.file} ({flow.name}.{step.name})" if step else f"{flow.file} ({flow.name})"


def check_flow(flow: Flow) -> None:
    """Refuse what Metaflow's Step Functions deployer refuses, with its messages (SPEC §5.1).

    ``@trigger``/``@trigger_on_finish`` are *not* refused: flowstacks wires them through
    EventBridge (issue 4), which Metaflow cannot."""
    if flow.schedule and flow.schedule.timezone is not None:
        raise MetaflowRuleError("Step Functions does not support scheduling with a timezone.",
                                headline="AWS Step Functions scheduling error", where=_where(flow))
    if any(d.name == "exit_hook" for d in flow.flow_decorators):
        raise MetaflowRuleError("Deploying flows with the @exit_hook decorator to AWS Step "
                                "Functions is not currently supported.",
                                headline="AWS Step Functions error", where=_where(flow))
    seen: set[str] = set()
    for p in flow.parameters:
        if p.name.lower() in seen:
            raise MetaflowRuleError(f"Parameter *{p.name}* is specified twice. Note that parameter "
                                    "names are case-insensitive.", where=_where(flow))
        seen.add(p.name.lower())
        if flow.schedule and p.required and not p.has_default:
            raise MetaflowRuleError(
                f"The parameter *{p.name}* does not have a default and is required. Scheduling "
                "such parameters via AWS Event Bridge is not currently supported.",
                where=_where(flow))
        if p.deploy_time_default:
            raise FlowstacksError(f"Parameter '{p.name}' has a default computed at deploy time; "
                                  "flowstacks renders without running flow code",
                                  where=_where(flow), hint="give the parameter a literal default")


class _Renderer:
    """Builds the ASL for one flow: the :class:`~flowstacks.render.walk.Shapes` of Step Functions."""

    def __init__(self, ctx: StackContext, dep: FlowDeployment, inputs: SfnInputs):
        self.ctx, self.dep, self.inputs = ctx, dep, inputs
        self.flow = dep.flow
        self.graph = {s.name: s for s in self.flow.steps}
        self.aws = ctx.config.aws
        self.arn_partition = partition(self.aws.region)
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
            "Resource": f"arn:{self.arn_partition}:states:::dynamodb:getItem",
            "Parameters": {
                "TableName": self.aws.dynamodb_table,
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
            "MaxConcurrency": self.inputs.max_workers,
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
        if step.type == "split-switch":
            return MetaflowRuleError("Deploying flows with switch statement to AWS Step Functions "
                                     "is not supported currently.",
                                     headline="AWS Step Functions error",
                                     where=_where(self.flow, step))
        return FlowstacksError(f"step type '{step.type}' cannot be expressed in AWS Step Functions",
                               where=_where(self.flow, step))

    # -- one Batch task ---------------------------------------------------------------------
    def _is_foreach_join(self, step: Step) -> bool:
        return (step.type == "join" and bool(step.split_parents)
                and self.graph[step.split_parents[-1]].type == "foreach")

    def _batch_state(self, step: Step, next_step: str | None) -> dict[str, Any]:
        if step.decorator("parallel"):
            raise MetaflowRuleError("Deploying flows with @parallel decorator(s) to AWS Step "
                                    "Functions is not supported currently.",
                                    headline="AWS Step Functions error",
                                    where=_where(self.flow, step))
        attrs, env, input_paths = self._attrs_env(step)
        batch = self._batch_attributes(step)
        user_retries, total_retries = self._retries(step)
        run_time_limit = step.timeout_seconds or DEFAULT_RUN_TIME_LIMIT
        if run_time_limit < MIN_RUN_TIME_LIMIT:
            raise MetaflowRuleError(f"The timeout for step *{step.name}* should be at least 60 "
                                    "seconds for execution on AWS Batch.",
                                    headline="AWS Batch error", where=_where(self.flow, step))
        jobdef = self._job_definition(batch)
        self.queues.add(batch["queue"])
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:{self.arn_partition}:states:::batch:submitJob.sync",
            "Parameters": {
                "JobDefinition": job_definition_ref(jobdef.name),
                "JobName": f"SFN-{self.flow.name}--{step.name}--",
                "JobQueue": batch["queue"],
                "Parameters": attrs,
                "ContainerOverrides": {
                    "Command": ["bash", "-c", self._command(step, input_paths, batch, user_retries)],
                    "ResourceRequirements": _resource_requirements(batch),
                    "Environment": self._environment(step, env, batch),
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

    def _retries(self, step: Step) -> tuple[int, int]:
        # _get_retries: the max over decorators of (user code retries, error retries).
        user = step.retry_times
        errors = NUM_FALLBACK_RETRIES if step.decorator("catch") else 0
        return user, user + errors

    def _attrs_env(self, step: Step) -> tuple[dict[str, str], dict[str, str], str | None]:
        """Batch ``Parameters`` (state passed between states) and the step's own env (SPEC §4)."""
        flow, graph = self.flow, self.graph
        attrs: dict[str, str] = {
            "metaflow.user": "SFN",
            "metaflow.owner": self.ctx.owner,
            "metaflow.flow_name": flow.name,
            "metaflow.step_name": step.name,
            "metaflow.version": self.inputs.metaflow_version,
            "step_name": step.name,
        }
        is_start = step.name == flow.start.name
        if is_start:
            # Read back by the next `step-functions create` as the authorisation check (SPEC §3.4).
            attrs["metaflow.production_token"] = self.ctx.production_token
        env: dict[str, str] = dict(step.environment)
        if self.aws.s3_endpoint_url:
            env["METAFLOW_S3_ENDPOINT_URL"] = self.aws.s3_endpoint_url
        input_paths: str | None
        if is_start:
            attrs["metaflow.run_id.$"] = "$$.Execution.Name"
            if flow.parameters:
                # Parameters arrive as execution input {"Parameters": "<json>"}.
                env["METAFLOW_PARAMETERS"] = "$.Parameters"
                defaults = {p.name: p.default for p in flow.parameters if p.default is not None}
                env["METAFLOW_DEFAULT_PARAMETERS"] = metaflow_json(defaults)
            input_paths = None
        else:
            if self._is_foreach_join(step):
                input_paths = f"sfn-${{METAFLOW_RUN_ID}}/{step.in_funcs[0]}/:${{METAFLOW_PARENT_TASK_IDS}}"
                env["METAFLOW_SPLIT_PARENT_TASK_ID"] = (
                    f"$.Parameters.split_parent_task_id_{step.split_parents[-1]}")
                attrs["metaflow.run_id.$"] = "$.Parameters.['metaflow.run_id']"
            elif len(step.in_funcs) == 1:
                input_paths = f"sfn-${{METAFLOW_RUN_ID}}/{step.in_funcs[0]}/${{METAFLOW_PARENT_TASK_ID}}"
                env["METAFLOW_PARENT_TASK_ID"] = "$.JobId"
                attrs["metaflow.run_id.$"] = "$.Parameters.['metaflow.run_id']"
            else:
                input_paths = "sfn-${METAFLOW_RUN_ID}:" + ",".join(
                    f"/${{METAFLOW_PARENT_{i}_STEP}}/${{METAFLOW_PARENT_{i}_TASK_ID}}"
                    for i in range(len(step.in_funcs)))
                attrs["metaflow.run_id.$"] = "$.[0].Parameters.['metaflow.run_id']"
                for i in range(len(step.in_funcs)):
                    env[f"METAFLOW_PARENT_{i}_TASK_ID"] = f"$.[{i}].JobId"
                    env[f"METAFLOW_PARENT_{i}_STEP"] = f"$.[{i}].Parameters.step_name"
            env["METAFLOW_INPUT_PATHS"] = input_paths
            if step.is_inside_foreach:
                self._split_parent_attrs(step, attrs)
                if any(self._is_foreach_join(graph[n]) for n in step.next):
                    key = f"split_parent_task_id_{graph[step.next[0]].split_parents[-1]}.$"
                    env["METAFLOW_SPLIT_PARENT_TASK_ID_FOR_FOREACH_JOIN"] = attrs[key]
            if any(graph[n].type == "foreach" for n in step.in_funcs):
                env["METAFLOW_SPLIT_INDEX"] = "$.Index"
        return attrs, env, input_paths

    def _split_parent_attrs(self, step: Step, attrs: dict[str, str]) -> None:
        """Carry the task id of each enclosing foreach split through the body (step_functions.py)."""
        graph, parents = self.graph, step.split_parents
        foreach = [p for p in parents if graph[p].type == "foreach"]
        if any(graph[n].type == "foreach" for n in step.in_funcs):
            attrs[f"split_parent_task_id_{parents[-1]}.$"] = "$.SplitParentTaskId"
            for p in parents[:-1]:
                if graph[p].type == "foreach":
                    attrs[f"split_parent_task_id_{p}.$"] = f"$.Parameters.split_parent_task_id_{p}"
        elif step.type == "join" and not self._is_foreach_join(step):
            for p in foreach:
                attrs[f"split_parent_task_id_{p}.$"] = f"$.[0].Parameters.split_parent_task_id_{p}"
        else:
            if step.type == "join":  # a foreach join nested in another foreach
                attrs[f"split_parent_task_id_{parents[-1]}.$"] = (
                    f"$.Parameters.split_parent_task_id_{parents[-1]}")
                foreach = [p for p in parents[:-1] if graph[p].type == "foreach"]
            for p in foreach:
                attrs[f"split_parent_task_id_{p}.$"] = f"$.Parameters.split_parent_task_id_{p}"

    def _batch_attributes(self, step: Step) -> dict[str, Any]:
        """The resolved ``@batch`` attributes: compute defaults, ``@resources``, ``@batch``."""
        compute, aws = self.ctx.config.compute, self.aws
        static = step.decorator("batch")
        given = dict(static.attributes) if static else {}
        attrs: dict[str, Any] = {name: None for name in BATCH_ATTRIBUTES}
        attrs.update({
            "image": self.ctx.config.compute.image,
            "queue": aws.batch_job_queue_arn,
            "iam_role": self.inputs.task_role_arn,
            "execution_role": aws.fargate_execution_role,
            "use_tmpfs": False,
            "tmpfs_tempdir": True,
            "tmpfs_path": "/metaflow_temp",
            "privileged": False,
        })
        attrs.update({k: v for k, v in given.items() if k in attrs and v is not None})
        attrs["aws_batch_tags"] = dict(given.get("aws_batch_tags") or {})
        # compute_resource_attributes: the project's compute defaults stand in for
        # BatchDecorator.resource_defaults; @resources and @batch win, the larger one if both.
        defaults = {"cpu": _num(compute.cpu), "gpu": _num(compute.gpu), "memory": _num(compute.memory)}
        resolved = dict(defaults)
        resources = step.decorator("resources")
        for key in ("cpu", "gpu", "memory", "shared_memory"):
            mine = given.get(key)
            theirs = resources.attributes.get(key) if resources else None
            if mine is not None and theirs is not None:
                resolved[key] = str(max(float(mine or 0), float(theirs or 0)))
            elif mine is not None:
                resolved[key] = str(mine or "0")
            elif theirs is not None:
                resolved[key] = str(theirs or "0")
        attrs.update(resolved)
        return attrs

    def _job_definition(self, batch: dict[str, Any]) -> JobDefinitionSpec:
        """The job definition Metaflow would register for these attributes, with its name."""
        platform = self.aws.batch_platform
        props: dict[str, Any] = {
            "image": batch["image"],
            "jobRoleArn": batch["iam_role"],
            "command": ["echo", "hello world"],
            # Registered with fixed defaults; every task overrides them (ResourceRequirements).
            "resourceRequirements": [{"value": "1", "type": "VCPU"},
                                     {"value": "4096", "type": "MEMORY"}],
        }
        if batch["privileged"]:
            props["privileged"] = True
        jobdef: dict[str, Any] = {"type": "container", "containerProperties": props,
                                  "propagateTags": True}
        if platform in ("FARGATE", "FARGATE_SPOT"):
            if not batch["execution_role"]:
                raise FlowstacksError("AWS Fargate needs a task execution role",
                                      where="aws.fargate_execution_role",
                                      hint="set Aws(fargate_execution_role=<role ARN>)")
            props["executionRoleArn"] = batch["execution_role"]
            jobdef["platformCapabilities"] = ["FARGATE"]
            props["networkConfiguration"] = {"assignPublicIp": "ENABLED"}
        else:
            linux: dict[str, Any] = {}
            if batch["shared_memory"] is not None:
                linux["sharedMemorySize"] = int(float(batch["shared_memory"]))
            props["linuxParameters"] = linux
        # Metaflow's own content-addressed name: sha224 of the Python repr of the definition.
        name = "metaflow_%s" % hashlib.sha224(str(jobdef).encode("utf-8")).hexdigest()
        spec = JobDefinitionSpec(name=name, container_properties=props,
                                 platform_capabilities=tuple(jobdef.get("platformCapabilities", ())))
        self.job_definitions[name] = spec
        return spec

    def _environment(self, step: Step, env: dict[str, str], batch: dict[str, Any]
                     ) -> list[dict[str, str]]:
        """The container env in Metaflow's order (Batch.create_job, then StepFunctions._batch)."""
        aws, ctx, flow = self.aws, self.ctx, self.flow
        root = aws.datastore_root
        pairs: list[tuple[str, str | None]] = [
            ("AWS_DEFAULT_REGION", aws.region),
            ("METAFLOW_CODE_METADATA", metaflow_json(CODE_METADATA)),
            ("METAFLOW_CODE_SHA", self.inputs.code_package_sha),
            ("METAFLOW_CODE_URL", self.inputs.code_package_url),
            ("METAFLOW_CODE_DS", "s3"),
            ("METAFLOW_USER", "SFN"),
            ("METAFLOW_SERVICE_HEADERS", self.ctx.service_headers),
            ("METAFLOW_DATASTORE_SYSROOT_S3", root),
            ("METAFLOW_DATATOOLS_S3ROOT", f"{root}/data"),
            ("METAFLOW_DEFAULT_DATASTORE", "s3"),
            ("METAFLOW_DEFAULT_METADATA", "local"),
            ("METAFLOW_CARD_S3ROOT", f"{root}/mf.cards"),
            ("METAFLOW_OTEL_SERVICE_NAME", "metaflow"),
            ("METAFLOW_RUNTIME_ENVIRONMENT", "aws-batch"),
        ]
        if batch["use_tmpfs"] and batch["tmpfs_tempdir"]:
            pairs.append(("METAFLOW_TEMPDIR", batch["tmpfs_path"]))
        if aws.s3_endpoint_url:
            pairs.append(("METAFLOW_S3_ENDPOINT_URL", aws.s3_endpoint_url))
        pairs += list(env.items())
        version = {
            "platform": "Linux",
            "username": ctx.owner,
            "runtime": "dev",
            "environment_type": "local",
            "use_r": False,
            "python_version": image_python_version(ctx.config.compute.image),
            "python_version_code": image_python_version(ctx.config.compute.image),
            "metaflow_version": self.inputs.metaflow_version,
            "script": _script(flow),
            "flow_name": flow.name,
            "production_token": ctx.production_token,
        }
        pairs += [
            ("METAFLOW_CODE_URL", self.inputs.code_package_url),
            ("METAFLOW_FLOW_NAME", flow.name),
            ("METAFLOW_STEP_NAME", step.name),
            ("METAFLOW_RUN_ID", None),  # filled below from the run id attribute
            ("METAFLOW_PRODUCTION_TOKEN", ctx.production_token),
            ("SFN_STATE_MACHINE", self.dep.state_machine_name),
            ("METAFLOW_OWNER", ctx.owner),
            ("METAFLOW_RUNTIME_NAME", "step-functions"),
            ("USER", ctx.owner),
            ("METAFLOW_VERSION", metaflow_json(version)),
        ]
        if flow.configs:
            pairs.append(("METAFLOW_FLOW_CONFIG_VALUE", metaflow_json(
                {c.name: f"kv.{c.name}" for c in sorted(flow.configs, key=lambda c: c.name)})))
        if self._uses_dynamodb(step):
            self.uses_dynamodb = True
            pairs.append(("METAFLOW_SFN_DYNAMO_DB_TABLE", aws.dynamodb_table))
        run_id = ("$$.Execution.Name" if step.name == flow.start.name else
                  "$.[0].Parameters.['metaflow.run_id']" if self._multi_parent(step) else
                  "$.Parameters.['metaflow.run_id']")
        out = []
        for name, value in pairs:
            value = run_id if name == "METAFLOW_RUN_ID" else value
            if value is None:
                continue
            # Values starting with "$." or "$$." are JSONPath, resolved by Step Functions.
            key = "Value.$" if value.startswith(("$.", "$$.")) else "Value"
            out.append({"Name": name, key: value})
        return out

    def _multi_parent(self, step: Step) -> bool:
        return (step.name != self.flow.start.name and not self._is_foreach_join(step)
                and len(step.in_funcs) > 1)

    def _uses_dynamodb(self, step: Step) -> bool:
        return (step.type == "foreach" or self._is_foreach_join(step)
                or (step.is_inside_foreach
                    and any(self._is_foreach_join(self.graph[n]) for n in step.next)))

    # -- the command ----------------------------------------------------------------------------
    def _top_level(self, step: Step, batch: dict[str, Any]) -> list[str]:
        words: list[str] = []
        if not step.decorator("batch"):
            # Only decorators added at deploy time travel as --with; a @batch written in the
            # flow comes back with the packaged code (StepFunctions._step_cli).
            words += ["--with", shlex.quote(_decospec(batch))]
        args = self.dep.top_level_args()
        words += [shlex.quote(a) if i and args[i - 1] == "--branch" else a
                  for i, a in enumerate(args)]
        return words + [
            "--quiet",
            "--metadata=local",
            "--environment=local",
            "--datastore=s3",
            f"--datastore-root={self.aws.datastore_root}",
            "--event-logger=nullSidecarLogger",
            "--monitor=nullSidecarMonitor",
            "--no-pylint",
            "--with=step_functions_internal",
        ]

    def _command(self, step: Step, input_paths: str | None, batch: dict[str, Any],
                 user_retries: int) -> str:
        entry = ["python", _script(self.flow)]
        top = self._top_level(step, batch)
        cmds: list[str] = []
        if step.name == self.flow.start.name:
            params_task = "${AWS_BATCH_JOB_ID}-params"
            env_file = self._file_name(step, "parameters")
            init = entry + top + ["init", "--run-id sfn-$METAFLOW_RUN_ID",
                                  f"--task-id {params_task}"]
            exists = entry + ["dump", "--max-value-size=0",
                              f"sfn-${{METAFLOW_RUN_ID}}/_parameters/{params_task}"]
            cmds.append(
                f"if ! {' '.join(exists)} >/dev/null 2>/dev/null; then python -m "
                f"metaflow.plugins.aws.step_functions.set_batch_environment parameters {env_file} "
                f"&& . `pwd`/{env_file} && {' '.join(init)}; fi")
            input_paths = f"sfn-${{METAFLOW_RUN_ID}}/_parameters/{params_task}"
        if self._is_foreach_join(step):
            env_file = self._file_name(step, "parent_tasks")
            cmds.append("python -m metaflow.plugins.aws.step_functions.set_batch_environment "
                        f"parent_tasks {env_file} && . `pwd`/{env_file}")
        words = ["step", step.name, "--run-id sfn-$METAFLOW_RUN_ID",
                 "--task-id ${AWS_BATCH_JOB_ID}",
                 "--retry-count $((AWS_BATCH_JOB_ATTEMPT-1))",
                 f"--max-user-code-retries {user_retries}",
                 f"--input-paths {input_paths}"]
        if any(self.graph[n].type == "foreach" for n in step.in_funcs):
            words.append("--split-index $METAFLOW_SPLIT_INDEX")
        cmds.append(" ".join(entry + top + words))
        return _bash(self.flow.name, step.name, self.inputs.code_package_url, " && ".join(cmds))

    def _file_name(self, step: Step, purpose: str) -> str:
        """10 lowercase letters, like Metaflow's random env file name, but deterministic."""
        digest = hashlib.sha256(
            f"{self.dep.state_machine_name}/{step.name}/{purpose}".encode("utf-8")).digest()
        return "".join(string.ascii_lowercase[b % 26] for b in digest[:10])


def _num(value: float | int) -> str:
    """A compute default as Metaflow's string attribute (``1``, not ``1.0``)."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _decospec(batch: dict[str, Any]) -> str:
    """``Decorator.make_decorator_spec``: ``batch:k=v,...``; None dropped, dicts/lists as JSON."""
    parts = []
    for key in BATCH_ATTRIBUTES:
        value = batch.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float, str)):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={metaflow_json(value)}".replace('"', '\\"'))
    return "batch:" + ",".join(parts)


def _resource_requirements(batch: dict[str, Any]) -> list[dict[str, str]]:
    # BatchJob.cpu/gpu/memory: "%g" CPUs, integer MB, GPU only when > 0; in that call order.
    reqs = [{"Value": "%g" % float(batch["cpu"]), "Type": "VCPU"}]
    if float(batch["gpu"] or 0) > 0:
        reqs.append({"Type": "GPU", "Value": str(int(float(batch["gpu"])))})
    reqs.append({"Value": str(int(float(batch["memory"]))), "Type": "MEMORY"})
    return reqs


def _script(flow: Flow) -> str:
    return flow.file.rsplit("/", 1)[-1]


def image_python_version(image: str) -> str:
    """The Python of the task image (``python:3.11`` -> ``3.11``); Metaflow records the
    deployer's own interpreter, which a reproducible renderer cannot."""
    tag = image.rsplit(":", 1)[-1] if ":" in image else ""
    return tag if tag and tag[0].isdigit() else "unknown"


def _bash(flow_name: str, step_name: str, code_url: str, step_cmds: str) -> str:
    """Batch._command: mflog env, code package download + extraction, the step with logs saved."""
    bucket, key = code_url[len("s3://"):].split("/", 1)
    download = (
        "python -c 'import boto3, os; ep=os.getenv(\"METAFLOW_S3_ENDPOINT_URL\"); "
        "boto3.client(\"s3\", **({\"endpoint_url\":ep} if ep else {})).download_file("
        f"\"{bucket}\", \"{key}\", \"job.tar\")'")
    return (
        "true && mkdir -p $PWD/.logs && export PYTHONUNBUFFERED=x "
        f"MF_PATHSPEC={flow_name}/sfn-$METAFLOW_RUN_ID/{step_name}/$AWS_BATCH_JOB_ID "
        "MF_DATASTORE=s3 MF_ATTEMPT=$((AWS_BATCH_JOB_ATTEMPT-1)) "
        "MFLOG_STDOUT=$PWD/.logs/mflog_stdout MFLOG_STDERR=$PWD/.logs/mflog_stderr && "
        "mflog(){ T=$(date -u -Ins|tr , .); "
        "echo \"[MFLOG|0|${T:0:26}Z|task|$T]$1\" >> $MFLOG_STDOUT; echo $1;  } && "
        "flush_mflogs(){ python -m metaflow.mflog.save_logs; } && "
        "mflog 'Setting up task environment.' && "
        "if [ -z $METAFLOW_SKIP_INSTALL_DEPENDENCIES ]; then python -m pip install -qqq "
        "--no-compile --no-cache-dir --disable-pip-version-check boto3 requests; fi && "
        "mkdir metaflow && cd metaflow && mkdir .metaflow && i=0; while [ $i -le 5 ]; do "
        f"mflog 'Downloading code package...'; {download} && mflog 'Code package downloaded.' "
        "&& break; sleep 10; i=$((i+1)); done && if [ $i -gt 5 ]; then "
        f"mflog 'Failed to download code package from {code_url} after 6 tries. Exiting...' "
        "&& exit 1; fi && TAR_OPTIONS='--warning=no-timestamp' tar -xzf job.tar -C . && "
        "export PYTHONPATH=$(pwd)/.mf_code:$(printenv PYTHONPATH) && "
        "export METAFLOW_EXTRACTED_ROOT=$(pwd) && mflog 'Task is starting.' && flush_mflogs && "
        f"({step_cmds}) 1>> >(python -m metaflow.mflog.tee task $MFLOG_STDOUT) "
        "2>> >(python -m metaflow.mflog.tee task $MFLOG_STDERR >&2); c=$?; "
        "python -m metaflow.mflog.save_logs; exit $c"
    )


def render_state_machine(ctx: StackContext, dep: FlowDeployment, inputs: SfnInputs) -> SfnRendering:
    """The ASL definition of ``dep`` in ``ctx``'s namespace, its job definitions and needs."""
    check_flow(dep.flow)
    renderer = _Renderer(ctx, dep, inputs)
    definition = walk(dep.flow, renderer)
    table = ctx.config.aws.dynamodb_table
    needs = StateNeeds(
        job_definitions=tuple(sorted(renderer.job_definitions)),
        job_queues=tuple(sorted(renderer.queues)),
        dynamodb_tables=(table,) if renderer.uses_dynamodb else (),
    )
    return SfnRendering(dep.state_machine_name, definition, dict(renderer.job_definitions), needs)


def state_names(definition: dict[str, Any]) -> Iterable[str]:
    """Every state name of ``definition``, nested Parallel branches and Map iterators included."""
    for name, state in definition.get("States", {}).items():
        yield name
        for branch in state.get("Branches", []):
            yield from state_names(branch)
        if "Iterator" in state:
            yield from state_names(state["Iterator"])


# -- EventBridge: schedules and triggers (SPEC §2.1, §5) ------------------------------------------
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
SCHEDULE_INPUT = {"Parameters": "{}"}  # what Metaflow's schedule target passes (SPEC §2.1)


@dataclass(frozen=True)
class EventRuleSpec:
    """One EventBridge rule that starts the flow's state machine."""

    name: str
    description: str
    schedule_expression: str | None = None
    event_pattern: dict[str, Any] | None = None
    event_bus: str | None = None  # None: the default bus


def event_rules(ctx: StackContext, dep: FlowDeployment) -> list[EventRuleSpec]:
    """The rules of ``dep``: ``@schedule`` as Metaflow names and writes it; ``@trigger_on_finish``
    on the upstream state machine's SUCCEEDED status (the upstream resolved against this
    deployment's project and branch, SPEC §5.3); ``@trigger`` events as custom events whose
    ``detail-type`` is the event name, on the configured bus."""
    flow, aws = dep.flow, ctx.config.aws
    rules: list[EventRuleSpec] = []
    check_flow(flow)
    expression = flow.schedule.aws_expression if flow.schedule else None
    if expression:
        rules.append(EventRuleSpec(
            name=dep.eventbridge_rule_name,
            description=f"Metaflow generated rule for {dep.eventbridge_rule_name}",
            schedule_expression=f"cron({expression})"))
    for spec in flow.trigger_on_finish:
        try:
            upstream = resolve_upstream(spec, dep.project_name, dep.branch_name)
        except MetaflowRuleError as exc:
            raise MetaflowRuleError(exc.message, where=_where(flow)) from None
        pfn = upstream.project_flow_name or upstream.flow
        upstream_sm = sfn_state_machine_name(pfn, aws.state_machine_prefix)
        upstream_arn = (f"arn:{partition(aws.region)}:states:{aws.region}:{aws.account_id}:"
                        f"stateMachine:{upstream_sm}")
        # No dot after the flow name: rule names stay recognisably in this namespace
        # (policy pack names-in-namespace); the hash tells apart same-named upstream flows.
        name = eventbridge_rule_name(
            f"{dep.state_machine_name}-after-{upstream.flow}-{b32sha1(upstream_sm)[:8].lower()}")
        rules.append(EventRuleSpec(
            name=name, description=f"Start {dep.state_machine_name} when {upstream_sm} succeeds",
            event_pattern={"source": ["aws.states"], "detail-type": [EXECUTION_STATUS_CHANGE],
                           "detail": {"status": ["SUCCEEDED"], "stateMachineArn": [upstream_arn]}}))
    for trigger in flow.triggers:
        event = trigger.resolved_name(dep.project_name, dep.branch_name)
        name = eventbridge_rule_name(
            f"{dep.state_machine_name}-event-{b32sha1(event)[:8].lower()}")
        rules.append(EventRuleSpec(
            name=name, description=f"Start {dep.state_machine_name} on event {event}",
            event_pattern={"detail-type": [event]},
            event_bus=None if aws.event_bus == "default" else aws.event_bus))
    return rules
