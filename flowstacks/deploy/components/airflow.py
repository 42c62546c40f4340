"""Airflow backend (DESIGN §3, issue 6): per namespace the task pods' IRSA role and service
account; per flow the code package and the DAG file in the DAGs bucket (as MWAA reads it).

Artifacts: ``airflow/<dag_id>.py`` (the DAG file as uploaded) and ``iam/<role>.json``.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pulumi

from flowstacks.deploy.components import BackendResult, FlowBatches
from flowstacks.deploy.components.airflow_dag import AirflowDag
from flowstacks.deploy.components.airflow_tasks import AirflowTaskIdentity
from flowstacks.deploy.components.code_package import CodePackageObject, build_flow_package
from flowstacks.iam.airflow import task_role
from flowstacks.iam.irsa import service_account_name
from flowstacks.model.deployment import StackContext
from flowstacks.render.airflow import dag_artifact, dag_object_key


def _project_dir() -> Path:
    return Path(pulumi.Config("flowstacks").get("projectDir") or ".")


async def deploy_stack(ctx: StackContext) -> BackendResult:
    """Render every flow of ``ctx`` to a DAG file and create the stack's resources."""
    result = BackendResult()
    airflow = ctx.config.airflow
    # Render everything first: a flow Airflow cannot take stops the stack before any resource.
    rendered: deque = deque()
    for fd in ctx.flows:
        package = build_flow_package(ctx, fd, _project_dir())
        artifact = dag_artifact(ctx, fd, package.url, package.sha)
        result.artifacts.append(artifact)  # written out now; the source is kept for the upload
        rendered.append((fd, package, artifact.content))
    role = task_role(ctx)
    AirflowTaskIdentity(f"{ctx.stack}-airflow-tasks", role=role,
                        service_account=service_account_name(ctx), namespace=airflow.namespace,
                        protect=ctx.protect)
    result.artifacts.append(role.artifact())
    batches = FlowBatches()
    while rendered:  # each flow's rendering is released as it is created
        fd, package, source = rendered.popleft()
        code = CodePackageObject(f"{fd.project_flow_name}-package", package=package, tags=ctx.tags,
                                 protect=ctx.protect)
        dag_id = fd.airflow_dag_id
        dag = AirflowDag(dag_id, bucket=airflow.dags_bucket,
                         key=dag_object_key(airflow.dags_prefix, dag_id), source=source,
                         tags=ctx.tags, protect=ctx.protect)
        result.objects[fd.flow.name] = dag_id
        await batches.add(code, dag)
    return result
