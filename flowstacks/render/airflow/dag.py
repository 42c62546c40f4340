"""Airflow 3 DAG files for one stack: one context (plain data) per flow, rendered through
``templates/airflow_dag.py.j2`` (docs/metaflow-contract.md#airflow).

The runtime contract is Metaflow 2.19.39's Airflow deployer (``plugins/airflow/airflow.py``,
``airflow_utils.py``, ``kubernetes/kubernetes.py:_command``): the same pod command, flags, run and
task ids (md5 of the Airflow run), XCom input paths, env, annotations and labels. What changes is
the Airflow API (Airflow 3: ``airflow.sdk``, ``schedule=``, the current KubernetesPodOperator
path) and ``@trigger_on_finish``, which Metaflow refuses on Airflow and flowstacks maps to Assets.

Pure: no pulumi, no environment, no clock. Same input, byte-identical output.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow
from flowstacks.naming.events import resolve_upstream
from flowstacks.render.airflow.checks import airflow_cron, validate
from flowstacks.render.airflow.tasks import asset, task_context
from flowstacks.render.artifact import Artifact
from flowstacks.render.metaflow_runtime import (
    DEFAULT_MAX_WORKERS, DEFAULT_RUNTIME_LIMIT, KUBERNETES_POD_FIELD_ENV,
)

TEMPLATE = "airflow_dag.py.j2"
# Metaflow puts now() here; a DAG file must not change when nothing changed, and Airflow 3
# does not back-fill (catchup=False), so a fixed past date is equivalent.
START_DATE = (2024, 1, 1)
DEFAULT_RETRY_DELAY = 200  # Airflow._create_defaults


def _schedule(flow: Flow) -> str | None:
    """``Airflow._get_schedule``: the cron (an EventBridge year ``*`` dropped, ``airflow_cron``),
    else ``@weekly``/``@hourly``/``@daily``."""
    s = flow.schedule
    if s is None:
        return None
    if s.cron:
        return airflow_cron(s.cron)
    if s.weekly:
        return "@weekly"
    if s.hourly:
        return "@hourly"
    if s.daily:
        return "@daily"
    return None


def _param(p: Any) -> dict[str, Any]:
    """``Airflow._process_parameters``: Param(default, type, description)."""
    out: dict[str, Any] = {"name": p.name}
    if p.default is not None:
        out["default"] = p.default
    if p.help:
        out["description"] = p.help
    kind = {int: "integer", str: "string", bool: "string", float: "number"}.get(type(p.default))
    if kind:
        out["type"] = kind
    if isinstance(p.default, bool):
        out["default"] = str(p.default)
    return out


def dag_context(ctx: StackContext, fd: FlowDeployment, code_url: str,
                code_sha: str) -> dict[str, Any]:
    """Plain data for one DAG file (what the template prints, nothing it has to decide)."""
    validate(fd)
    flow = fd.flow
    upstream_assets = []
    for spec in flow.trigger_on_finish:
        up = resolve_upstream(spec, fd.project_name, fd.branch_name)
        upstream_assets.append(asset(up.project, up.branch, up.flow))
    return {
        "dag_id": fd.airflow_dag_id,
        "flow": flow.name,
        "flow_file": flow.file,
        "stack": ctx.stack,
        # airflow_cli.py: description=obj.flow.__doc__, as written (indentation kept)
        "description": flow.doc_raw if flow.doc_raw is not None else flow.doc,
        "schedule": _schedule(flow),
        "schedule_assets": upstream_assets,
        # Argo runs such a flow on its cron *and* on its events: Airflow's AssetOrTimeSchedule
        "schedule_kind": ("assets_or_time" if upstream_assets and _schedule(flow) else
                          "assets" if upstream_assets else "time"),
        "start_date": list(START_DATE),
        "tags": ["metaflow", f"project:{fd.project_name}", f"project_branch:{fd.branch_name}"],
        "max_active_tasks": DEFAULT_MAX_WORKERS,
        "default_args": {"owner": ctx.owner, "depends_on_past": False},
        "default_execution_timeout": DEFAULT_RUNTIME_LIMIT,
        "default_retry_delay": DEFAULT_RETRY_DELAY,
        "params": [_param(p) for p in sorted(flow.parameters, key=lambda p: p.name)],
        "pod_field_env": KUBERNETES_POD_FIELD_ENV,
        "tasks": [task_context(ctx, fd, s, code_url, code_sha) for s in flow.steps],
    }


def _py(value: Any, indent: int = 0) -> str:
    """A Python literal for the DAG source: ``repr`` of plain data (deterministic), with
    non-empty dicts and lists of several items one entry a line for reviewers."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict) and value:
        items = "".join(f"{inner}{k!r}: {_py(v, indent + 4)},\n" for k, v in value.items())
        return "{\n" + items + pad + "}"
    if isinstance(value, list) and len(value) > 1:
        return "[\n" + "".join(f"{inner}{_py(v, indent + 4)},\n" for v in value) + pad + "]"
    return repr(value)


@functools.lru_cache(maxsize=1)  # one compiled template per process, not one per flow
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("flowstacks.render.airflow", "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["py"] = _py
    return env


def render_dag(context: dict[str, Any]) -> str:
    """The DAG file source for one :func:`dag_context`."""
    return _environment().get_template(TEMPLATE).render(**context)


def dag_object_key(dags_prefix: str, dag_id: str) -> str:
    """Key of a DAG file in the DAGs bucket: ``<prefix>/<dag_id>.py`` (MWAA reads ``dags/``),
    whether or not the configured prefix ends with a slash."""
    prefix = dags_prefix.strip("/")
    return f"{prefix}/{dag_id}.py" if prefix else f"{dag_id}.py"


def dag_artifact(ctx: StackContext, fd: FlowDeployment, code_url: str, code_sha: str) -> Artifact:
    """``airflow/<dag_id>.py`` for one flow."""
    context = dag_context(ctx, fd, code_url, code_sha)
    return Artifact(f"airflow/{context['dag_id']}.py", render_dag(context))
