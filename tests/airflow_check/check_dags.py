#!/usr/bin/env python
"""Real-Airflow DAG checker for the flowstacks test suite.

Run with the *airflow* virtualenv's interpreter (see ``setup_venv.sh``)::

    .venv-airflow/bin/python tests/airflow_check/check_dags.py DAG_FOLDER_OR_FILE

Loads the folder with Airflow's own ``DagBag`` (no metadata database, no
scheduler, no network) and prints ONE JSON object on stdout::

    {
      "airflow_version": "3.3.2",
      "import_errors": {file: error_text},   # parse errors + DAG serialization errors
      "warnings": {file: [warning, ...]},
      "dags": {
        dag_id: {
          "fileloc": abs path,
          "schedule": "@daily" | "0 * * * *" | "uri" | "uri1 & uri2" | "(a | b) & c" | null | str(other),
          "timetable": {"class": ..., "summary": ..., ...},
          "asset_condition": nested {"all"|"any": [...]} / {"asset": uri, "name": ...} or null,
          "start_date", "catchup", "tags", "max_active_runs", "description",
          "tasks": {
            task_id: {
              "upstream": [sorted ids], "downstream": [sorted ids],
              "operator": class name, "retries": int, "execution_timeout": seconds|null,
              "retry_delay": seconds|null, "trigger_rule": str, "is_mapped": bool,
              "outlets": [asset uri / alias name], "inlets": [...],
              "pod": {...} | null,      # KubernetesPodOperator tasks only
              "expand": {...} | null,   # mapped tasks only: the .expand(...) kwargs
              "template_errors": [...]  # Jinja syntax errors in template fields
            }
          }
        }
      }
    }

For a non-mapped KubernetesPodOperator, "pod" comes from the operator's real
``build_pod_request_obj()`` (KUBECONFIG points at a dummy file; nothing
connects anywhere): name (random suffix included), base_name (as declared),
namespace, image, labels, annotations, command, args, env {name: value},
resources {"requests": .., "limits": ..}.  For a mapped KPO the same keys are
read from ``partial_kwargs`` (name == base_name, no labels added by Airflow).
If building the pod raises, "pod" is {"error": "..."}; if describing a DAG raises,
that DAG's entry is {"fileloc", "checker_error"}.  A DAG that fails Airflow's
serialization (as the dag processor would) is listed in "import_errors" too.

Exit code: 0 when the JSON was produced (even with import errors), 2 on usage
errors, 1 if the checker itself crashed (traceback on stderr).
Everything Airflow or the DAG files print goes to stderr, so stdout is only JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

DUMMY_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: dummy
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
contexts:
- name: dummy
  context:
    cluster: dummy
    user: dummy
    namespace: default
current-context: dummy
users:
- name: dummy
  user:
    token: dummy-token
"""


def _prepare_environment(home: str) -> None:
    """Environment Airflow 3.3 needs to parse DAGs with no DB / cluster.

    Must run before anything from ``airflow`` is imported (config is read at import).
    """
    os.makedirs(os.path.join(home, "dags"), exist_ok=True)
    kubeconfig = os.path.join(home, "kubeconfig")
    with open(kubeconfig, "w") as fh:
        fh.write(DUMMY_KUBECONFIG)
    env = {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(home, "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Never used for parsing, but keep any lazy DB access inside the temp dir.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:///" + os.path.join(home, "airflow.db"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("FLOWSTACKS_AIRFLOW_LOG_LEVEL", "WARNING"),
        "KUBECONFIG": kubeconfig,
    }
    os.environ.update(env)
    # An in-cluster service env would make the KPO hook try the in-cluster config.
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    os.environ.pop("KUBERNETES_SERVICE_PORT", None)


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------


def _jsonable(value):
    """Best-effort conversion of operator attributes (k8s models, XComArgs...) to JSON."""
    import datetime

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if hasattr(value, "to_dict") and callable(value.to_dict):  # kubernetes client models
        try:
            return _jsonable(_prune(value.to_dict()))
        except Exception:  # pragma: no cover - defensive
            pass
    # XComArg / PlainXComArg and anything else: a readable string form.
    cls = type(value).__name__
    if cls.endswith("XComArg"):
        op = getattr(value, "operator", None)
        key = getattr(value, "key", None)
        return f"XComArg(task_id={getattr(op, 'task_id', '?')!s}, key={key!s})"
    return repr(value)


def _prune(obj):
    """Drop None / empty values from k8s ``to_dict()`` output."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            v = _prune(v)
            if v is None or v == {} or v == []:
                continue
            out[k] = v
        return out
    if isinstance(obj, list):
        return [_prune(v) for v in obj]
    return obj


def _seconds(td):
    return None if td is None else td.total_seconds()


# ---------------------------------------------------------------------------
# Schedules and assets
# ---------------------------------------------------------------------------


def _asset_str(obj, _nested: bool = False) -> str:
    """Compact, stable string for an asset condition.

    ``uri`` for one asset, ``a & b`` for AssetAll, ``a | b`` for AssetAny; nested
    groups get parentheses, one-element groups collapse: ``schedule=[A]`` -> ``"A"``,
    ``schedule=[A, B]`` -> ``"A & B"``, ``schedule=(A | B) & C`` -> ``"(A | B) & C"``.
    """
    from airflow.sdk.definitions.asset import (
        Asset,
        AssetAlias,
        AssetAll,
        AssetAny,
        AssetNameRef,
        AssetUriRef,
    )

    if isinstance(obj, Asset):
        return obj.uri
    if isinstance(obj, AssetAlias):
        return f"alias:{obj.name}"
    if isinstance(obj, AssetNameRef):
        return f"name:{obj.name}"
    if isinstance(obj, AssetUriRef):
        return f"uri:{obj.uri}"
    if isinstance(obj, (AssetAll, AssetAny)):
        parts = list(obj.objects)
        if len(parts) == 1:
            return _asset_str(parts[0], _nested)
        sep = " & " if isinstance(obj, AssetAll) else " | "
        text = sep.join(_asset_str(o, True) for o in parts)
        return f"({text})" if _nested else text
    return repr(obj)


def _asset_tree(obj):
    from airflow.sdk.definitions.asset import (
        Asset,
        AssetAlias,
        AssetAll,
        AssetAny,
        AssetNameRef,
        AssetUriRef,
    )

    if isinstance(obj, Asset):
        return {"asset": obj.uri, "name": obj.name, "group": obj.group}
    if isinstance(obj, AssetAlias):
        return {"alias": obj.name}
    if isinstance(obj, AssetNameRef):
        return {"asset_ref_name": obj.name}
    if isinstance(obj, AssetUriRef):
        return {"asset_ref_uri": obj.uri}
    if isinstance(obj, AssetAll):
        return {"all": [_asset_tree(o) for o in obj.objects]}
    if isinstance(obj, AssetAny):
        return {"any": [_asset_tree(o) for o in obj.objects]}
    return {"unknown": repr(obj)}


def _outlet_str(obj) -> str:
    try:
        return _asset_str(obj)
    except Exception:  # pragma: no cover - defensive
        return repr(obj)


def _timetable_info(tt) -> dict:
    info: dict = {"class": type(tt).__name__}
    for attr in ("expression", "timezone", "delta", "interval", "run_immediately", "description"):
        if hasattr(tt, attr):
            info[attr] = _jsonable(getattr(tt, attr)) if attr != "timezone" else str(getattr(tt, attr))
    cond = getattr(tt, "asset_condition", None)
    if cond is not None:
        info["asset_condition"] = _asset_str(cond)
    inner = getattr(tt, "timetable", None)  # AssetOrTimeSchedule
    if inner is not None:
        info["timetable"] = _timetable_info(inner)
    subs = getattr(tt, "timetables", None)  # MultipleCronTriggerTimetable
    if subs:
        info["timetables"] = [_timetable_info(t) for t in subs]
    summary = type(tt).__name__
    if "expression" in info:
        summary += f"({info['expression']}, {info.get('timezone')})"
    elif "delta" in info:
        summary += f"({info['delta']}s)"
    elif "asset_condition" in info:
        summary += f"({info['asset_condition']})"
    info["summary"] = summary
    return info


def _schedule_str(dag):
    """The schedule as declared (str), or the asset condition for asset-scheduled DAGs."""
    from airflow.sdk.definitions.asset import BaseAsset

    declared = getattr(dag, "schedule", None)
    cond = getattr(dag.timetable, "asset_condition", None)
    if declared is None:
        return None
    if isinstance(declared, str):
        return declared
    if cond is not None and (
        isinstance(declared, BaseAsset)
        or (isinstance(declared, (list, tuple, set)) and all(isinstance(a, BaseAsset) for a in declared))
    ):
        return _asset_str(cond)
    if cond is not None:  # e.g. AssetOrTimeSchedule
        return _timetable_info(dag.timetable)["summary"]
    if hasattr(declared, "total_seconds"):
        return str(declared)
    return _timetable_info(declared)["summary"] if hasattr(declared, "__attrs_attrs__") else str(declared)


# ---------------------------------------------------------------------------
# Tasks and pods
# ---------------------------------------------------------------------------


def _env_map(env) -> dict:
    out = {}
    if isinstance(env, dict):
        return {str(k): _jsonable(v) for k, v in env.items()}
    for item in env or []:
        name = getattr(item, "name", None)
        if name is None and isinstance(item, dict):
            name, value, value_from = item.get("name"), item.get("value"), item.get("value_from")
        else:
            value, value_from = getattr(item, "value", None), getattr(item, "value_from", None)
        out[str(name)] = value if value_from is None else {"value_from": _jsonable(value_from)}
    return out


def _resources(res):
    if res is None:
        return None
    if isinstance(res, dict):
        return {k: v for k, v in _jsonable(res).items() if v}
    return {
        "requests": _jsonable(getattr(res, "requests", None)),
        "limits": _jsonable(getattr(res, "limits", None)),
    }


def _pod_from_operator(task) -> dict:
    pod = task.build_pod_request_obj()
    meta = pod.metadata
    container = pod.spec.containers[0]
    return {
        "name": meta.name,
        "base_name": getattr(task, "name", None),
        "namespace": meta.namespace,
        "image": container.image,
        "labels": dict(meta.labels or {}),
        "annotations": dict(meta.annotations or {}),
        "command": container.command,
        "args": container.args,
        "env": _env_map(container.env),
        "resources": _resources(container.resources),
        "service_account_name": pod.spec.service_account_name,
        "node_selector": dict(pod.spec.node_selector or {}),
        "containers": [c.name for c in pod.spec.containers],
    }


def _pod_from_partial(kwargs: dict) -> dict:
    return {
        "name": kwargs.get("name"),
        "base_name": kwargs.get("name"),
        "namespace": kwargs.get("namespace"),
        "image": kwargs.get("image"),
        "labels": _jsonable(kwargs.get("labels") or {}),
        "annotations": _jsonable(kwargs.get("annotations") or {}),
        "command": _jsonable(kwargs.get("cmds")),
        "args": _jsonable(kwargs.get("arguments")),
        "env": _env_map(kwargs.get("env_vars")),
        "resources": _resources(kwargs.get("container_resources")),
        "service_account_name": kwargs.get("service_account_name"),
        "node_selector": _jsonable(kwargs.get("node_selector") or {}),
    }


def _is_kpo(cls) -> bool:
    try:
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    except Exception:  # provider missing
        return False
    return isinstance(cls, type) and issubclass(cls, KubernetesPodOperator)


def _expand_kwargs(task):
    expand_input = getattr(task, "expand_input", None)
    value = getattr(expand_input, "value", None)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return {"_": _jsonable(value if value is not None else expand_input)}


def _template_errors(task) -> list:
    """Jinja *syntax* errors in the task's template fields (rendering needs a run context)."""
    import jinja2

    try:
        env = task.dag.get_template_env()
    except Exception:
        env = jinja2.Environment()
    source = task.partial_kwargs if getattr(task, "is_mapped", False) else None
    errors = []

    def walk(field, value, depth=0):
        if depth > 20:
            return
        if isinstance(value, str):
            try:
                env.parse(value)
            except jinja2.TemplateSyntaxError as exc:
                errors.append(f"{field}: {exc.message} (line {exc.lineno}) in {value!r}")
        elif isinstance(value, (list, tuple, set)):
            for v in value:
                walk(field, v, depth + 1)
        elif isinstance(value, dict):
            for v in value.values():
                walk(field, v, depth + 1)
        elif hasattr(value, "to_dict") and type(value).__module__.startswith("kubernetes"):
            walk(field, value.to_dict(), depth + 1)

    for field in getattr(task, "template_fields", ()) or ():
        value = source.get(field) if source is not None else getattr(task, field, None)
        walk(field, value)
    if source is not None:
        expand = getattr(getattr(task, "expand_input", None), "value", None)
        if isinstance(expand, dict):
            for field, value in expand.items():
                if field in (task.template_fields or ()):
                    walk(field, value)
    return errors


def _task_info(task) -> dict:
    mapped = bool(getattr(task, "is_mapped", False))
    cls = task.operator_class if mapped else type(task)
    if isinstance(cls, dict):  # decorated/serialized operator stand-ins
        op_name = getattr(task, "operator_name", None) or getattr(task, "task_type", "?")
    else:
        op_name = getattr(cls, "__name__", str(cls))
    info = {
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "operator": op_name,
        "retries": task.retries,
        "retry_delay": _seconds(getattr(task, "retry_delay", None)),
        "execution_timeout": _seconds(task.execution_timeout),
        "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
        "is_mapped": mapped,
        "outlets": [_outlet_str(o) for o in (task.outlets or [])],
        "inlets": [_outlet_str(o) for o in (task.inlets or [])],
        "pod": None,
        "expand": _expand_kwargs(task) if mapped else None,
        "template_errors": _template_errors(task),
    }
    if _is_kpo(cls):
        try:
            info["pod"] = _pod_from_partial(task.partial_kwargs) if mapped else _pod_from_operator(task)
        except Exception as exc:  # keep going; report the failure per task
            info["pod"] = {"error": f"{type(exc).__name__}: {exc}"}
    return info


def _dag_info(dag) -> dict:
    cond = getattr(dag.timetable, "asset_condition", None)
    return {
        "fileloc": dag.fileloc,
        "schedule": _schedule_str(dag),
        "timetable": _timetable_info(dag.timetable),
        "asset_condition": _asset_tree(cond) if cond is not None else None,
        "start_date": _jsonable(dag.start_date),
        "catchup": getattr(dag, "catchup", None),
        "tags": sorted(dag.tags or []),
        "max_active_runs": getattr(dag, "max_active_runs", None),
        "description": dag.description,
        "tasks": {t.task_id: _task_info(t) for t in sorted(dag.tasks, key=lambda t: t.task_id)},
    }


def _safe_dag_info(dag) -> dict:
    """Never let one odd DAG crash the whole report."""
    import traceback

    try:
        return _dag_info(dag)
    except Exception:
        return {"fileloc": getattr(dag, "fileloc", None), "checker_error": traceback.format_exc()}


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def _load(dag_folder: str, safe_mode: bool):
    import inspect

    from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.1 location

    kwargs = {"dag_folder": dag_folder, "safe_mode": safe_mode}
    if "include_examples" in inspect.signature(DagBag.__init__).parameters:  # removed in 3.3
        kwargs["include_examples"] = False
    return DagBag(**kwargs)


def _serialization_errors(bag) -> dict:
    """Mimic the dag processor: a DAG that cannot be serialized is an import error."""
    import traceback

    from airflow.serialization.serialized_objects import DagSerialization

    errors = {}
    for dag in bag.dags.values():
        try:
            DagSerialization.to_dict(dag)
        except Exception:
            errors[dag.fileloc] = "DAG serialization failed:\n" + traceback.format_exc(limit=-5)
    return errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dag_folder", help="folder (or single .py file) of DAG files")
    parser.add_argument(
        "--no-safe-mode",
        action="store_true",
        help="parse every .py file (default mimics Airflow: only files mentioning 'airflow' and 'dag')",
    )
    parser.add_argument("--indent", type=int, default=2)
    args = parser.parse_args(argv)

    dag_folder = os.path.abspath(args.dag_folder)
    if not os.path.exists(dag_folder):
        print(f"check_dags.py: no such file or folder: {dag_folder}", file=sys.stderr)
        return 2

    # Keep stdout for the JSON only: anything printed by Airflow / DAG files goes to stderr.
    real_stdout = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)

    with tempfile.TemporaryDirectory(prefix="flowstacks-airflow-home-") as home:
        _prepare_environment(home)
        import json

        import airflow

        bag = _load(dag_folder, safe_mode=not args.no_safe_mode)
        import_errors = {str(k): str(v) for k, v in bag.import_errors.items()}
        ser_errors = _serialization_errors(bag)
        for path, err in ser_errors.items():
            import_errors.setdefault(path, err)
        result = {
            "airflow_version": airflow.__version__,
            "import_errors": dict(sorted(import_errors.items())),
            "warnings": {str(k): list(v) for k, v in sorted(bag.captured_warnings.items())},
            "dags": {dag_id: _safe_dag_info(bag.dags[dag_id]) for dag_id in sorted(bag.dags)},
        }
        text = json.dumps(result, indent=args.indent or None, sort_keys=False, default=_jsonable)

    real_stdout.write(text + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
