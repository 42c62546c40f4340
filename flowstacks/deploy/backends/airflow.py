"""The Airflow backend: per namespace the task pods' IRSA role and service account; per flow the
code package and the DAG file in the DAGs bucket (as MWAA reads it).

Artifacts: ``airflow/<dag_id>.py`` (the DAG file as uploaded) and ``iam/<role>.json``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from flowstacks.errors import Problems
from flowstacks.deploy.backends import (
    BackendResult, FlowBatches, FlowRender, add_role, flow_renders,
)
from flowstacks.deploy.components.airflow_dag import AirflowDag, AirflowDagArgs
from flowstacks.deploy.components.airflow_tasks import AirflowTaskIdentity
from flowstacks.deploy.components.code_package import package_object
from flowstacks.deploy.components.include_file import included_file_objects
from flowstacks.deploy.components.role import TaskIdentityArgs
from flowstacks.deploy.options import StackOptions
from flowstacks.deploy.packages import package_file
from flowstacks.iam.airflow import task_role
from flowstacks.iam.irsa import service_account_name
from flowstacks.render.airflow import dag_artifact, dag_object_key


@dataclass
class RenderedDag:
    """One flow rendered, kept until its batch is created: the DAG file's source."""

    render: FlowRender
    source: str


async def deploy_stack(options: StackOptions) -> BackendResult:
    """Render every flow of the stack to a DAG file, then create the stack's resources."""
    ctx = options.context
    result = BackendResult()
    airflow = ctx.config.airflow
    # Render everything first: a flow Airflow cannot take stops the stack before any resource.
    rendered: deque = deque()
    problems = Problems()  # every flow's problems, reported together
    for flow in flow_renders(options, service_account_name(ctx)):
        with problems.collect():
            artifact = dag_artifact(ctx, flow.deployment, flow.package.url, flow.package.sha)
            options.artifacts.append(artifact)  # written out now; the source is kept for the upload
            rendered.append(RenderedDag(flow, artifact.content))
    problems.raise_all()
    role = task_role(ctx)
    protected = options.component_options()
    AirflowTaskIdentity(f"{ctx.stack}-airflow-tasks", TaskIdentityArgs(
        role, service_account_name(ctx), airflow.namespace), protected)
    add_role(options, result, role)
    batches = FlowBatches()
    while rendered:  # each flow's rendering is released as it is created
        item = rendered.popleft()
        fd, package = item.render.deployment, item.render.package
        code = package_object(f"{fd.project_flow_name}-package", package, package_file(
            package, options.project_dir, options.write_packages), ctx.tags, protected)
        included = included_file_objects(fd.project_flow_name, fd.flow,
                                         ctx.config.aws.datastore_root, options.project_dir,
                                         ctx.tags, protected)
        dag_id = fd.airflow_dag_id or ""  # rendering refused flows without one
        dag = AirflowDag(dag_id, AirflowDagArgs(
            bucket=airflow.dags_bucket, key=dag_object_key(airflow.dags_prefix, dag_id),
            source=item.source, tags=ctx.tags, secrets=options.secrets), protected)
        result.objects[fd.flow.name] = dag_id
        await batches.add(code, *included, dag)
    return result
