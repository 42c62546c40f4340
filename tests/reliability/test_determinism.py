"""Same input, byte-identical output: under another PYTHONHASHSEED, working directory, time zone
and project location, for every backend (issue 9); and concurrent synths into one --out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ORCHESTRATORS, REPO


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_synth(project: Path, out: Path, orchestrator: str, seed: str, tz: str, cwd: Path,
              stacks: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz}
    args = [sys.executable, "-m", "flowstacks.cli", "synth", "--quiet", "--orchestrator", orchestrator,
            "--out", str(out), "--project-dir", str(project)]
    for stack in stacks:
        args += ["--stack", stack]
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def copy_project(dest: Path) -> Path:
    shutil.copytree(REPO / "flowspecs", dest / "flowspecs")
    shutil.copytree(REPO / "stacks", dest / "stacks")
    return dest


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_byte_identical_output(orchestrator, tmp_path):
    runs = []
    for i, (seed, tz) in enumerate((("1", "UTC"), ("4242", "Asia/Tokyo"))):
        project = copy_project(tmp_path / f"project-{i}")
        cwd = tmp_path / f"cwd-{i}"
        cwd.mkdir()
        out = tmp_path / f"out-{i}"
        proc = run_synth(project, out, orchestrator, seed, tz, cwd, ["test.feature_x", "prod"])
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
        runs.append(tree(out))
    assert len(runs[0]) > 5
    assert runs[0].keys() == runs[1].keys()
    differing = [k for k in runs[0] if runs[0][k] != runs[1][k]]
    assert differing == []
    for name, content in runs[0].items():
        assert str(tmp_path).encode() not in content, f"{name} embeds a local path"


def test_concurrent_synths_into_one_out(tmp_path):
    out = tmp_path / "build"
    procs = [run_synth(REPO, out, "argo", "0", "UTC", tmp_path, [stack])
             for stack in ("prod", "test.feature_x")]
    for proc in procs:
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["prod", "test.feature_x"]
    assert (out / "prod" / "manifest.json").exists() and (out / "test.feature_x" / "manifest.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".build.tmp-")] == []
