"""`pulumi install` on a fresh clone: the pip toolchain runs `pip install -r requirements.txt` in the
program folder (Pulumi.yaml `main`), inside the virtualenv Pulumi.yaml names, relative to the project
root. Without the CLI, the same pip command is run (as a dry run) from the same folder."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.conftest import REPO


def test_pulumi_yaml_points_the_pip_toolchain_at_a_requirements_file():
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["toolchain"] == "pip"
    program_dir = REPO / project["main"]
    assert (program_dir / "requirements.txt").is_file(), "pulumi install would install nothing"
    assert (REPO / project["runtime"]["options"]["virtualenv"]).resolve() == (REPO / ".venv").resolve()


def test_requirements_install_flowstacks_from_the_repository_root():
    """What the language host runs, from the folder it runs it in; the report names what pip would
    install: flowstacks itself, from this checkout (its pinned dependencies come with it)."""
    program_dir = REPO / yaml.safe_load((REPO / "Pulumi.yaml").read_text())["main"]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
         "--disable-pip-version-check", "--quiet", "--report", "-", "-r", "requirements.txt"],
        cwd=program_dir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import json

    report = json.loads(proc.stdout)
    installs = {i["metadata"]["name"]: i for i in report["install"]}
    assert set(installs) == {"flowstacks"}
    url = installs["flowstacks"]["download_info"]["url"]
    assert url == REPO.resolve().as_uri()
    assert installs["flowstacks"]["download_info"]["dir_info"].get("editable") is True
