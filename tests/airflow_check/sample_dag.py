"""Hand-written Airflow 3.x reference DAG file for the real-Airflow checker.

It documents the Airflow 3 API that flowstacks' renderer must emit, and proves
``check_dags.py`` works.  Parsed by ``tests/airflow_check/check_dags.py`` inside
the ``.venv-airflow`` virtualenv (apache-airflow 3.3.x + cncf-kubernetes
provider); it is NOT importable from the main project venv.

Contents:
  * ``sample_project_flow``: ``schedule="@daily"``, KPO ``start`` >> mapped KPO
    ``foreach`` (``.partial(...).expand(arguments=...)``) >> KPO ``end``.  ``end``
    declares ``outlets=[Asset(...)]`` so a downstream DAG can be triggered.
  * ``sample_downstream_flow``: scheduled on that Asset.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG, Asset
from kubernetes.client import models as k8s

# Asset URI with a custom scheme: Airflow 3 accepts any scheme except the
# reserved "airflow"; positional arg sets both name and uri.
PROJECT_FLOW_ASSET = Asset("metaflow://example_project/prod/ProjectFlow")

RESOURCES = k8s.V1ResourceRequirements(
    requests={"cpu": "1", "memory": "4096Mi"},
    limits={"cpu": "1", "memory": "4096Mi"},
)

with DAG(
    dag_id="sample_project_flow",
    schedule="@daily",  # cron strings ("0 * * * *") and presets both work; `schedule_interval=` is gone
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["flowstacks", "sample"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
) as dag:
    start = KubernetesPodOperator(
        task_id="start",
        name="sample-project-flow-start",
        namespace="default",
        image="python:3.11-slim",
        cmds=["bash", "-c"],
        arguments=["python flow.py step start --run-id {{ run_id }} && echo '[1, 2, 3]' > /airflow/xcom/return.json"],
        env_vars={"METAFLOW_USER": "airflow", "FLOW_NAME": "ProjectFlow"},
        labels={"app": "flowstacks", "step": "start"},
        annotations={"flowstacks/flow": "ProjectFlow"},
        container_resources=RESOURCES,
        do_xcom_push=True,  # writes /airflow/xcom/return.json -> XCom "return_value"
        retries=2,
        execution_timeout=timedelta(hours=1),
    )

    # Dynamic task mapping with KPO: static kwargs go in .partial(), the mapped
    # kwarg in .expand().  The mapped list here comes from a templated XCom pull
    # rendered at runtime (literal lists also work: expand(arguments=[[...], [...]])).
    foreach = KubernetesPodOperator.partial(
        task_id="foreach",
        name="sample-project-flow-foreach",
        namespace="default",
        image="python:3.11-slim",
        cmds=["bash", "-c"],
        env_vars={"METAFLOW_USER": "airflow"},
        container_resources=RESOURCES,
        retries=1,
    ).expand(
        arguments=[
            ["python flow.py step foreach --split-index 0"],
            ["python flow.py step foreach --split-index 1"],
        ]
    )

    end = KubernetesPodOperator(
        task_id="end",
        name="sample-project-flow-end",
        namespace="default",
        image="python:3.11-slim",
        cmds=["bash", "-c"],
        # XCom pull inside a template field (Airflow 3: `ti.xcom_pull` still works in Jinja)
        arguments=["python flow.py step end --input '{{ ti.xcom_pull(task_ids=\"start\") }}'"],
        env_vars={"METAFLOW_USER": "airflow"},
        labels={"app": "flowstacks", "step": "end"},
        outlets=[PROJECT_FLOW_ASSET],
    )

    start >> foreach >> end


with DAG(
    dag_id="sample_downstream_flow",
    schedule=[PROJECT_FLOW_ASSET],  # asset-triggered; also Asset | Asset, AssetAll(...), AssetAny(...)
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["flowstacks", "sample"],
) as downstream_dag:
    KubernetesPodOperator(
        task_id="consume",
        name="sample-downstream-consume",
        namespace="default",
        image="python:3.11-slim",
        cmds=["echo"],
        arguments=["upstream asset updated"],
    )
