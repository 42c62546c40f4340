"""Shared fixtures: paths of the repo, the example project and the shared Metaflow facts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO
# A copy of ../shared (the team's Metaflow facts) that CI can rely on; FLOWSTACKS_SHARED overrides.
SHARED = Path(os.environ.get("FLOWSTACKS_SHARED", REPO / "tests" / "fixtures" / "shared"))
VECTORS = SHARED / "metaflow" / "vectors.jsonl"
VECTOR_FLOWS = SHARED / "metaflow" / "vector-flows"


# The longest test files, longest first (wall seconds of a CI run, 2 workers, 2026-11-29): run
# first, so the test workers (scripts/test.sh, one file per worker at a time) end together
# instead of one of them starting a 10-minute file when the others are done. Only the order
# changes; every test still runs.
LONGEST_FIRST = (
    "tests/local/test_run_local_airflow.py",  # 606 s
    "tests/local/test_run_local_sfn.py",  # 435 s
    "tests/local/test_run_local_shapes_airflow.py",  # 427 s
    "tests/shapes/test_decorator_table.py",  # 402 s
    "tests/local/test_run_local_shapes_sfn.py",  # 363 s
    "tests/argo/test_oracle.py",  # 260 s
    "tests/reliability/test_isolation.py",  # 120 s
    "tests/sfn/test_oracle.py",  # 110 s
)


def pytest_collection_modifyitems(config, items):
    rank = {str(REPO / path): i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(str(item.path), len(rank)))  # stable: ties keep order


@pytest.fixture(scope="session", autouse=True)
def _no_machine_metaflow_config(tmp_path_factory):
    """What a stack deploys follows the Metaflow config in effect (flowstacks/load/platform.py):
    the suite reads none of the machine's (an empty METAFLOW_HOME, no METAFLOW_PROFILE and none
    of the platform keys in the environment); tests that need one set it themselves."""
    from flowstacks.model.platform import METAFLOW_KEYS

    patch = pytest.MonkeyPatch()
    patch.setenv("METAFLOW_HOME", str(tmp_path_factory.mktemp("metaflow-home")))
    for key in ("PROFILE", *METAFLOW_KEYS):
        patch.delenv(f"METAFLOW_{key}", raising=False)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def vectors() -> list[dict]:
    if not VECTORS.exists():
        pytest.skip(f"shared vectors not found at {VECTORS}")
    return [json.loads(line) for line in VECTORS.read_text().splitlines() if line.strip()]


EXAMPLE_STACKS = ("prod", "prod.staging", "test.feature_x", "user.alice")
ORCHESTRATORS = ("step-functions", "argo", "airflow")
_SYNTH_CACHE: dict = {}


def synthesized(orchestrator: str, stack: str):
    """The example project's stack synthesized once per test session (a StackResult)."""
    key = (orchestrator, stack)
    if key not in _SYNTH_CACHE:
        from flowstacks.synth.engine import synth_stack

        _SYNTH_CACHE[key] = synth_stack(REPO, stack, orchestrator)
    return _SYNTH_CACHE[key]
