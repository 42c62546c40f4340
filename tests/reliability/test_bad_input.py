"""The bad-input catalog: every case exits 1 with a message that names what is wrong and where,
prints no traceback, and writes nothing (issue 9)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flowstacks.cli import main
from tests.conftest import REPO

FLOW = """
from metaflow import FlowSpec, project, step{imports}

{decorators}@project(name='{project}')
class {name}(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def flow(name: str = "ZeroFlow", project: str = "zc", decorators: str = "", imports: str = "") -> str:
    return FLOW.format(name=name, project=project, decorators=decorators, imports=imports)


def config(body: str) -> str:
    return "from flowstacks.model.config import *\n" + textwrap.dedent(body)


@dataclass
class Case:
    id: str
    argv: list[str]
    needles: list[str]
    files: dict[str, str] | None = None  # flowspecs/ content; None: a copy of the example project
    env: dict[str, str] = field(default_factory=dict)


EXAMPLE_SYNTH = ["synth", "--quiet", "--stack"]
CASES = [
    # --- stack names (Metaflow's own messages) ---
    Case("stack-uppercase", EXAMPLE_SYNTH + ["test.Foo"],
         ["The branch name must contain only lowercase alphanumeric characters and underscores.", "test.Foo"]),
    Case("stack-dash", EXAMPLE_SYNTH + ["prod.a-b"], ["lowercase alphanumeric", "prod.a-b"]),
    Case("stack-not-a-namespace", EXAMPLE_SYNTH + ["staging"], ["'staging' is not a Metaflow namespace"]),
    Case("stack-129", EXAMPLE_SYNTH + ["test." + "b" * 129],
         ["Branch name is too long. The maximum is 128 characters."]),
    Case("stack-empty", EXAMPLE_SYNTH + [""], ["'' is not a Metaflow namespace"]),
    Case("stack-no-branch", EXAMPLE_SYNTH + ["test."], ["names no branch"]),
    Case("stack-dotted-branch", EXAMPLE_SYNTH + ["prod.a.b"], ["lowercase alphanumeric", "prod.a.b"]),
    Case("stack-not-in-matrix", EXAMPLE_SYNTH + ["test.unknown"],
         ["not in the branch matrix", "flowstacks_config.py"]),
    Case("synth-no-stack", ["synth"], ["name at least one --stack, or --all"]),
    Case("orchestrator-unknown", EXAMPLE_SYNTH + ["prod", "--orchestrator", "lambda"],
         ["unknown orchestrator 'lambda'", "--orchestrator"]),
    # --- flow files ---
    Case("flow-syntax-error", EXAMPLE_SYNTH + ["prod"], ["syntax error", "bad_flow.py"],
         {"bad_flow.py": flow().replace("def end(self):", "def end(self:")}),
    Case("flow-import-error", EXAMPLE_SYNTH + ["prod"], ["nonexistent_module_xyz", "boom_flow.py"],
         {"boom_flow.py": "import nonexistent_module_xyz\n" + flow()}),
    Case("flow-raises", EXAMPLE_SYNTH + ["prod"], ["ZeroDivisionError", "div_flow.py", "line 2"],
         {"div_flow.py": "import math\nx = 1 / 0\n" + flow()}),
    Case("two-flowspecs", EXAMPLE_SYNTH + ["prod"], ["defines 2 FlowSpec subclasses", "two_flow.py"],
         {"two_flow.py": flow() + flow(name="OtherFlow")}),
    Case("no-project", EXAMPLE_SYNTH + ["prod"], ["has no @project decorator", "plain_flow.py"],
         {"plain_flow.py": flow().replace("@project(name='zc')\n", "")}),
    Case("same-class-twice", EXAMPLE_SYNTH + ["prod"], ["several flow files define ZeroFlow"],
         {"a_flow.py": flow(), "b_flow.py": flow()}),
    Case("projects-differ", EXAMPLE_SYNTH + ["prod"], ["flows belong to several projects"],
         {"a_flow.py": flow(), "b_flow.py": flow(name="BFlow", project="other")}),
    Case("project-differs-from-config", EXAMPLE_SYNTH + ["prod"],
         ["@project(name='other') differs from the config's project 'zc'", "b_flow.py"],
         {"a_flow.py": flow(), "b_flow.py": flow(name="BFlow", project="other"),
          "flowstacks_config.py": config("CONFIG = ProjectConfig(project='zc')")}),
    Case("project-name-invalid", EXAMPLE_SYNTH + ["prod"],
         ["The @project name must contain only lowercase alphanumeric characters and underscores.",
          "bad_flow.py"], {"bad_flow.py": flow(project="Bad")}),
    Case("graph-invalid", EXAMPLE_SYNTH + ["prod"], ["Metaflow rejects the graph", "graph_flow.py"],
         {"graph_flow.py": flow().replace("self.next(self.end)", "self.next(self.nowhere)")}),
    Case("no-flowspecs", EXAMPLE_SYNTH + ["prod"], ["no flowspecs/ folder here"], {}),
    Case("project-pinned-branch", EXAMPLE_SYNTH + ["test.other"],
         ["You cannot pass branch as both a command-line argument and an attribute of the @project decorator.",
          "pin_flow.py"], {"pin_flow.py": flow().replace("@project(name='zc')", "@project(name='zc', branch='pinned')")}),
    Case("project-pinned-production", EXAMPLE_SYNTH + ["test.other"],
         ["not stack 'test.other'", "pin_flow.py"],
         {"pin_flow.py": flow().replace("@project(name='zc')", "@project(name='zc', production=True)")}),
    # --- triggers and schedules ---
    Case("trigger-one-dot", EXAMPLE_SYNTH + ["prod", "--orchestrator", "argo"],
         ["Incorrect format for *flow* in *@trigger_on_finish* decorator.", "trig_flow.py"],
         {"trig_flow.py": flow(decorators="@trigger_on_finish(flow='proj.Flow')\n",
                               imports=", trigger_on_finish")}),
    Case("trigger-dict-no-name", EXAMPLE_SYNTH + ["prod", "--orchestrator", "argo"],
         ["missing the *name* key", "trig_flow.py"],
         {"trig_flow.py": flow(decorators="@trigger_on_finish(flow={'project': 'p'})\n",
                               imports=", trigger_on_finish")}),
    Case("trigger-dict-dotted-name", EXAMPLE_SYNTH + ["prod", "--orchestrator", "argo"],
         ["is not a valid string", "trig_flow.py"],
         {"trig_flow.py": flow(decorators="@trigger_on_finish(flow={'name': 'a.b'})\n",
                               imports=", trigger_on_finish")}),
    Case("trigger-bad-flow-name", EXAMPLE_SYNTH + ["prod", "--orchestrator", "argo"],
         ["Invalid flow name *Bad-Flow*", "trig_flow.py"],
         {"trig_flow.py": flow(decorators="@trigger_on_finish(flow='Bad-Flow')\n",
                               imports=", trigger_on_finish")}),
    Case("schedule-timezone-sfn", EXAMPLE_SYNTH + ["prod", "--orchestrator", "step-functions"],
         ["Step Functions does not support scheduling with a timezone.", "ZeroFlow"],
         {"tz_flow.py": flow(decorators="@schedule(daily=True, timezone='Europe/Paris')\n",
                             imports=", schedule")}),
    Case("schedule-timezone-airflow", EXAMPLE_SYNTH + ["prod", "--orchestrator", "airflow"],
         ["does not support scheduling with `timezone`", "ZeroFlow"],
         {"tz_flow.py": flow(decorators="@schedule(daily=True, timezone='Europe/Paris')\n",
                             imports=", schedule")}),
    # --- issue 14: a project's problems all at once, each naming file, flow and step ---
    Case("several-bad-files", EXAMPLE_SYNTH + ["prod"],
         ["syntax error", "bad_flow.py", "nonexistent_module_xyz", "boom_flow.py",
          "defines 2 FlowSpec subclasses", "two_flow.py", "3 problems found"],
         {"bad_flow.py": flow().replace("def end(self):", "def end(self:"),
          "boom_flow.py": "import nonexistent_module_xyz\n" + flow(name="BoomFlow"),
          "two_flow.py": flow(name="TwoFlow") + flow(name="OtherFlow"),
          "ok_flow.py": flow(name="OkFlow")}),
    Case("same-class-lists-files", EXAMPLE_SYNTH + ["prod"],
         ["several flow files define ZeroFlow: flowspecs/a_flow.py, flowspecs/b_flow.py, "
          "flowspecs/c_flow.py"],
         {"a_flow.py": flow(), "b_flow.py": flow(), "c_flow.py": flow()}),
    Case("no-project-several", EXAMPLE_SYNTH + ["prod"],
         ["a_flow.py (AFlow)", "b_flow.py (BFlow)", "has no @project decorator"],
         {"a_flow.py": flow(name="AFlow").replace("@project(name='zc')\n", ""),
          "b_flow.py": flow(name="BFlow").replace("@project(name='zc')\n", ""),
          "c_flow.py": flow(name="CFlow")}),
    Case("conda-and-pypi-base", EXAMPLE_SYNTH + ["prod", "--orchestrator", "argo"],
         ["@pypi decorator requires --environment=conda or --environment=pypi or "
          "--environment=fast-bakery", "env_flow.py (EnvFlow)", "@conda decorator requires",
          "env_flow.py (EnvFlow.start)", "install the packages in the task image"],
         {"env_flow.py": flow(name="EnvFlow", imports=", conda, pypi_base",
                              decorators="@pypi_base(packages={'x': '1'})\n").replace(
             "    @step\n    def start", "    @conda(packages={'y': '1'})\n    @step\n    def start")}),
    Case("kubernetes-on-sfn", EXAMPLE_SYNTH + ["prod", "--orchestrator", "step-functions"],
         ["marked for execution on Kubernetes", "k8s_flow.py (K8sFlow.start)",
          "other_flow.py (OtherK8sFlow.end)"],
         {"k8s_flow.py": flow(name="K8sFlow", imports=", kubernetes").replace(
             "    @step\n    def start", "    @kubernetes\n    @step\n    def start"),
          "other_flow.py": flow(name="OtherK8sFlow", imports=", kubernetes").replace(
             "    @step\n    def end", "    @kubernetes\n    @step\n    def end")}),
    Case("cron-eventbridge-cannot-express", EXAMPLE_SYNTH + ["prod", "--orchestrator", "step-functions"],
         ["@schedule(cron='0 0 1 * 1') cannot be an EventBridge schedule", "both restricted",
          "cron_flow.py (ZeroFlow)"],
         {"cron_flow.py": flow(decorators="@schedule(cron='0 0 1 * 1')\n", imports=", schedule")}),
    Case("cron-airflow-numbered-weekdays", EXAMPLE_SYNTH + ["prod", "--orchestrator", "airflow"],
         ["numbers the days of the week 1-7 from Sunday", "name the days",
          "cron_flow.py (ZeroFlow)"],
         {"cron_flow.py": flow(decorators="@schedule(cron='0 12 ? * 2-6 *')\n", imports=", schedule")}),
    Case("cron-argo-numbered-weekdays", EXAMPLE_SYNTH + ["prod", "--orchestrator", "argo"],
         ["numbers the days of the week 1-7 from Sunday, Argo's cron 0-6", "name the days",
          "cron_flow.py (ZeroFlow)"],
         {"cron_flow.py": flow(decorators="@schedule(cron='0 12 ? * 2-6 *')\n", imports=", schedule")}),
    Case("several-upstreams-sfn", EXAMPLE_SYNTH + ["prod", "--orchestrator", "step-functions"],
         ["every upstream flow has finished", "trig_flow.py (ZeroFlow)"],
         {"trig_flow.py": flow(decorators="@trigger_on_finish(flows=['AFlow', 'BFlow'])\n",
                               imports=", trigger_on_finish")}),
    Case("include-file-missing", EXAMPLE_SYNTH + ["prod"],
         ["IncludeFile: could not open file 'nope.csv' for reading", "inc_flow.py (ZeroFlow), parameter data"],
         {"inc_flow.py": flow(imports=", IncludeFile").replace(
             "    @step\n    def start", "    data = IncludeFile('data', default='nope.csv')\n\n    @step\n    def start")}),
    # --- user names a backend cannot take ---
    Case("user-space-airflow", EXAMPLE_SYNTH + ["user.john doe", "--orchestrator", "airflow"],
         ["Name 'example_project.user.john doe.", "contains invalid characters"]),
    Case("user-space-argo", EXAMPLE_SYNTH + ["user.john doe", "--orchestrator", "argo"],
         ["john doe"]),
    # --- the config ---
    Case("config-unknown-key", EXAMPLE_SYNTH + ["prod"], ["ProjectConfig.colour", "flowstacks_config.py:2"],
         {"a_flow.py": flow(), "flowstacks_config.py": config("CONFIG = ProjectConfig(colour='red')")}),
    Case("config-wrong-type", EXAMPLE_SYNTH + ["prod"], ["ProjectConfig.protect_prod", "flowstacks_config.py"],
         {"a_flow.py": flow(), "flowstacks_config.py": config("CONFIG = ProjectConfig(protect_prod='maybe')")}),
    Case("config-unknown-flow", EXAMPLE_SYNTH + ["prod"], ["flows lists GhostFlow", "flowstacks_config.py: flows"],
         {"a_flow.py": flow(), "flowstacks_config.py": config("CONFIG = ProjectConfig(flows=['GhostFlow'])")}),
    Case("config-lists-helper-as-flow", EXAMPLE_SYNTH + ["prod"], ["flows lists helpers", "flowstacks_config.py: flows"],
         {"a_flow.py": flow(), "helpers.py": "class Thing:\n    pass\n",
          "flowstacks_config.py": config("CONFIG = ProjectConfig(flows=['helpers'])")}),
    Case("config-unknown-orchestrator", EXAMPLE_SYNTH + ["prod"], ["OrchestratorChoice.prod", "flowstacks_config.py"],
         {"a_flow.py": flow(), "flowstacks_config.py": config(
             "CONFIG = ProjectConfig(orchestrators=OrchestratorChoice(prod='lambda'))")}),
    Case("config-user-stack", EXAMPLE_SYNTH + ["prod"], ["StackSpec.name", "need no entry in the matrix"],
         {"a_flow.py": flow(), "flowstacks_config.py": config(
             "CONFIG = ProjectConfig(stacks=[StackSpec(name='user.bob')])")}),
    Case("config-account", EXAMPLE_SYNTH + ["prod"], ["Aws.account_id", "12 digits"],
         {"a_flow.py": flow(), "flowstacks_config.py": config("CONFIG = ProjectConfig(aws=Aws(account_id='42'))")}),
    # issue 16: a table name only with the opt-in to share it
    Case("config-shared-table-without-opt-in", EXAMPLE_SYNTH + ["prod"],
         ["platform.dynamodb_table ('team-table')", "dynamodb_table_layout='shared'",
          "flowstacks_config.py"],
         {"a_flow.py": flow(), "flowstacks_config.py": config(
             "CONFIG = ProjectConfig(platform=Platform(dynamodb_table='team-table'))")}),
    Case("config-no-CONFIG", EXAMPLE_SYNTH + ["prod"], ["defines no CONFIG = ProjectConfig(...)"],
         {"a_flow.py": flow(), "flowstacks_config.py": "X = 1\n"}),
    Case("config-raises", EXAMPLE_SYNTH + ["prod"], ["importing the config failed", "KeyError"],
         {"a_flow.py": flow(), "flowstacks_config.py": "{}['missing']\n"}),
    Case("config-file-missing", EXAMPLE_SYNTH + ["prod"], ["could not be read for 'settings'"],
         {"cfg_flow.py": flow(imports=", Config").replace(
             "    @step\n    def start", "    settings = Config('settings', default='nope.json')\n\n    @step\n    def start")}),
    Case("config-file-not-json", EXAMPLE_SYNTH + ["prod"], ["configuration value for 'settings' is not valid", "bad.json"],
         {"bad.json": "{not json", "cfg_flow.py": flow(imports=", Config").replace(
             "    @step\n    def start", "    settings = Config('settings', default='bad.json')\n\n    @step\n    def start")}),
    Case("config-for-undeclared-config", EXAMPLE_SYNTH + ["prod"], ["declares no Config", "flow_configs.ZeroFlow"],
         {"a_flow.py": flow(), "flowstacks_config.py": config(
             "CONFIG = ProjectConfig(stacks=[StackSpec(name='prod', flow_configs={'ZeroFlow': {'x': 'x.json'}})])")}),
    # --- names ---
    Case("names-missing-file", ["names", "nope_flow.py"], ["no such flow file", "nope_flow.py"]),
    Case("names-bad-config-option", ["names", "flowspecs/project_flow.py", "--config", "oops"], ["is not NAME=FILE"]),
    Case("names-unknown-user", ["names", "flowspecs/project_flow.py"], ["Unknown user"], env={"USER": "root"}),
    Case("names-bad-production-env", ["names", "flowspecs/project_flow.py"],
         ["maybe is not a valid boolean", "METAFLOW_FLOW_PRODUCTION"], env={"METAFLOW_FLOW_PRODUCTION": "maybe"}),
    Case("names-bad-branch", ["names", "flowspecs/project_flow.py", "--branch", "Feat"], ["lowercase alphanumeric"]),
    # --- check, diff, token ---
    Case("plan-not-manifest", ["check", "--plan", "flowspecs/project_flow.py"], ["not JSON", "project_flow.py"]),
    Case("plan-wrong-shape", ["check", "--plan", "stacks_list.json"], ["not a flowstacks manifest"],
         None),
    Case("plan-missing", ["check", "--plan", "nope.json"], ["no such manifest"]),
    Case("check-bad-level", ["check", "--plan", "x.json", "--level", "nope=strict"], ["is not RULE=", "--level"]),
    Case("diff-bad-stack", ["diff", "prod", "Test"], ["'Test' is not a Metaflow namespace"]),
    Case("diff-bad-format", ["diff", "prod", "prod", "--format", "html"], ["unknown format 'html'"]),
    Case("token-bad-stack", ["token", "rotate", "--stack", "prod.B"], ["lowercase alphanumeric"]),
]


def _setup(case: Case, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    if case.files is None:
        shutil.copytree(REPO / "flowspecs", root / "flowspecs")
        shutil.copytree(REPO / "stacks", root / "stacks")
        (root / "stacks_list.json").write_text('[{"stack": "prod"}]')
    else:
        root.mkdir()
        if case.files:
            (root / "flowspecs").mkdir()
        for name, text in case.files.items():
            (root / "flowspecs" / name).write_text(text)
    return root


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys, monkeypatch) -> None:
    root = _setup(case, tmp_path)
    before = _tree(root)
    monkeypatch.chdir(root)
    env = {"USER": "alice", "METAFLOW_HOME": str(tmp_path / "mfhome"), **case.env}
    for key in ("METAFLOW_USER", "SUDO_USER", "USERNAME", "METAFLOW_FLOW_BRANCH",
                "METAFLOW_FLOW_PRODUCTION", "METAFLOW_OWNER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main([*case.argv, "--project-dir", str(root)] if case.argv[0] != "names" else
                [*case.argv, "--project-dir", str(root)])
    out = capsys.readouterr()
    assert code == 1, f"exit {code}\nstdout: {out.out}\nstderr: {out.err}"
    for needle in case.needles:
        assert needle in out.err, f"{needle!r} not in stderr:\n{out.err}"
    assert "Traceback" not in out.err + out.out
    assert _tree(root) == before, "bad input must write nothing"


def test_catalog_size() -> None:
    assert len(CASES) >= 40


def test_unwritable_output_directory(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory permissions; a file where the folder should be fails for everyone
        out = tmp_path / "build"
        out.write_text("not a folder")
    else:
        out = tmp_path / "ro" / "build"
        out.parent.mkdir()
        out.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    proc = subprocess.run([sys.executable, "-m", "flowstacks.cli", "synth", "--quiet", "--stack", "prod",
                           "--orchestrator", "argo", "--out", str(out), "--project-dir", str(REPO)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    assert str(out) in proc.stderr and "cannot write" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("orchestrator", ["step-functions", "argo", "airflow"])
def test_synth_with_standard_input_closed_prints_nothing(orchestrator, tmp_path):
    """A CI runner may start the tool with no standard input. The process then hands fd 0 to
    whatever it opens first (an event loop's epoll), and event loops left open until shutdown
    printed "Exception ignored ... Invalid file descriptor" after a good synth."""
    proc = subprocess.run([sys.executable, "-m", "flowstacks.cli", "synth", "--quiet", "--stack", "prod",
                           "--orchestrator", orchestrator, "--out", str(tmp_path / "build"),
                           "--project-dir", str(REPO)],
                          capture_output=True, text=True, check=False, cwd=REPO,
                          preexec_fn=lambda: os.close(0))
    assert proc.returncode == 0, proc.stderr
    # nothing but the one note that the example project uses example values (test_placeholders)
    lines = proc.stderr.splitlines()
    assert len(lines) <= 1 and all(line.startswith("note: the output uses example values")
                                   for line in lines), proc.stderr
    assert (tmp_path / "build" / "prod").is_dir()
