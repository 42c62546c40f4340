"""The AWS Batch side of a Step Functions task: the resolved ``@batch`` attributes, the job
definition Metaflow registers for them, and the container's resource requirements.

Source: Metaflow 2.19.39 ``plugins/aws/batch/batch_decorator.py`` (``defaults``, ``step_init``,
``compute_resource_attributes``) and ``plugins/aws/batch/batch_client.py``
(``_register_job_definition``, ``BatchJob.cpu/gpu/memory``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.model.flow import Step
from flowstacks.render.metaflow_runtime import attribute_number, decorator_spec
from flowstacks.render.sfn.context import FlowContext

# BatchDecorator.defaults, in Metaflow's order: the order of the --with batch:... spec.
BATCH_ATTRIBUTES = (
    "cpu", "gpu", "memory", "image", "queue", "iam_role", "execution_role", "shared_memory",
    "max_swap", "swappiness", "inferentia", "efa", "host_volumes", "efs_volumes", "use_tmpfs",
    "aws_batch_tags", "tmpfs_tempdir", "tmpfs_size", "tmpfs_path", "ephemeral_storage",
    "log_driver", "log_options", "executable", "privileged",
)


@dataclass(frozen=True)
class JobDefinitionSpec:
    """An AWS Batch job definition as Metaflow registers it (``_register_job_definition``)."""

    name: str  # metaflow_<sha224 of the definition>, Metaflow's own content-addressed name
    container_properties: dict[str, Any]
    platform_capabilities: tuple[str, ...] = ()
    propagate_tags: bool = True


def batch_attributes(fc: FlowContext, step: Step) -> dict[str, Any]:
    """The resolved ``@batch`` attributes: compute defaults, ``@resources``, ``@batch``."""
    compute, aws = fc.ctx.config.compute, fc.aws
    static = step.decorator("batch")
    given = dict(static.attributes) if static else {}
    attrs: dict[str, Any] = {name: None for name in BATCH_ATTRIBUTES}
    attrs.update({
        "image": compute.image,
        "queue": aws.batch_job_queue_arn,
        "iam_role": fc.inputs.task_role_arn,
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
    resolved = {"cpu": attribute_number(compute.cpu), "gpu": attribute_number(compute.gpu),
                "memory": attribute_number(compute.memory)}
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


def batch_spec(batch: dict[str, Any]) -> str:
    """The ``--with batch:...`` spec of the dynamically attached ``@batch``."""
    return decorator_spec("batch", ((key, batch.get(key)) for key in BATCH_ATTRIBUTES))


def job_definition(fc: FlowContext, batch: dict[str, Any]) -> JobDefinitionSpec:
    """The job definition Metaflow would register for these attributes, with its name."""
    platform = fc.aws.batch_platform
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
    return JobDefinitionSpec(name=name, container_properties=props,
                             platform_capabilities=tuple(jobdef.get("platformCapabilities", ())))


def resource_requirements(batch: dict[str, Any]) -> list[dict[str, str]]:
    """``BatchJob.cpu/gpu/memory``: "%g" CPUs, integer MB, GPU only when > 0; in that call order."""
    reqs = [{"Value": "%g" % float(batch["cpu"]), "Type": "VCPU"}]
    if float(batch["gpu"] or 0) > 0:
        reqs.append({"Type": "GPU", "Value": str(int(float(batch["gpu"])))})
    reqs.append({"Value": str(int(float(batch["memory"]))), "Type": "MEMORY"})
    return reqs
