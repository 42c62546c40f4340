"""Golden DAG files: one per example flow x namespace kind, reviewed as diffs.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/airflow/test_golden.py`` (never by hand).
"""

from __future__ import annotations

import os

import pytest

from tests.airflow.conftest import STACKS, RenderedDag
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "airflow"
FLOWS = ["FeaturesFlow", "ProjectFlow", "PublishFlow", "RefreshFlow", "ScoringFlow", "TrainFlow"]


@pytest.mark.parametrize("kind", list(STACKS))
@pytest.mark.parametrize("flow", FLOWS)
def test_golden(rendered: list[RenderedDag], kind: str, flow: str) -> None:
    dag = next(d for d in rendered if d.kind == kind and d.fd.flow.name == flow)
    path = GOLDEN / kind / f"{dag.dag_id}.py"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dag.source, encoding="utf-8")
    assert path.exists(), f"missing golden {path.relative_to(REPO)}: run with UPDATE_GOLDEN=1"
    assert dag.source == path.read_text(encoding="utf-8"), (
        f"{dag.dag_id} differs from {path.relative_to(REPO)}; review, then UPDATE_GOLDEN=1")


def test_no_stale_golden(rendered: list[RenderedDag]) -> None:
    expected = {f"{d.kind}/{d.dag_id}.py" for d in rendered}
    present = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.py")}
    assert present == expected
