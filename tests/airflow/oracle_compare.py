"""Compare a flowstacks DAG context with what Metaflow 2.19.39's ``airflow create`` wrote.

Every compared point ends up ``equal``, ``kept`` (a documented difference, DIFFERENCES.md) or
``differ`` (a bug). Metaflow's DAG file targets Airflow 2 and cannot load on Airflow 3, so the
comparison reads its ``CONFIG`` (the task contract) rather than running it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.airflow.metaflow_dag import metaflow_edges

# METAFLOW_VERSION keys that describe the deployer's machine, not the deployment.
# metaflow_git.get_repository_info adds repo_url only when the checkout has a remote (CI clones).
MACHINE_KEYS = {"python_version", "python_version_code", "repo_url", "branch_name", "commit_sha",
                "has_uncommitted_changes"}
KEPT_ENV = {"METAFLOW_AIRFLOW_JOB_ID"}  # {{ ti.job_id }} does not exist in Airflow 3
# what flowstacks adds because the task cannot run without it (DIFFERENCES.md)
ADDED_ENV = {"METAFLOW_FLOW_CONFIG_VALUE": "Metaflow's Airflow deployer omits it; a task of a "
             "flow with a Config fails without it (run-local)"}
PARAM_FILE = re.compile(r"set_parameters ([a-z]{10}) && \. `pwd`/\1")
# operator arguments compared one to one (flowstacks name -> Metaflow name)
SAME_ARGS = ["task_id", "name", "namespace", "service_account_name", "image", "labels",
             "annotations", "node_selector", "retries", "startup_timeout_seconds", "get_logs",
             "do_xcom_push", "log_events_on_failure", "retry_exponential_backoff",
             "reattach_on_restart"]


@dataclass
class Comparison:
    points: list[tuple[str, str, str]] = field(default_factory=list)  # (point, status, detail)

    def add(self, point: str, status: str, detail: str = "") -> None:
        self.points.append((point, status, detail))

    def check(self, point: str, mine: Any, theirs: Any) -> None:
        self.add(point, "equal" if mine == theirs else "differ",
                 "" if mine == theirs else f"flowstacks={mine!r} metaflow={theirs!r}")

    def count(self, status: str) -> int:
        return sum(1 for _, s, _ in self.points if s == status)

    def extend(self, other: "Comparison") -> None:
        self.points.extend(other.points)


def compare_dag(mine: dict[str, Any], theirs: dict[str, Any], where: str,
                config_names: frozenset[str] = frozenset()) -> Comparison:
    """Points of one DAG: structure, DAG arguments, and per task command, env and pod.
    ``config_names``: the flow's Configs, which Metaflow also lists as Airflow params."""
    c = Comparison()
    dag_args = theirs["dag_instantiation_params"]
    c.check(f"{where}: dag_id", mine["dag_id"], dag_args["dag_id"])
    schedule = dag_args["schedule_interval"]
    fields = (schedule or "").split()
    if len(fields) == 6 and fields[5] == "*" and mine["schedule"] == " ".join(fields[:5]):
        # exactly the EventBridge year '*' dropped, nothing else (DIFFERENCES.md, issue 14)
        c.add(f"{where}: schedule", "kept", "EventBridge year '*' dropped: Airflow reads a "
              "6th field as the second (a run every second of the minute)")
    else:
        c.check(f"{where}: schedule", mine["schedule"], schedule)
    c.check(f"{where}: description", mine["description"], dag_args["description"])
    c.check(f"{where}: max_active_tasks", mine["max_active_tasks"], dag_args["max_active_tasks"])
    c.check(f"{where}: is_paused_upon_creation", False, dag_args["is_paused_upon_creation"])
    defaults = dag_args["default_args"]
    c.check(f"{where}: default owner", mine["default_args"]["owner"], defaults["owner"])
    c.check(f"{where}: default depends_on_past", mine["default_args"]["depends_on_past"],
            defaults["depends_on_past"])
    c.check(f"{where}: default execution_timeout", float(mine["default_execution_timeout"]),
            defaults["execution_timeout"]["seconds"])
    c.check(f"{where}: default retry_delay", float(mine["default_retry_delay"]),
            defaults["retry_delay"]["seconds"])
    their_params = [p for p in theirs["metaflow_params"] if p["name"] not in config_names]
    c.check(f"{where}: params", mine["params"], their_params)
    if len(their_params) != len(theirs["metaflow_params"]):
        c.add(f"{where}: Config as Airflow param", "kept",
              "Config values are fixed per stack in the code package, not Airflow params")
    c.add(f"{where}: start_date", "kept", "fixed date instead of the deploy time")
    c.add(f"{where}: tags", "kept", "flowstacks adds metaflow/project/branch UI tags")
    edges = {(up.removeprefix("step_"), t["step"]) for t in mine["tasks"] for up in t["upstream"]}
    c.check(f"{where}: dependencies", edges, metaflow_edges(theirs))
    c.check(f"{where}: tasks", sorted(t["step"] for t in mine["tasks"]), sorted(theirs["states"]))
    for task in mine["tasks"]:
        state = theirs["states"][task["step"]]
        only_configs = bool(config_names) and not their_params
        c.extend(compare_task(task, state, f"{where}.{task['step']}", only_configs))
    return c


def compare_task(task: dict[str, Any], state: dict[str, Any], where: str,
                 only_configs: bool = False) -> Comparison:
    c = Comparison()
    args, kwargs = state["operator_args"], task["kwargs"]
    their_env = {e["name"]: e["value"] for e in args["env_vars"]}
    if only_configs and "METAFLOW_PARAMETERS" in their_env:
        # Metaflow exports its Config-params to the parameters task; flowstacks has none
        del their_env["METAFLOW_PARAMETERS"]
        c.add(f"{where}: env METAFLOW_PARAMETERS", "kept", "no Airflow params for Configs")
    c.check(f"{where}: mapped (foreach)", task["mapped"], state["is_mapper_node"])
    mine_cmd, their_cmd = kwargs["cmds"], args["cmds"]
    if mine_cmd == their_cmd:
        c.add(f"{where}: command", "equal")
    elif mine_cmd[:2] == their_cmd[:2] and (
            mine_cmd[2].replace("set_parameters mfparams && . `pwd`/mfparams", "P")
            == PARAM_FILE.sub("P", their_cmd[2])):
        c.add(f"{where}: command", "kept", "parameters file name: fixed instead of random")
    else:
        c.check(f"{where}: command", mine_cmd, their_cmd)
    for name in SAME_ARGS:
        c.check(f"{where}: {name}", kwargs.get(name), args.get(name))
    c.check(f"{where}: resources", task["resources"], args["resources"])
    c.check(f"{where}: execution_timeout", task["execution_timeout"],
            args["execution_timeout"]["seconds"])
    c.check(f"{where}: retry_delay", task["retry_delay"],
            args["retry_delay"]["seconds"] if "retry_delay" in args else None)
    c.check(f"{where}: secrets", task["secrets"], args["secrets"])
    c.check(f"{where}: delete pod on finish", kwargs["on_finish_action"] == "delete_pod",
            args["is_delete_operator_pod"])
    # how the operator reaches the cluster: a connection, kubeconfig context or file, each with
    # in_cluster=False, compare one to one; with none, Metaflow's in_cluster=True is left to the
    # provider's detection
    reach = ("kubernetes_conn_id", "cluster_context", "config_file")
    if any(args.get(k) is not None for k in reach) or "in_cluster" in kwargs:
        for name in (*reach, "in_cluster"):
            c.check(f"{where}: {name}", kwargs.get(name), args.get(name))
    else:
        c.add(f"{where}: in_cluster", "kept", "left to the provider's detection")
    env = kwargs["env_vars"]
    c.check(f"{where}: env names in order", [n for n in env if n not in ADDED_ENV],
            list(their_env))
    for name in sorted(set(env) | set(their_env)):
        point = f"{where}: env {name}"
        if name in ADDED_ENV and name in env and name not in their_env:
            c.add(point, "kept", ADDED_ENV[name])
        elif name in KEPT_ENV and name in env and name in their_env:
            c.add(point, "kept", f"{env[name]} instead of {their_env[name]}")
        elif name == "METAFLOW_VERSION" and name in env and name in their_env:
            ours, metaflow = json.loads(env[name]), json.loads(their_env[name])
            strip = lambda d: {k: v for k, v in d.items() if k not in MACHINE_KEYS}  # noqa: E731
            if ours == metaflow:
                c.add(point, "equal")
            elif strip(ours) == strip(metaflow):
                c.add(point, "kept", "python version from the image; no deployer git info")
            else:
                c.check(point, ours, metaflow)
        else:
            c.check(point, env.get(name), their_env.get(name))
    return c
