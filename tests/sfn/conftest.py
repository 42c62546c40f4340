"""Fixtures of the Step Functions backend tests.

``synth_out`` runs the real Pulumi program (mock engine) once per session for the example project
in one namespace of each kind, with the Step Functions backend: every other check (goldens,
asl-validator, parliament, namespace isolation) reads what it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACKS = {"prod": "prod", "test": "test.feature_x", "user": "user.alice"}  # kind -> stack
ORCHESTRATOR = "step-functions"


@pytest.fixture(scope="session")
def project():
    from flowstacks.load.project import ProjectDir

    return ProjectDir(REPO, ORCHESTRATOR)


@pytest.fixture(scope="session")
def contexts(project):
    """kind -> StackContext of the example project."""
    return {kind: project.stack_context(stack) for kind, stack in STACKS.items()}


@pytest.fixture(scope="session")
def synth_out(tmp_path_factory) -> Path:
    """``OUT`` of ``flowstacks synth --stack prod --stack test.feature_x --stack user.alice
    --orchestrator step-functions`` for the example project."""
    from flowstacks.synth.engine import synth

    out = tmp_path_factory.mktemp("sfn-synth") / "build"
    synth(REPO, list(STACKS.values()), out, ORCHESTRATOR)
    return out


@pytest.fixture(scope="session")
def definitions(synth_out) -> dict[tuple[str, str], dict]:
    """(kind, state machine name) -> ASL definition written by synth."""
    found = {}
    for kind, stack in STACKS.items():
        for path in sorted((synth_out / stack / "step-functions").glob("*.asl.json")):
            found[(kind, path.name[: -len(".asl.json")])] = json.loads(path.read_text())
    return found


@pytest.fixture(scope="session")
def roles(synth_out) -> dict[str, list[dict]]:
    """kind -> the ``iam/<role>.json`` documents of this backend's roles (execution, Batch task,
    EventBridge); the deployer role of ``infra/program.py`` is tested with it."""
    from flowstacks.iam.sfn import EVENTS_PURPOSE, EXECUTION_PURPOSE, TASK_PURPOSE

    ours = tuple(f"-{p}.json" for p in (EXECUTION_PURPOSE, TASK_PURPOSE, EVENTS_PURPOSE))
    return {kind: [json.loads(p.read_text())
                   for p in sorted((synth_out / stack / "iam").glob("*.json"))
                   if p.name.endswith(ours)]
            for kind, stack in STACKS.items()}


@pytest.fixture(scope="session")
def manifests(synth_out) -> dict[str, dict]:
    return {kind: json.loads((synth_out / stack / "manifest.json").read_text())
            for kind, stack in STACKS.items()}
