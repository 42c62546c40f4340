"""Metaflow-exact names, tokens and namespaces (pure): the only place names are made
(docs/metaflow-contract.md#names, #tokens, #branches)."""

from __future__ import annotations

from flowstacks.errors import MetaflowRuleError
from flowstacks.model.names import AirflowNames, ArgoNames, DeployNames, StepFunctionsNames
from flowstacks.naming import deployers
from flowstacks.naming.deployers import NamespaceToken, namespace_token
from flowstacks.naming.project import ProjectNamespace
from flowstacks.naming.settings import NamingSettings

__all__ = ["NamespaceToken", "NamingSettings", "deploy_names", "namespace_token"]


def deploy_names(ns: ProjectNamespace, settings: NamingSettings = NamingSettings(),
                 token: NamespaceToken | None = None) -> DeployNames:
    """Everything Metaflow would call this flow in this namespace (``flowstacks names`` prints
    it). ``token``: the namespace's token when the caller already has it (a stack computes it
    once for all its flows); else candidate ``settings.production_token_index`` is computed."""
    pfn = ns.project_flow_name
    if token is None:
        token = namespace_token(ns.project_name, ns.branch_name, settings.production_token_index)
    state_machine = deployers.sfn_state_machine_name(pfn, settings.state_machine_prefix)
    template = deployers.argo_workflow_template_name(ns.project_name, ns.branch_name, ns.flow_name)
    try:
        dag_id, dag_error = deployers.airflow_dag_id(pfn), None
    except MetaflowRuleError as exc:
        dag_id, dag_error = None, exc.message
    return DeployNames(
        project=ns.project_name,
        branch=ns.branch_name,
        flow=ns.flow_name,
        is_production=ns.is_production,
        is_user_branch=ns.is_user_branch,
        project_flow_name=pfn,
        production_token_prefix=token.prefix,
        production_token=token.token,
        step_functions=StepFunctionsNames(
            state_machine=state_machine,
            eventbridge_rule=deployers.eventbridge_rule_name(state_machine)),
        argo=ArgoNames(
            workflow_template=template,
            cron_workflow=deployers.argo_cron_workflow_name(template),
            sensor=deployers.argo_sensor_name(template)),
        airflow=AirflowNames(dag_id=dag_id, error=dag_error),
    )
