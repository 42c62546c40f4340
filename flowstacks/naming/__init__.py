"""Metaflow-exact names, tokens and namespaces (pure; SPEC §1-§3, §5)."""

from __future__ import annotations

from typing import Any

from flowstacks.errors import MetaflowRuleError
from flowstacks.naming import deployers
from flowstacks.naming.project import ProjectNamespace


def deploy_names(ns: ProjectNamespace, sfn_prefix: str | None = None, token_index: int = 0) -> dict[str, Any]:
    """Everything Metaflow would call this flow in this namespace: the JSON of ``flowstacks names``."""
    pfn = ns.project_flow_name
    prefix = deployers.token_prefix(ns.project_name, ns.branch_name)
    state_machine = deployers.sfn_state_machine_name(pfn, sfn_prefix)
    template = deployers.argo_workflow_template_name(ns.project_name, ns.branch_name, ns.flow_name)
    try:
        dag_id, dag_error = deployers.airflow_dag_id(pfn), None
    except MetaflowRuleError as exc:
        dag_id, dag_error = None, exc.message
    return {
        "project": ns.project_name,
        "branch": ns.branch_name,
        "flow": ns.flow_name,
        "is_production": ns.is_production,
        "is_user_branch": ns.is_user_branch,
        "project_flow_name": pfn,
        "production_token_prefix": prefix,
        "production_token": deployers.production_token(prefix, token_index),
        "step_functions": {
            "state_machine": state_machine,
            "eventbridge_rule": deployers.eventbridge_rule_name(state_machine),
        },
        "argo": {
            "workflow_template": template,
            "cron_workflow": deployers.argo_cron_workflow_name(template),
            "sensor": deployers.argo_sensor_name(template),
        },
        "airflow": {"dag_id": dag_id, "error": dag_error},
    }
