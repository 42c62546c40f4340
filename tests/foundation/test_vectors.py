"""Every shared vector observed from Metaflow 2.19.39 agrees with flowstacks.naming and `flowstacks names`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowstacks.errors import MetaflowRuleError
from flowstacks.naming import deploy_names
from flowstacks.naming.events import ResolvedUpstream, namespaced_event_name, sensor_dependency_name
from flowstacks.load.metaflow_env import MetaflowEnv
from flowstacks.cli.resolve import naming_settings, resolve
from tests.conftest import VECTOR_FLOWS, VECTORS

VECTOR_LINES = [json.loads(x) for x in VECTORS.read_text().splitlines() if x.strip()]


def _names(inputs: dict) -> dict:
    """What `flowstacks names` resolves for the vector (its flow file's project name and
    decorator attributes given directly: param_project_flow.py reads them from the env)."""
    mfenv = MetaflowEnv(env=inputs["user_env"])
    ns = resolve(inputs["flow_class"], inputs["project_name"], inputs["decorator_attributes"],
                 inputs["cli_branch"], inputs["cli_production"], mfenv)
    return {"ns": ns, "names": deploy_names(ns, naming_settings(mfenv))}


@pytest.mark.parametrize("vec", VECTOR_LINES, ids=[v["id"] for v in VECTOR_LINES])
def test_vector(vec: dict) -> None:
    if vec["exit_code"] != 0:
        with pytest.raises(MetaflowRuleError) as err:
            _names(vec["inputs"])
        assert err.value.message == vec["error_message"]
        assert err.value.headline == vec["error_headline"]
        return
    got = _names(vec["inputs"])
    ns, names = got["ns"], got["names"]
    cur, dn = vec["current"], vec["deploy_names"]
    assert ns.branch_name == cur["branch_name"]
    assert ns.project_flow_name == cur["project_flow_name"]
    assert ns.is_user_branch == cur["is_user_branch"]
    assert ns.is_production == cur["is_production"]
    assert names.step_functions.state_machine == dn["sfn_state_machine_name"]
    assert names.step_functions.eventbridge_rule == dn["eventbridge_rule_name"]
    assert names.production_token_prefix == dn["token_prefix"]
    assert names.production_token == dn["first_production_token"]
    assert names.argo.workflow_template == dn["argo_workflow_template_name"]
    assert names.argo.sensor == dn["argo_sensor_name"]
    assert names.argo.cron_workflow == dn["argo_cronworkflow_name"]
    if "airflow_dag_id" in dn:
        assert names.airflow.dag_id == dn["airflow_dag_id"]
    else:
        assert names.airflow.dag_id is None
        assert dn["airflow_error"].endswith(names.airflow.error)
    end = ResolvedUpstream(ns.flow_name, ns.project_name, ns.branch_name).event_name
    assert end == dn["argo_end_event_published"]
    assert sensor_dependency_name(end) == dn["argo_trigger_on_finish_dependency_name"]
    assert namespaced_event_name("data_ready", ns.project_name, ns.branch_name) == dn[
        "namespaced_event_name_example"]


NAMES_KEYS = ["project", "branch", "flow", "is_production", "is_user_branch", "project_flow_name",
              "production_token_prefix", "production_token", "step_functions", "argo", "airflow"]


def test_names_dump_keeps_the_documented_keys_in_order() -> None:
    """`flowstacks names --json` is DeployNames' dump: the documented keys, in that order."""
    vec = next(v for v in VECTOR_LINES if v["exit_code"] == 0)
    dump = _names(vec["inputs"])["names"].dump()
    assert list(dump) == NAMES_KEYS
    assert list(dump["step_functions"]) == ["state_machine", "eventbridge_rule"]
    assert list(dump["argo"]) == ["workflow_template", "cron_workflow", "sensor"]
    assert list(dump["airflow"]) == ["dag_id", "error"]


CLI_CASES = [v for v in VECTOR_LINES
             if v["inputs"]["flow_file"] in ("project_flow.py", "long_name_flow.py",
                                             "deco_branch_flow.py", "deco_prod_flow.py")]


@pytest.mark.parametrize("vec", CLI_CASES, ids=[v["id"] for v in CLI_CASES])
def test_names_cli(vec: dict, tmp_path) -> None:
    """`flowstacks names --json` as a user runs it, env and flags from the vector."""
    i = vec["inputs"]
    args = [sys.executable, "-m", "flowstacks.cli", "names", str(VECTOR_FLOWS / i["flow_file"]), "--json"]
    if i["cli_branch"] is not None:
        args += ["--branch", i["cli_branch"]]
    if i["cli_production"]:
        args.append("--production")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "METAFLOW_HOME": str(tmp_path / "mf"),
           **i["user_env"]}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path,
                          check=False)
    if vec["exit_code"] != 0:
        assert proc.returncode == 1, proc.stderr
        assert vec["error_message"] in proc.stderr
        assert "Traceback" not in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    dn = vec["deploy_names"]
    assert out["branch"] == vec["current"]["branch_name"]
    assert out["production_token"] == dn["first_production_token"]
    assert out["step_functions"]["state_machine"] == dn["sfn_state_machine_name"]
    assert out["argo"]["workflow_template"] == dn["argo_workflow_template_name"]
    assert sorted(out) == sorted(["project", "branch", "flow", "is_production", "is_user_branch",
                                  "project_flow_name", "production_token_prefix",
                                  "production_token", "step_functions", "argo", "airflow"])
