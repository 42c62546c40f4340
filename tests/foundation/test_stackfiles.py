"""stacks/ matches the config's matrix; `stacks sync` and `token rotate` keep it so."""

from __future__ import annotations

import shutil
import subprocess
import sys

from flowstacks.naming.deployers import production_token, token_prefix
from flowstacks.load.project import ProjectDir
from flowstacks.load.stackfiles import (check, edit_stack_file, read_stack_config, record_token_index, sync,
                                        token_index)
from tests.conftest import REPO


def test_repo_stack_files_match_the_matrix():
    problems = check(REPO, ProjectDir(REPO).stacks())
    assert problems == [], "\n".join(problems)


def _copy(tmp_path):
    shutil.copytree(REPO / "flowspecs", tmp_path / "flowspecs")
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    return tmp_path


def test_missing_invalid_and_stale_files_are_reported(tmp_path):
    root = _copy(tmp_path)
    matrix = ProjectDir(root).stacks()
    (root / "stacks" / "Pulumi.test.feature_x.yaml").unlink()
    (root / "stacks" / "Pulumi.prod.yaml").write_text(
        "config:\n  flowstacks:productionTokenIndx: 1\n  flowstacks:productionTokenIndex: -2\n")
    (root / "stacks" / "Pulumi.test.gone.yaml").write_text("config: {}\n")
    (root / "stacks" / "Pulumi.user.alice.yaml").write_text("config: {}\n")
    problems = check(root, matrix)
    assert any("Pulumi.test.feature_x.yaml: missing" in p for p in problems)
    assert any("Pulumi.prod.yaml: unknown setting 'flowstacks:productionTokenIndx'" in p for p in problems)
    assert any("Pulumi.prod.yaml: flowstacks:productionTokenIndex must be a whole number" in p
               for p in problems)
    assert any("Pulumi.test.gone.yaml: stale" in p and "pulumi destroy -s test.gone" in p
               for p in problems)
    assert not any("user.alice" in p for p in problems)  # developer stacks are not in the matrix
    report = sync(root, matrix)
    assert report.written == ["test.feature_x"]
    assert report.stale == ["test.gone"]
    assert (root / "stacks" / "Pulumi.test.gone.yaml").exists()  # never deleted by sync
    assert [p for p in check(root, matrix) if "Pulumi.prod.yaml" not in p and "stale" not in p] == []


PULUMI_OWNED = """\
secretsprovider: awskms://alias/pulumi?region=us-east-1
encryptedkey: AQICAHhexample==
encryptionsalt: v1:abc123:v1:def:ghi==
environment:
  - metaflow-prod   # the team's ESC environment
config:
  # settings of other packages stay as they are
  aws:region: us-east-1
  flowstacks:serviceAuthKey:
    secure: v1:Zm9vYmFy:YmF6cXV4
  example:quoted: "0012"
"""


def test_stack_files_round_trip_every_key_flowstacks_does_not_own(tmp_path):
    root = _copy(tmp_path)
    path = root / "stacks" / "Pulumi.prod.yaml"
    path.write_text(PULUMI_OWNED)
    matrix = ProjectDir(root).stacks()
    assert sync(root, matrix).unchanged == matrix  # an existing file is never rewritten
    assert path.read_text() == PULUMI_OWNED
    record_token_index(root, "prod", 3)
    text = path.read_text()
    assert text.replace("  flowstacks:productionTokenIndex: 3\n", "") == PULUMI_OWNED
    import yaml

    data = yaml.safe_load(text)
    assert data["encryptionsalt"] == "v1:abc123:v1:def:ghi=="
    assert data["config"]["flowstacks:serviceAuthKey"] == {"secure": "v1:Zm9vYmFy:YmF6cXV4"}
    assert data["config"]["example:quoted"] == "0012"
    assert token_index(root, "prod") == 3
    assert check(root, matrix) == []
    edit_stack_file(root, "prod", {"flowstacks:productionTokenIndex": None})
    assert path.read_text() == PULUMI_OWNED


def test_sync_writes_a_file_pulumi_reads(tmp_path):
    root = _copy(tmp_path)
    (root / "stacks" / "Pulumi.test.feature_x.yaml").unlink()
    sync(root, ProjectDir(root).stacks())
    import yaml

    written = (root / "stacks" / "Pulumi.test.feature_x.yaml").read_text()
    assert written.startswith("# Pulumi stack test.feature_x ")
    assert yaml.safe_load(written) == {"config": {}}


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
