"""Pulumi ComponentResources: the only importers of pulumi_aws / pulumi_kubernetes.

Each backend module exposes ``async deploy_stack(ctx: StackContext) -> BackendResult``: it renders
the stack's flows with the pure renderers, creates the components, and returns the reviewer
artifacts and, per flow, the orchestrator object's name or ARN. Flows are created
:data:`FLOW_BATCH` at a time, each batch registered before the next is made (:func:`registered`).
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pulumi

from flowstacks.deploy.artifact_sink import ArtifactSink
from flowstacks.errors import FlowstacksError

BACKENDS = {
    "step-functions": "flowstacks.deploy.components.step_functions",
    "argo": "flowstacks.deploy.components.argo",
    "airflow": "flowstacks.deploy.components.airflow",
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


def artifact_sink() -> ArtifactSink:
    """Where this stack's artifacts go: written as they are made into ``flowstacks:artifactDir``
    when it is set (``flowstacks synth`` sets its staging folder), else kept in memory."""
    folder = pulumi.Config("flowstacks").get("artifactDir")
    return ArtifactSink(Path(folder) if folder else None)


@dataclass
class BackendResult:
    artifacts: ArtifactSink = field(default_factory=artifact_sink)
    objects: dict[str, Any] = field(default_factory=dict)  # flow name -> name/ARN (str or Output)
    # role ARN -> services it is passed to (iam:PassRole of the deployer role)
    passed_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)


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
