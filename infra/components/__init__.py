"""Pulumi ComponentResources: the only importers of pulumi_aws / pulumi_kubernetes.

Each backend module exposes ``deploy_stack(ctx: StackContext) -> BackendResult``: it renders the
stack's flows with the pure renderers, creates the components, and returns the reviewer artifacts
and, per flow, the orchestrator object's name or ARN.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from pathlib import Path

import pulumi

from infra.errors import FlowstacksError
from infra.artifact_sink import ArtifactSink

BACKENDS = {
    "step-functions": "infra.components.step_functions",
    "argo": "infra.components.argo",
    "airflow": "infra.components.airflow",
}


def artifact_sink() -> ArtifactSink:
    """Where this stack's artifacts go: written as they are made into ``flowstacks:artifactDir``
    when it is set (``flowstacks synth`` sets its staging folder), else kept in memory."""
    folder = pulumi.Config("flowstacks").get("artifactDir")
    return ArtifactSink(Path(folder) if folder else None)


@dataclass
class BackendResult:
    artifacts: ArtifactSink = field(default_factory=artifact_sink)
    objects: dict[str, Any] = field(default_factory=dict)  # flow name -> name/ARN (str or Output)


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
