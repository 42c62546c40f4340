"""Every generated definition passes asl-validator (npm ``asl-validator@4``) with no error.

Install (the command used here, to be wired into CI):
``npm install --no-save --prefix /work/main asl-validator@4``

asl-validator rejects two JSONPath forms that AWS accepts and Metaflow deploys (issue 4):
``$.Parameters.['metaflow.run_id']`` (and ``$.[0]``...) and the union OutputPath
``$.['JobId', 'Parameters', 'Index', 'SplitParentTaskId']``. The validated copy normalises exactly
those two, in JSONPath strings only: the union OutputPath becomes ``$``, then ``.[`` becomes ``[``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flowstacks.render.sfn import OUTPUT_PATH

from .conftest import REPO

VALIDATOR = REPO / "node_modules" / ".bin" / "asl-validator"
NODE = shutil.which("node")


def normalise(value: Any) -> Any:
    """The copy asl-validator sees: only the two forms the issue allows are rewritten."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and value.startswith("$"):
        return "$" if value == OUTPUT_PATH else value.replace(".[", "[")
    return value


def _validate(paths: list[Path]) -> subprocess.CompletedProcess:
    args = [str(VALIDATOR)]
    for p in paths:
        args += ["--json-path", str(p)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def validator() -> Path:
    if NODE is None:
        pytest.skip("node is not installed on this machine (asl-validator needs it)")
    assert VALIDATOR.exists(), (
        f"asl-validator missing at {VALIDATOR}: run "
        "`npm install --no-save --prefix /work/main asl-validator@4`")
    return VALIDATOR


def test_normalisation_touches_only_the_two_forms():
    assert normalise("$.Parameters.['metaflow.run_id']") == "$.Parameters['metaflow.run_id']"
    assert normalise(OUTPUT_PATH) == "$"
    assert normalise("$.[0]") == "$[0]"
    untouched = "echo a.[b] && python x.py"  # not a JSONPath: left alone
    assert normalise(untouched) == untouched
    assert normalise({"Command": ["bash", "-c", untouched]}) == {"Command": ["bash", "-c", untouched]}


def test_every_definition_is_valid(validator, definitions, tmp_path):
    assert len(definitions) == 18  # 6 example flows x 3 namespace kinds
    paths = []
    for (kind, name), definition in sorted(definitions.items()):
        path = tmp_path / f"{kind}-{name}.json"
        path.write_text(json.dumps(normalise(definition)))
        paths.append(path)
    result = _validate(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is valid") == len(paths)


def test_validator_rejects_a_broken_transition(validator, definitions, tmp_path):
    """The check can fail: a dangling Next is reported."""
    definition = normalise(definitions[("prod", "example_project.prod.ProjectFlow")])
    definition["States"]["start"]["Next"] = "nowhere"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(definition))
    assert _validate([path]).returncode != 0
