"""The Airflow backend: one flow in one namespace -> an Airflow 3 DAG file.

Modules: :mod:`.dag` (entry point, DAG context and template), :mod:`.tasks` (one pod task per
step), :mod:`.command` (the pod command), :mod:`.env` (the pod env), :mod:`.checks` (what is
refused); ``templates/airflow_dag.py.j2``.
"""

from flowstacks.render.airflow.checks import MSG_TRIGGER
from flowstacks.render.airflow.command import FOREACH_TASK_ID, bash_c_command
from flowstacks.render.airflow.dag import dag_artifact, dag_context, dag_object_key, render_dag

__all__ = ["FOREACH_TASK_ID", "MSG_TRIGGER", "bash_c_command", "dag_artifact", "dag_context",
           "dag_object_key", "render_dag"]
