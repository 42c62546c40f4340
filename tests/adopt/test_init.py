"""`flowstacks init` on repositories laid out unlike this one: what it writes, that the result deploys with
no other edit (issue 19's done-means), that it is idempotent and never overwrites a file it did not write."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import pytest
import yaml

from tests.adopt.repos import PINNED, example_copy, flowstacks, init_git, pipelines_repo

WORKFLOWS = {".github/workflows/flowstacks-review.yml", ".github/workflows/flowstacks-deploy.yml",
             ".github/workflows/flowstacks-teardown.yml"}
FLOWS = ["FeaturesFlow", "ProjectFlow", "PublishFlow", "RefreshFlow", "ScoringFlow", "TrainFlow"]


def _actions(stdout: str) -> dict[str, str]:
    return {line.split(": ", 1)[1]: line.split(": ", 1)[0] for line in stdout.splitlines()
            if ": " in line and not line.startswith(("next", "note"))}


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    """A copy of a Metaflow repo with flows in pipelines/ and no config, after `flowstacks init --ci github`."""
    root = pipelines_repo(tmp_path_factory.mktemp("adopt") / "repo")
    init_git(root)
    proc = flowstacks("init", "--ci", "github", cwd=root)
    return root, proc


def test_init_then_synth_and_ls_work_with_no_other_edit(adopted):
    """The done-means of issue 19: init --ci github, then synth --all and ls --all, nothing else."""
    root, proc = adopted
    assert _actions(proc.stdout) == {
        "flowstacks_config.py": "wrote", "Pulumi.yaml": "wrote", "infra/__main__.py": "wrote",
        "infra/requirements.txt": "wrote", "infra/policypack/__main__.py": "wrote",
        "infra/policypack/PulumiPolicy.yaml": "wrote", "infra/policypack/requirements.txt": "wrote",
        "stacks/Pulumi.prod.yaml": "wrote", **{w: "wrote" for w in WORKFLOWS}}
    assert proc.stdout.rstrip().splitlines()[-1] == "next: flowstacks synth --all && flowstacks ls --all"
    flowstacks("synth", "--all", "--quiet", cwd=root)
    manifest = json.loads((root / "build" / "prod" / "manifest.json").read_text())
    assert manifest["project"] == "example_project"
    machines = sorted(r["inputs"]["name"] for r in manifest["resources"]
                      if r["type"] == "aws:sfn/stateMachine:StateMachine")
    assert machines == [f"example_project.prod.{f}" for f in FLOWS]
    listing = json.loads(flowstacks("ls", "--all", "--json", cwd=root).stdout)
    assert [s["stack"] for s in listing["stacks"]] == ["prod"]
    assert [f["flow"] for f in listing["stacks"][0]["flows"]] == FLOWS
    assert {f["file"].split("/")[0] for f in listing["stacks"][0]["flows"]} == {"pipelines"}


def test_the_config_records_what_init_found(adopted):
    root, _ = adopted
    from flowstacks.load.project import ProjectDir

    project = ProjectDir(root)
    config = project.config
    assert project.config_file == "flowstacks_config.py"
    assert (config.project, config.flows_dir, config.flows) == ("example_project", "pipelines", FLOWS)
    assert [s.name for s in config.stacks] == ["prod"] and config.review_stacks
    assert config.deployer.subject_template == "repo:acme/ml-pipelines:environment:{stack}"
    # the test flow in tests/, the virtualenv and node_modules were not taken for flows
    assert project.flows_dir == root / "pipelines"


def test_pulumi_project_and_infra_follow_this_repository(adopted):
    root, _ = adopted
    pulumi_yaml = yaml.safe_load((root / "Pulumi.yaml").read_text())
    assert pulumi_yaml["name"] == "example_project"
    assert pulumi_yaml["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert (pulumi_yaml["main"], pulumi_yaml["stackConfigDir"]) == ("infra/", "stacks")
    for req in ("infra/requirements.txt", "infra/policypack/requirements.txt"):
        pins = [l for l in (root / req).read_text().splitlines() if l and not l.startswith("#")]
        assert pins == [PINNED.strip()], req
    assert PINNED.strip() == f"flowstacks=={metadata.version('flowstacks')}"
    policy = yaml.safe_load((root / "infra/policypack/PulumiPolicy.yaml").read_text())
    assert policy["runtime"]["options"]["virtualenv"] == "../../.venv"
    assert "PolicyPack(" in (root / "infra/policypack/__main__.py").read_text()


@pytest.mark.parametrize("which", ["generated", "this repository's"])
def test_entry_point_runs_from_the_program_folder(adopted, which):
    """The Pulumi CLI runs the program with infra/ as working directory (main: infra/): the entry point
    still finds the project at the root (here under Pulumi's mock engine)."""
    from tests.conftest import REPO

    root = adopted[0] if which == "generated" else REPO
    script = (
        "import runpy, sys\n"
        "from flowstacks.synth.engine import run_program\n"
        "_, monitor = run_program('prod', lambda: runpy.run_path('__main__.py', run_name='__main__'),"
        " config={'offline': 'true'})\n"
        "print(sorted(monitor.stack_outputs['flows']))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=root / "infra", capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(FLOWS)


def test_init_is_idempotent_and_keeps_edited_files(adopted, tmp_path):
    root, _ = adopted
    again = flowstacks("init", "--ci", "github", cwd=root)
    assert set(_actions(again.stdout).values()) == {"unchanged"}
    deploy = root / ".github/workflows/flowstacks-deploy.yml"
    edited = deploy.read_text().replace("runs-on: ubuntu-latest", "runs-on: self-hosted")
    deploy.write_text(edited)
    third = _actions(flowstacks("init", "--ci", "github", "--orchestrator", "argo", cwd=root).stdout)
    assert third[".github/workflows/flowstacks-deploy.yml"] == "kept (edited since init wrote it)"
    assert deploy.read_text() == edited
    # init's own unedited config follows the new choice; a re-run without it keeps it
    assert third["flowstacks_config.py"] == "updated"
    assert 'prod="argo"' in (root / "flowstacks_config.py").read_text()
    fourth = _actions(flowstacks("init", "--ci", "github", cwd=root).stdout)
    assert fourth["flowstacks_config.py"] == "unchanged"


def test_init_never_overwrites_the_repository_s_own_files(tmp_path):
    root = example_copy(tmp_path / "example")
    before = {p: (root / p).read_text() for p in ("Pulumi.yaml", "infra/__main__.py",
                                                  "flowspecs/flowstacks_config.py", "infra/requirements.txt")}
    proc = flowstacks("init", "--ci", "github", cwd=root)
    actions = _actions(proc.stdout)
    assert actions["flowspecs/flowstacks_config.py"] == "kept (the project's config)"
    for path in ("Pulumi.yaml", "infra/__main__.py", "infra/requirements.txt",
                 "infra/policypack/__main__.py", "infra/policypack/PulumiPolicy.yaml"):
        assert actions[path] == "skipped (not written by flowstacks init)", path
    assert {p: (root / p).read_text() for p in before} == before
    assert not (root / "flowstacks_config.py").exists()
    assert {s: actions[s] for s in actions if s.startswith("stacks/")} == {
        "stacks/Pulumi.prod.yaml": "unchanged", "stacks/Pulumi.prod.staging.yaml": "unchanged",
        "stacks/Pulumi.test.feature_x.yaml": "unchanged"}
    assert all(actions[w] == "wrote" for w in WORKFLOWS)
    assert "note: the config does not accept review stacks" in proc.stdout


@pytest.mark.parametrize("case, expected", [
    ("two-folders", "flows in several folders: flows_a/ (a.py); flows_b/ (b.py)"),
    ("no-flows", "no Metaflow flows found"),
    ("no-project", "has no @project decorator"),
])
def test_init_refuses_what_it_cannot_adopt(tmp_path, case, expected):
    flow = ("from metaflow import FlowSpec, step{imp}\n\n{deco}class {name}(FlowSpec):\n"
            "    @step\n    def start(self):\n        self.next(self.end)\n\n"
            "    @step\n    def end(self):\n        pass\n")
    if case == "two-folders":
        for folder, name in (("flows_a", "A"), ("flows_b", "B")):
            (tmp_path / folder).mkdir()
            (tmp_path / folder / f"{name.lower()}.py").write_text(
                flow.format(imp=", project", deco="@project(name='p')\n", name=f"{name}Flow"))
    elif case == "no-project":
        (tmp_path / "flows").mkdir()
        (tmp_path / "flows" / "a.py").write_text(flow.format(imp="", deco="", name="AFlow"))
    else:
        (tmp_path / "helper.py").write_text("class NotAFlow:\n    pass\n")
    proc = flowstacks("init", cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "flowstacks_config.py").exists() and not (tmp_path / "Pulumi.yaml").exists()
