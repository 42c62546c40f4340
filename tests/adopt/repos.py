"""Test repositories: a copy of the example project, and a Metaflow repo laid out differently (flows in
``pipelines/``, no config, no Pulumi files), both as git repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tests.conftest import REPO

FLOWSTACKS = [sys.executable, "-m", "flowstacks.cli"]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null"}
PINNED = f"flowstacks=={metadata.version('flowstacks')}\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def flowstacks(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*FLOWSTACKS, *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, f"flowstacks {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def init_git(root: Path, remote: str = "git@github.com:acme/ml-pipelines.git") -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", remote)


def example_copy(dest: Path) -> Path:
    """The example project as its repository holds it (flows, config, stacks, Pulumi.yaml, infra/), except
    that infra/requirements.txt pins the installed flowstacks, as an adopted repository's does (the
    example's own `-e ..` would reinstall flowstacks from the copy)."""
    dest.mkdir(parents=True)
    for name in ("flowspecs", "stacks", "infra"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "Pulumi.yaml", dest / "Pulumi.yaml")
    (dest / "infra" / "requirements.txt").write_text(PINNED)
    return dest


def pipelines_repo(dest: Path) -> Path:
    """A Metaflow repo laid out unlike this one: flows in pipelines/ (with a helper module and their
    Config files), a test folder with another flow, a virtualenv and node_modules with flow-looking files
    (all to be skipped), no flowstacks config and no Pulumi files."""
    pipelines = dest / "pipelines"
    pipelines.mkdir(parents=True)
    for path in (REPO / "flowspecs").glob("*.py"):
        if path.name != "flowstacks_config.py":
            shutil.copy(path, pipelines / path.name)
    shutil.copytree(REPO / "flowspecs" / "settings", pipelines / "settings")
    (dest / "tests").mkdir()
    shutil.copy(REPO / "tests/fixtures/shared/metaflow/vector-flows/foreach_flow.py", dest / "tests")
    for junk in (".venv/lib/site", "node_modules/pkg"):
        (dest / junk).mkdir(parents=True)
        shutil.copy(pipelines / "train_flow.py", dest / junk / "flow.py")
    (dest / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (dest / ".gitignore").write_text(".venv/\nnode_modules/\nbuild/\n")
    (dest / "README.md").write_text("# ml pipelines\n")
    return dest
