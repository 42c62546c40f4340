#!/usr/bin/env python
"""Render the Jinja templates of generated DAG tasks the way an Airflow 3 worker does, with a
hand-made run context (no database, no cluster). Run with the Airflow venv's python::

    .venv-airflow/bin/python tests/airflow/render_templates.py CASES_JSON

``CASES_JSON`` is a list of {"file": DAG file, "run_id": Airflow run id, "xcoms": {task_id: what
``xcom_pull(task_ids=task_id, key='metaflow_task_id')`` returns}}. Prints, per case,
{task_id: {"cmds": [...], "env": {...}}} (a JSON list on stdout): non-mapped tasks rendered with
map_index -1, mapped ones with map index 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import types


class FakeTI:
    def __init__(self, task_id: str, map_index: int, xcoms: dict) -> None:
        self.task_id = task_id
        self.map_index = map_index
        self.try_number = 1
        self.id = "0190f0e0-0000-7000-8000-000000000001"
        self._xcoms = xcoms

    def xcom_pull(self, task_ids=None, key="return_value", **_):
        return self._xcoms[task_ids]


def render_case(dag_file: str, run_id: str, xcoms: dict) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dag_file)
    assert not bag.import_errors, bag.import_errors
    (dag,) = bag.dags.values()
    out = {}
    for task in dag.tasks:
        mapped = type(task).__name__ == "MappedOperator"
        ti = FakeTI(task.task_id, 0 if mapped else -1, xcoms)
        context = {"run_id": run_id, "dag_run": types.SimpleNamespace(dag_id=dag.dag_id),
                   "ti": ti, "task_instance": ti, "params": {"alpha": 1}}
        env = dag.get_template_env()  # with the DAG's user_defined_filters
        if mapped:
            kwargs = task.partial_kwargs
            out[task.task_id] = {
                "cmds": task.render_template(kwargs["cmds"], context, jinja_env=env),
                "env": task.render_template(kwargs["env_vars"], context, jinja_env=env)}
        else:
            task.render_template_fields(context, jinja_env=env)
            out[task.task_id] = {"cmds": task.cmds, "env": {e.name: e.value for e in task.env_vars}
                                 if isinstance(task.env_vars, list) else task.env_vars}
    return out


def main() -> None:
    cases = json.loads(sys.argv[1])
    home = tempfile.mkdtemp(prefix="airflow-home-")
    os.environ.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False",
                      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/none.db")
    with contextlib.redirect_stdout(sys.stderr):  # Airflow logs must not mix with the JSON
        out = [render_case(c["file"], c["run_id"], c["xcoms"]) for c in cases]
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
