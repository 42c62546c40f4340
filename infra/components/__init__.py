"""Pulumi ComponentResources: the only importers of pulumi_aws / pulumi_kubernetes.

Each backend module exposes ``deploy_stack(ctx: StackContext) -> BackendResult``: it renders the
stack's flows with the pure renderers, creates the components, and returns the reviewer artifacts
and, per flow, the orchestrator object's name or ARN.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from infra.errors import FlowstacksError
from infra.render.artifact import Artifact

BACKENDS = {
    "step-functions": "infra.components.step_functions",
    "argo": "infra.components.argo",
    "airflow": "infra.components.airflow",
}


@dataclass
class BackendResult:
    artifacts: list[Artifact] = field(default_factory=list)
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
