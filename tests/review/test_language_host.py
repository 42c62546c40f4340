"""``infra/__main__.py`` started exactly as the Pulumi CLI's Python language host starts it (issue 20),
with Pulumi's mocks as the engine, gives the manifest ``flowstacks synth`` gives for the same stack.

How the CLI runs a Python program (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go,
``constructArguments`` and ``Run``; sdk/python/cmd/pulumi-language-python-exec): the language host
starts ``python pulumi-language-python-exec --monitor A --engine B --project P --root_directory R
--stack S --pwd D --dry_run B --parallel N PROGRAM`` with the stack's config as JSON in
``PULUMI_CONFIG`` (keys ``<namespace>:<key>``) and its secret keys in ``PULUMI_CONFIG_SECRET_KEYS``.
The exec script sets the config from the environment (``set_all_config(get_config_env(),
get_config_secret_keys_env())``), configures ``pulumi.runtime.Settings`` (project, stack, dry_run,
root_directory), sets ``sys.argv = [PROGRAM]``, changes into ``--pwd`` and runs
``run_in_stack(lambda: runpy.run_path(PROGRAM, run_name="__main__"))`` on a new event loop. With
``main: infra/`` the engine passes ``--pwd <project>/infra`` and PROGRAM ``.``.

:data:`EXEC` below does exactly that in a fresh interpreter, except that the Settings' monitor and
engine are Pulumi's mocks (``set_mocks`` with flowstacks' recording monitor, which stands for the
engine and records what the providers would receive), and it writes the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowstacks.synth.engine import synth_stack
from tests.conftest import REPO

EXEC = r'''
import argparse, asyncio, logging, os, runpy, sys
import pulumi, pulumi.runtime
from pulumi.runtime import mocks, settings
from flowstacks.synth.engine import RealisticMocks, RecordingMonitor, StackResult

ap = argparse.ArgumentParser()
for flag in ("--project", "--root_directory", "--stack", "--parallel", "--dry_run", "--pwd",
             "--monitor", "--engine", "--organization", "--out"):
    ap.add_argument(flag)
ap.add_argument("PROGRAM")
args = ap.parse_args()
# as pulumi-language-python-exec: the config from the environment, then the runtime settings
pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(),
                              pulumi.runtime.get_config_secret_keys_env())
# The exec script makes its event loop after configuring the runtime; set_mocks already
# registers a root stack resource, whose futures belong to the loop current at that moment.
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
monitor = RecordingMonitor(RealisticMocks("us-east-1", "123456789012"))
mocks.set_mocks(monitor.mocks, project=args.project, stack=args.stack,
                preview=args.dry_run == "true", monitor=monitor)
settings.ROOT.set(None)  # run_in_stack makes the root stack, as under the real engine
# Settings(root_directory=args.root_directory), which MockSettings does not take (None when an
# older CLI passes no --root_directory)
settings.SETTINGS.root_directory = args.root_directory
sys.argv = [args.PROGRAM]
if args.pwd is not None:
    os.chdir(args.pwd)
logging.getLogger("asyncio").setLevel(logging.CRITICAL)
loop.run_until_complete(pulumi.runtime.run_in_stack(
    lambda: runpy.run_path(args.PROGRAM, run_name="__main__")))
loop.close()
result = StackResult(args.stack, monitor.stack_outputs["project"], monitor.recorded,
                     monitor.stack_outputs)
open(args.out, "w", encoding="utf-8").write(result.manifest_text())
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the example project as a user's repository holds it (Pulumi.yaml, infra/,
    flowspecs/, stacks/): the real CLI writes code packages into it."""
    root = tmp_path_factory.mktemp("repo")
    for name in ("flowspecs", "stacks", "infra"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "Pulumi.yaml", root)
    return root


def run_like_the_language_host(project: Path, stack: str, config: dict[str, str], out: Path,
                               pwd: Path | None = None, program: str = ".",
                               root_directory: bool = True) -> subprocess.CompletedProcess:
    exec_script = out.parent / "pulumi-language-python-exec"
    exec_script.write_text(EXEC, encoding="utf-8")
    pwd = pwd or project / "infra"
    args = [sys.executable, str(exec_script), "--monitor", "127.0.0.1:1", "--engine", "127.0.0.1:1",
            "--project", "flowstacks", "--stack", stack, "--pwd", str(pwd), "--dry_run", "true",
            "--parallel", "48", "--out", str(out)]
    if root_directory:
        args += ["--root_directory", str(project)]
    env = {**os.environ, "PULUMI_CONFIG": json.dumps(config),
           "PULUMI_CONFIG_SECRET_KEYS": json.dumps([]),
           "PYTHONPATH": str(REPO)}  # this checkout's flowstacks (the venv has main's)
    # the language host itself starts in the program folder too
    return subprocess.run([*args, program], cwd=pwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator", ["step-functions", "argo", "airflow"])
def test_the_language_host_run_gives_synths_manifest(project, tmp_path, orchestrator):
    config = {"flowstacks:orchestrator": orchestrator, "aws:region": "us-east-1"}
    proc = run_like_the_language_host(project, "prod", config, tmp_path / "manifest.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = synth_stack(project, "prod", orchestrator).manifest_text()
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8") == expected
    # not offline: the program wrote the code packages it uploads, inside the project
    assert len(list((project / ".flowstacks" / "packages").glob("*.tgz"))) >= 6
    assert not (project / "infra" / ".flowstacks").exists()


@pytest.mark.slow
def test_the_project_is_found_from_the_root_not_the_working_folder(project, tmp_path):
    """The program folder given by path with the working folder elsewhere: the project root
    comes from --root_directory, and without it (an older CLI) from Pulumi.yaml above the
    program."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = {"flowstacks:orchestrator": "argo"}
    expected = synth_stack(project, "test.feature_x", "argo").manifest_text()
    for with_root in (True, False):
        out = tmp_path / f"manifest-{with_root}.json"
        proc = run_like_the_language_host(project, "test.feature_x", config, out, pwd=elsewhere,
                                          program=str(project / "infra"), root_directory=with_root)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert out.read_text(encoding="utf-8") == expected


@pytest.mark.slow
def test_a_relative_project_dir_is_relative_to_the_root(project, tmp_path):
    """``flowstacks:projectDir`` names the folder of flowspecs/ relative to the Pulumi project,
    whatever the working folder: an infra repository that deploys a project beside it."""
    outer = tmp_path / "outer"
    (outer / "infra").mkdir(parents=True)
    shutil.copy(project / "Pulumi.yaml", outer)
    shutil.copy(project / "infra" / "__main__.py", outer / "infra")
    shutil.copytree(project, outer / "ml", ignore=shutil.ignore_patterns("infra", ".flowstacks"))
    config = {"flowstacks:orchestrator": "argo", "flowstacks:projectDir": "ml"}
    proc = run_like_the_language_host(outer, "test.feature_x", config, tmp_path / "m.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "m.json").read_text(encoding="utf-8") == synth_stack(
        outer / "ml", "test.feature_x", "argo").manifest_text()
