"""Fixtures of the Airflow backend tests: the example project rendered for one stack of each
namespace kind, with a fixed code package (so DAG files depend on the renderer only)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.naming.names_model import AirflowNames
from flowstacks.load.project import ProjectDir
from flowstacks.render.airflow import dag_context, render_dag
from tests.conftest import EXAMPLE

# one stack per namespace kind (DESIGN §2)
STACKS = {"prod": "prod", "test": "test.feature_x", "user": "user.alice"}


def fixed_package(ctx: StackContext, fd: FlowDeployment) -> tuple[str, str]:
    """A stand-in code package (url, sha) at Metaflow's content address."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    return f"{ctx.config.aws.datastore_root}/{fd.flow.name}/data/{sha[:2]}/{sha}", sha


@dataclass(frozen=True)
class RenderedDag:
    kind: str
    ctx: StackContext
    fd: FlowDeployment
    context: dict[str, Any]
    source: str

    @property
    def dag_id(self) -> str:
        return self.context["dag_id"]


def render_stack(ctx: StackContext, kind: str) -> list[RenderedDag]:
    out = []
    for fd in ctx.flows:
        context = dag_context(ctx, fd, *fixed_package(ctx, fd))
        out.append(RenderedDag(kind, ctx, fd, context, render_dag(context)))
    return out


@pytest.fixture(scope="session")
def example_project() -> ProjectDir:
    return ProjectDir(EXAMPLE, "airflow")


@pytest.fixture(scope="session")
def rendered(example_project: ProjectDir) -> list[RenderedDag]:
    """Every example flow rendered for prod, test.feature_x and user.alice."""
    return [dag for kind, stack in STACKS.items()
            for dag in render_stack(example_project.stack_context(stack), kind)]


def variant(dag: RenderedDag, suffix: str, **flow_changes: Any) -> RenderedDag:
    """``dag``'s flow changed (schedule, triggers...), under the DAG id ``<dag_id>_<suffix>``."""
    names = replace(dag.fd.names, airflow=AirflowNames(dag_id=f"{dag.dag_id}_{suffix}", error=None))
    fd = dag.fd.model_copy(update={"flow": dag.fd.flow.model_copy(update=flow_changes),
                                   "names": names})
    context = dag_context(dag.ctx, fd, *fixed_package(dag.ctx, fd))
    return RenderedDag(dag.kind, dag.ctx, fd, context, render_dag(context))


@pytest.fixture(scope="session")
def variants(rendered: list[RenderedDag]) -> list[RenderedDag]:
    """Shapes the example project lacks, for the real Airflow: a flow on a cron *and* an
    upstream, and one waiting for two upstreams (one fully qualified)."""
    from flowstacks.model.flow import Schedule
    from flowstacks.naming.events import UpstreamSpec

    publish = next(d for d in rendered if d.kind == "test" and d.fd.flow.name == "PublishFlow")
    two = (UpstreamSpec(flow="TrainFlow"),
           UpstreamSpec(flow="FeaturesFlow", project="example_project", branch="prod"))
    from flowstacks.load.include_files import descriptor
    from flowstacks.model.flow import IncludedFile, Parameter

    refresh = next(d for d in rendered if d.kind == "test" and d.fd.flow.name == "RefreshFlow")
    inc = IncludedFile(source="flowspecs/data.csv", sha1="0" * 40, size=8)
    included = Parameter(name="data", type="str", has_default=True, include_file=inc,
                         default=descriptor(refresh.ctx.config.aws.datastore_root, "RefreshFlow", inc))
    return [variant(publish, "hourly_or_train", schedule=Schedule(hourly=True)),
            variant(publish, "after_two", trigger_on_finish=two),
            # issue 14: a 6-field cron (Airflow's 6th field: the second), as Metaflow passes it,
            # and an IncludeFile whose default is Metaflow's uploader-v2 descriptor
            variant(refresh, "six_field_cron", schedule=Schedule(cron="0 12 * * 1-5 30"),
                    parameters=(included,)),
            # issue 14: an EventBridge-style cron, its year '*' dropped (Metaflow's Argo rule)
            variant(refresh, "aws_cron", schedule=Schedule(cron="0 12 ? * MON-FRI *"))]


@pytest.fixture(scope="session")
def dag_folder(rendered: list[RenderedDag], variants: list[RenderedDag],
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("airflow-dags")
    for dag in rendered + variants:
        (folder / f"{dag.dag_id}.py").write_text(dag.source, encoding="utf-8")
    return folder
