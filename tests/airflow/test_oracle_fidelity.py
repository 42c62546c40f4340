"""Metaflow 2.19.39's ``airflow create`` as the oracle for flows the example project lacks
(issue 14): an ``IncludeFile`` parameter's default (the uploader-v2 descriptor of the uploaded
file), and a 6-field cron, which Metaflow passes through to Airflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flowstacks.load.project import ProjectDir
from flowstacks.render.airflow.dag import dag_context
from tests.oracle.platform import namespace_root_env
from tests.oracle.harness import DEPLOY_ENV, oracle_available, shared_oracle

_ok, _why = oracle_available()
pytestmark = [pytest.mark.oracle, pytest.mark.slow, pytest.mark.skipif(not _ok, reason=_why)]

FLOW = '''from metaflow import FlowSpec, project, step, IncludeFile, schedule


@schedule(cron="{cron}")
@project(name="fid")
class IncAfFlow(FlowSpec):
    data = IncludeFile("data", default="data.csv", help="rows")
    raw = IncludeFile("raw", default="blob.bin", is_text=False)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    IncAfFlow()
'''


def _config(dag_text: str) -> dict:
    line = next(l for l in dag_text.splitlines() if l.startswith("CONFIG = "))
    return ast.literal_eval(line[len("CONFIG = "):])


def _project(tmp_path: Path, cron: str) -> Path:
    folder = tmp_path / "flowspecs"
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "blob.bin").write_bytes(bytes(range(256)))
    path = folder / "incaf.py"
    path.write_text(FLOW.format(cron=cron))
    return path


def test_include_file_params_match_metaflow(tmp_path):
    path = _project(tmp_path, "0 12 * * 1-5 30")
    # Metaflow's deployer with prod's own datastore root (issue 16), as flowstacks gives it
    theirs = _config(shared_oracle().airflow_dag(path, production=True, extra_env=namespace_root_env(
        "prod", DEPLOY_ENV)))
    project = ProjectDir(tmp_path, "airflow", environ={
        "METAFLOW_DATASTORE_SYSROOT_S3": DEPLOY_ENV["METAFLOW_DATASTORE_SYSROOT_S3"],
        "USER": "alice"})
    ctx = project.stack_context("prod")
    context = dag_context(ctx, ctx.flow("IncAfFlow"), "s3://b/k", "sha")
    ours = {p["name"]: p for p in context["params"]}
    assert len(theirs["metaflow_params"]) == 2
    for param in theirs["metaflow_params"]:
        # the same descriptor string (same S3 key, sizes, text flags) and Param type
        assert ours[param["name"]]["default"] == param["default"]
        assert ours[param["name"]]["type"] == param["type"]
    # Metaflow passes the 6-field cron through; Airflow reads the 6th field as the second
    assert theirs["dag_instantiation_params"]["schedule_interval"] == "0 12 * * 1-5 30"
    assert context["schedule"] == "0 12 * * 1-5 30"
