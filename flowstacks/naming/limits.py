"""What each target platform accepts as a name, and the check flowstacks runs before rendering.

Metaflow passes some names through that the platform then refuses (a user name with a space
reaches Step Functions and Kubernetes unchanged: docs/metaflow-contract.md#user-resolution). flowstacks refuses them up front with a
message that says which name, which platform and why.
"""

from __future__ import annotations

import re

from flowstacks.naming.names_model import DeployNames

# AWS Step Functions CreateStateMachine: 1-80 characters; no whitespace, brackets, wildcards,
# special characters " # % \ ^ | ~ ` $ & , ; : / or control characters.
SFN_NAME_MAX = 80
SFN_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
# EventBridge PutRule: [\.\-_A-Za-z0-9]+, at most 64 characters.
RULE_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
# Kubernetes object names (RFC 1123 subdomain), used by Argo WorkflowTemplate/CronWorkflow/Sensor.
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_MAX = 253
# DynamoDB CreateTable TableName: 3-255 characters of [a-zA-Z0-9_.-] (Amazon DynamoDB Developer
# Guide, "Supported data types and naming rules": table and index names; CreateTable API
# reference, TableName: "Length Constraints: Minimum length of 3. Maximum length of 255.
# Pattern: [a-zA-Z0-9_.-]+"). docs/metaflow-contract.md#foreach-state.
DYNAMODB_TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{3,255}$")
DYNAMODB_TABLE_MAX = 255
# Airflow: KEY_REGEX of airflow.utils.helpers (dag_id), ID_LEN = 250.
AIRFLOW_DAG_ID = re.compile(r"^[\w.-]+$", re.ASCII)
AIRFLOW_ID_LEN = 250


def name_problems(names: DeployNames, orchestrator: str) -> list[str]:
    """Why the names of one flow cannot be deployed on ``orchestrator``."""
    out = []
    if orchestrator == "step-functions":
        sm = names.step_functions.state_machine
        bad = sorted(set(SFN_FORBIDDEN.findall(sm)))
        if bad:
            out.append(f"state machine name {sm!r} has characters Step Functions refuses: {bad}")
        if len(sm) > SFN_NAME_MAX:
            out.append(f"state machine name {sm!r} is longer than {SFN_NAME_MAX} characters")
        rule = names.step_functions.eventbridge_rule
        if not RULE_NAME.match(rule):
            out.append(f"EventBridge rule name {rule!r} is not [.-_A-Za-z0-9]{{1,64}}")
    elif orchestrator == "argo":
        for kind, name in (("workflow template", names.argo.workflow_template),
                           ("sensor", names.argo.sensor)):
            if len(name) > DNS1123_MAX or not DNS1123_SUBDOMAIN.match(name):
                out.append(f"Argo {kind} name {name!r} is not a valid Kubernetes "
                           "name (lowercase letters, digits, '-' and '.', at most 253 characters)")
    elif orchestrator == "airflow":
        dag_id = names.airflow.dag_id
        if dag_id is None:
            out.append(names.airflow.error or f"no dag_id for {names.project_flow_name}")
        elif len(dag_id) > AIRFLOW_ID_LEN or not AIRFLOW_DAG_ID.match(dag_id):
            out.append(f"dag_id {dag_id!r} is longer than Airflow's {AIRFLOW_ID_LEN} characters")
    return out


def orchestrator_names(names: DeployNames, orchestrator: str) -> list[tuple[str, str]]:
    """(kind, name) of every object the orchestrator creates for one flow: what must be unique."""
    if orchestrator == "step-functions":
        return [("state machine", names.step_functions.state_machine),
                ("EventBridge rule", names.step_functions.eventbridge_rule)]
    if orchestrator == "argo":
        return [("WorkflowTemplate", names.argo.workflow_template),
                ("Sensor", names.argo.sensor)]
    return [("dag_id", names.airflow.dag_id or "")]
