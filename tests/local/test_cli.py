"""``flowstacks run-local``'s command line: options, user errors (exit 1, no traceback), exit code
from the runs (0 only if every run succeeded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("moto")

from flowstacks.cli import main  # noqa: E402
from flowstacks.local import cli as local_cli  # noqa: E402
from flowstacks.local.deployment import Deployment  # noqa: E402
from flowstacks.local.run import LocalRun  # noqa: E402
from flowstacks.local.sfn_run import Execution  # noqa: E402
from tests.conftest import REPO  # noqa: E402


def _fake_run(statuses: list[str]):
    def fake(project_dir, stack, orchestrator, flows, params, reporter, timeout, keep):
        dep = Deployment(stack=stack, project="p", folder=Path("."), outputs={}, resources=[])
        run = LocalRun(deployments=[dep])
        run.executions = [Execution(stack=stack, flow=f"F{i}", arn=f"a{i}", name=f"n{i}", machine_arn="m",
                                    started_by="run-local", status=s) for i, s in enumerate(statuses)]
        fake.called = dict(stack=stack, orchestrator=orchestrator, flows=flows, params=params, timeout=timeout)
        return run
    return fake


@pytest.mark.parametrize("statuses, code", [(["SUCCEEDED", "SUCCEEDED"], 0), (["SUCCEEDED", "FAILED"], 1),
                                            ([], 1), (["TIMED_OUT"], 1)])
def test_exit_code_is_0_only_if_every_run_succeeded(monkeypatch, statuses, code):
    fake = _fake_run(statuses)
    monkeypatch.setattr("flowstacks.local.run.run_local", lambda *a, **k: fake(*a, **k))
    assert main(["run-local", "--stack", "prod", "--flow", "TrainFlow", "--param", "epochs=2",
                 "--param", "name=x", "--timeout", "60", "--project-dir", str(REPO)]) == code
    assert fake.called == {"stack": "prod", "orchestrator": None, "flows": ["TrainFlow"],
                           "params": {"epochs": 2, "name": "x"}, "timeout": 60.0}


def test_bad_param_and_argo_are_user_errors(capsys):
    assert main(["run-local", "--stack", "prod", "--param", "epochs", "--project-dir", str(REPO)]) == 1
    assert "--param" in capsys.readouterr().err
    assert main(["run-local", "--stack", "prod", "--orchestrator", "argo", "--project-dir", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert "cannot execute 'argo'" in err and "Traceback" not in err


def test_a_stack_on_another_orchestrator_is_named(tmp_path):
    """prod.staging deploys to Argo in the example config: said before anything starts."""
    done = subprocess.run([sys.executable, "-m", "flowstacks", "run-local", "--stack", "prod.staging",
                           "--project-dir", str(REPO)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "prod.staging deploys to argo" in done.stderr and "--orchestrator step-functions" in done.stderr


def test_help_lists_the_options():
    done = subprocess.run([sys.executable, "-m", "flowstacks", "run-local", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    for option in ("--stack", "--orchestrator", "--flow", "--param", "--project-dir", "--keep"):
        assert option in done.stdout
    assert local_cli.main.__doc__


def test_a_failure_shows_the_failing_step_and_its_log_tail():
    """What the end of a failed run prints (the example project's runs all succeed now)."""
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from flowstacks.local.report import Reporter

    out = io.StringIO()
    reporter = Reporter(Console(file=out, width=200, highlight=False, color_system=None))
    ex = SimpleNamespace(pathspec="TrainFlow/sfn-1", error="States.TaskFailed", cause=None)
    task = SimpleNamespace(state="train")
    reporter.failure(ex, task, "Traceback (most recent call last):\nValueError: [bad] input")
    text = out.getvalue()
    assert "TrainFlow/sfn-1/train failed" in text and "States.TaskFailed" in text
    assert "ValueError: [bad] input" in text  # markup-like text printed as it is
