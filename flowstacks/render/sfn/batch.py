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

from flowstacks.errors import FlowstacksError, MetaflowRuleError
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


def queue_arn(fc: FlowContext, queue: str) -> str:
    """A job queue as its ARN. Batch's SubmitJob takes a name or an ARN (Metaflow passes the
    name as given), but IAM authorises SubmitJob on the queue's ARN only, so a bare name is
    normalised here, for the submitJob state and the execution role alike."""
    if queue.startswith("arn:"):
        return queue
    aws = fc.aws
    return f"arn:{fc.arn_partition}:batch:{aws.region}:{aws.account_id}:job-queue/{queue}"


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
    attrs["queue"] = queue_arn(fc, attrs["queue"])
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


def _batch_error(fc: FlowContext, step: Step | None, message: str) -> MetaflowRuleError:
    where = f"{fc.flow.file} ({fc.flow.name}{'.' + step.name if step else ''})"
    return MetaflowRuleError(message, headline="AWS Batch error", where=where)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _int_like(value: Any) -> bool:
    """Metaflow's ``isinstance(v, (int, unicode, basestring))`` (bool is an int)."""
    return isinstance(value, (int, str))


def _log_configuration(batch: dict[str, Any]) -> dict[str, Any] | None:
    driver, options = batch["log_driver"], batch["log_options"]
    if not (driver or options):
        return None
    conf: dict[str, Any] = {}
    if driver:
        conf["logDriver"] = driver
    if options:
        conf["options"] = dict(o.split(":", 1) for o in _as_list(options))
    return conf


def _volumes(batch: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """``host_volumes`` then ``efs_volumes``, named as Metaflow names them."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, str]] = []
    for host_path in _as_list(batch["host_volumes"]):
        container_path = host_path
        if ":" in host_path:
            host_path, container_path = host_path.split(":", 1)
        name = host_path.replace("/", "_").replace(".", "_")
        volumes.append({"name": name, "host": {"sourcePath": host_path}})
        mounts.append({"sourceVolume": name, "containerPath": container_path})
    for efs_id in _as_list(batch["efs_volumes"]):
        container_path = "/mnt/" + efs_id
        if ":" in efs_id:
            efs_id, container_path = efs_id.split(":", 1)
        name = "efs_" + efs_id
        volumes.append({"name": name, "efsVolumeConfiguration": {
            "fileSystemId": efs_id, "transitEncryption": "ENABLED"}})
        mounts.append({"sourceVolume": name, "containerPath": container_path})
    return volumes, mounts


def job_definition(fc: FlowContext, batch: dict[str, Any], step: Step | None = None
                   ) -> JobDefinitionSpec:
    """The job definition Metaflow would register for these attributes, with its name
    (``BatchClient._register_job_definition``: every ``@batch`` option that shapes the container,
    in Metaflow's order, so that the content-addressed name is Metaflow's too)."""
    platform = fc.aws.batch_platform
    fargate = platform in ("FARGATE", "FARGATE_SPOT")
    props: dict[str, Any] = {
        "image": batch["image"],
        "jobRoleArn": batch["iam_role"],
        "command": ["echo", "hello world"],
        # Registered with fixed defaults; every task overrides them (ResourceRequirements).
        "resourceRequirements": [{"value": "1", "type": "VCPU"},
                                 {"value": "4096", "type": "MEMORY"}],
    }
    if batch["privileged"]:
        props["privileged"] = batch["privileged"]
    logging = _log_configuration(batch)
    if logging is not None:
        props["logConfiguration"] = logging
    jobdef: dict[str, Any] = {"type": "container", "containerProperties": props,
                              "propagateTags": True}
    if fargate:
        if not batch["execution_role"]:
            raise FlowstacksError("AWS Fargate needs a task execution role",
                                  where="aws.fargate_execution_role",
                                  hint="set Aws(fargate_execution_role=<role ARN>)")
        props["executionRoleArn"] = batch["execution_role"]
        jobdef["platformCapabilities"] = ["FARGATE"]
        props["networkConfiguration"] = {"assignPublicIp": "ENABLED"}
        if batch["ephemeral_storage"]:
            props["ephemeralStorage"] = {"sizeInGiB": batch["ephemeral_storage"]}
        for attr in ("inferentia", "tmpfs_size"):
            # Metaflow fails with a KeyError (no linuxParameters on Fargate): refused here
            if batch[attr] and not (attr == "tmpfs_size" and batch["use_tmpfs"]):
                raise _batch_error(fc, step, f"@batch({attr}=...) is not available for "
                                   "Fargate compute resources")
    else:
        linux: dict[str, Any] = {}
        props["linuxParameters"] = linux
        shared = batch["shared_memory"]
        if shared is not None:
            if not (_int_like(shared) and int(float(shared)) > 0):
                raise _batch_error(fc, step, f"Invalid shared memory size value ({shared}); it "
                                   "should be greater than 0")
            linux["sharedMemorySize"] = int(float(shared))
        swappiness = batch["swappiness"]
        if swappiness is not None:
            if not (_int_like(swappiness) and 0 <= int(swappiness) < 100):
                raise _batch_error(fc, step, f"Invalid swappiness value ({swappiness}); (should "
                                   "be 0 or greater and less than 100)")
            linux["swappiness"] = int(swappiness)
        max_swap = batch["max_swap"]
        if max_swap is not None:
            if not (_int_like(max_swap) and int(max_swap) >= 0):
                raise _batch_error(fc, step, f"Invalid swappiness value ({max_swap}); (should be "
                                   "0 or greater)")
            linux["maxSwap"] = int(max_swap)
        if batch["ephemeral_storage"]:
            raise _batch_error(fc, step, "The ephemeral_storage parameter is only available "
                               "for FARGATE compute environments")
    if batch["inferentia"]:
        if not _int_like(batch["inferentia"]):
            raise _batch_error(fc, step, f"Invalid inferentia value: ({batch['inferentia']}) "
                               "(should be 0 or greater)")
        props["linuxParameters"]["devices"] = [
            {"containerPath": f"/dev/neuron{i}", "hostPath": f"/dev/neuron{i}",
             "permissions": ["READ", "WRITE"]} for i in range(int(batch["inferentia"]))]
    if batch["host_volumes"] or batch["efs_volumes"]:
        props["volumes"], props["mountPoints"] = _volumes(batch)
    if batch["use_tmpfs"] and fargate:
        raise _batch_error(fc, step, "tmpfs is not available for Fargate compute resources")
    if batch["use_tmpfs"] or batch["tmpfs_size"]:
        size = batch["tmpfs_size"]
        if size:
            if not _int_like(size):
                raise _batch_error(fc, step, f"Invalid tmpfs value: ({size}) (should be 0 or "
                                   "greater)")
        else:  # tmpfs(5): half the memory by default
            size = int(float(batch["memory"])) / 2
        props["linuxParameters"]["tmpfs"] = [{
            "containerPath": batch["tmpfs_path"], "size": int(size),
            "mountOptions": ["defaults"]}]
    if batch["efa"]:
        if not _int_like(batch["efa"]):
            raise _batch_error(fc, step, f"Invalid efa value: ({batch['efa']}) (should be 0 or "
                               "greater)")
        # a single-node job (Step Functions runs no multinode jobs: @parallel is refused)
        props.setdefault("linuxParameters", {}).setdefault("devices", []).append(
            {"hostPath": "/dev/infiniband/uverbs0"})
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
