"""The backends: each wires one stack's resources for its orchestrator.

A backend module exposes ``async deploy_stack(options: StackOptions) -> BackendResult``: it
renders every flow of the stack first (a flow the orchestrator cannot take stops the stack
before any resource exists) from one :class:`FlowRender` per flow, then creates the components,
:data:`FLOW_BATCH` flows at a time, each batch registered before the next is made.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import pulumi

from flowstacks.errors import FlowstacksError
from flowstacks.iam.documents import RoleDocument
from flowstacks.load.code_package import CodePackage, installed_metaflow_version
from flowstacks.model.deployment import FlowDeployment, StackContext

if TYPE_CHECKING:
    from flowstacks.deploy.options import StackOptions

BACKENDS = {
    "step-functions": "flowstacks.deploy.backends.step_functions",
    "argo": "flowstacks.deploy.backends.argo",
    "airflow": "flowstacks.deploy.backends.airflow",
}

FLOW_BATCH = 25  # flows whose resources are created before waiting for their registration


async def registered(resources: Iterable[pulumi.Resource]) -> None:
    """Wait until ``resources`` are registered with the engine. Pulumi registers everything a
    program creates concurrently once the program yields, holding every input and its serialized
    copies at once; creating a stack's flows a batch at a time and waiting for each batch keeps
    memory bounded by the batch, not by the number of flows (issue 8)."""
    await asyncio.gather(*(r.urn.future() for r in resources))


class FlowBatches:
    """The resources of the flows created so far; every :data:`FLOW_BATCH` flows, waits until
    they are registered (``await batches.add(component, ...)`` once per flow)."""

    def __init__(self) -> None:
        self._pending: list[pulumi.Resource] = []
        self._flows = 0

    async def add(self, *components: pulumi.Resource) -> None:
        for component in components:
            self._pending += [component, *getattr(component, "resources", [])]
        self._flows += 1
        if self._flows % FLOW_BATCH == 0:
            pending, self._pending = self._pending, []
            await registered(pending)


@dataclass(frozen=True)
class FlowRender:
    """The input of one flow's rendering, the same for every backend: the namespace, the flow,
    its code package (the task command downloads it) and the identity its tasks run as."""

    context: StackContext
    deployment: FlowDeployment
    package: CodePackage
    task_identity: str  # Step Functions: the Batch task role ARN; Kubernetes: the service account
    metaflow_version: str  # the deployer's Metaflow, which tasks run from the package

    @property
    def name(self) -> str:
        return self.deployment.flow.name


def flow_renders(options: "StackOptions", task_identity: str) -> list[FlowRender]:
    """One :class:`FlowRender` per flow of the stack, each with its code package."""
    from flowstacks.deploy.packages import build_flow_package

    ctx, version = options.context, installed_metaflow_version()
    return [FlowRender(ctx, fd, build_flow_package(ctx, fd, options.project_dir), task_identity,
                       version) for fd in ctx.flows]


@dataclass
class BackendResult:
    """What a backend made: the orchestrator object of each flow (a name or an ARN Output) and
    the namespace's roles (their documents are artifacts too, in the stack's artifact sink)."""

    objects: dict[str, Any] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    # role ARN -> services it is passed to (iam:PassRole of the deployer role)
    passed_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)


def add_role(options: "StackOptions", result: BackendResult, document: RoleDocument) -> None:
    """Record a role of the stack: its reviewed document and its name (for SUMMARY.md)."""
    options.artifacts.append(document.artifact())
    result.roles.append(document.name)


def backend(orchestrator: str) -> Any:
    """The backend module for ``orchestrator`` (imported lazily: pulumi_aws is slow to import)."""
    try:
        module = BACKENDS[orchestrator]
    except KeyError:
        raise FlowstacksError(f"unknown orchestrator '{orchestrator}'",
                              hint=f"one of {', '.join(BACKENDS)}") from None
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise FlowstacksError(f"the {orchestrator} backend is not available in this version",
                                  where="--orchestrator") from None
        raise
