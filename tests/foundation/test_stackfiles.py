"""stacks/ matches the config's matrix; `stacks sync` and `token rotate` keep it so."""

from __future__ import annotations

import shutil
import subprocess
import sys

from flowstacks.naming.deployers import production_token, token_prefix
from flowstacks.load.project import ProjectDir
from flowstacks.load.stackfiles import check, read_stack_config, sync, token_index
from tests.conftest import REPO


def test_repo_stack_files_match_the_matrix():
    problems = check(REPO, ProjectDir(REPO).stacks())
    assert problems == [], "\n".join(problems)


def _copy(tmp_path):
    shutil.copytree(REPO / "flowspecs", tmp_path / "flowspecs")
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    return tmp_path


def test_missing_changed_and_stale_files_are_reported(tmp_path):
    root = _copy(tmp_path)
    matrix = ProjectDir(root).stacks()
    (root / "stacks" / "Pulumi.test.feature_x.yaml").unlink()
    (root / "stacks" / "Pulumi.prod.yaml").write_text("config: {}\n")
    (root / "stacks" / "Pulumi.test.gone.yaml").write_text("config: {}\n")
    (root / "stacks" / "Pulumi.user.alice.yaml").write_text("config: {}\n")
    problems = check(root, matrix)
    assert any("Pulumi.test.feature_x.yaml: missing" in p for p in problems)
    assert any("Pulumi.prod.yaml: out of date" in p for p in problems)
    assert any("Pulumi.test.gone.yaml: stale" in p and "pulumi destroy -s test.gone" in p
               for p in problems)
    assert not any("user.alice" in p for p in problems)  # developer stacks are not in the matrix
    report = sync(root, matrix)
    assert sorted(report.written) == ["prod", "test.feature_x"]
    assert report.stale == ["test.gone"]
    assert (root / "stacks" / "Pulumi.test.gone.yaml").exists()  # never deleted by sync
    assert [p for p in check(root, matrix) if "stale" not in p] == []


def test_token_rotate_records_next_candidate(tmp_path):
    root = _copy(tmp_path)
    cmd = [sys.executable, "-m", "flowstacks.cli", "token", "rotate", "--stack", "prod",
           "--project-dir", str(root)]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    prefix = token_prefix("example_project", "prod")
    assert production_token(prefix, 1) in first.stdout
    assert token_index(root, "prod") == 1
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert read_stack_config(root, "prod") == {"flowstacks:productionTokenIndex": 2}
    ctx = ProjectDir(root).stack_context("prod", token_index(root, "prod"))
    assert ctx.production_token == production_token(prefix, 2)
    assert ctx.production_token.startswith("mfprj-6epsm4cfdput2lxm-2-")
    assert check(root, ProjectDir(root).stacks()) == []
