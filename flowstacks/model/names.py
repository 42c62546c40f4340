"""Every name Metaflow gives one flow in one namespace: :class:`DeployNames`, made only by
:func:`flowstacks.naming.deploy_names`.

Frozen standard-library dataclasses rather than pydantic models: ``flowstacks names`` prints
them and must start without importing pydantic (its start-up is held to Metaflow's own CLI,
``tests/foundation/test_layering.py``). Pydantic models that hold them (``FlowDeployment``)
validate them like any dataclass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StepFunctionsNames:
    """``step-functions create``: the state machine and the EventBridge rule of its schedule."""

    state_machine: str
    eventbridge_rule: str


@dataclass(frozen=True, slots=True)
class ArgoNames:
    """``argo-workflows create``: the WorkflowTemplate, its CronWorkflow and its Sensor."""

    workflow_template: str
    cron_workflow: str
    sensor: str


@dataclass(frozen=True, slots=True)
class AirflowNames:
    """``airflow create``: the dag_id, or Metaflow's error when the name has a character
    Airflow refuses (then ``dag_id`` is None)."""

    dag_id: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeployNames:
    """What Metaflow would call one flow deployed with given flags, on every deployer."""

    project: str
    branch: str
    flow: str
    is_production: bool
    is_user_branch: bool
    project_flow_name: str
    production_token_prefix: str
    production_token: str
    step_functions: StepFunctionsNames
    argo: ArgoNames
    airflow: AirflowNames

    def dump(self) -> dict[str, Any]:
        """Plain data in field order: the JSON of ``flowstacks names``."""
        return asdict(self)
