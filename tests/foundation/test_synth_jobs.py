"""``flowstacks synth --jobs N`` (issue 18): stacks in parallel processes, the same output byte for
byte as one process, all or nothing, and the errors of every stack reported together."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowstacks.errors import FlowstacksError
from flowstacks.synth import engine
from flowstacks.synth.engine import synth
from flowstacks.synth.parallel import StackCrashed, StacksFailed
from tests.conftest import REPO

FLOW = """
from metaflow import FlowSpec, project, schedule, step

@schedule(hourly=True)
@project(name='jobs')
class {name}(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""
STACKS = ["prod", "test.a", "test.b", "user.carol"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flowspecs").mkdir()
    for name in ("OneFlow", "TwoFlow"):
        (tmp_path / "flowspecs" / f"{name.lower()}.py").write_text(FLOW.format(name=name))
    return tmp_path


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def assert_same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert tree(a) == tree(b), (cmp.left_only, cmp.right_only, cmp.diff_files)


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator", ["step-functions", "argo", "airflow"])
def test_jobs_write_what_one_process_writes(project, tmp_path, orchestrator):
    one = synth(project, STACKS, tmp_path / "one", orchestrator, jobs=1)
    seen = []
    many = synth(project, STACKS, tmp_path / "many", orchestrator, jobs=3, on_stack=seen.append)
    assert_same_tree(tmp_path / "one", tmp_path / "many")
    assert sorted(tree(tmp_path / "one")) and sorted(seen) == sorted(STACKS)
    # the summaries come back in the order asked, as from one process
    assert [r.stack for r in many] == [r.stack for r in one] == STACKS
    # the same resources (their order in memory follows the registrations' completion; the
    # manifests, compared above byte for byte, are sorted)
    assert [sorted(x.name for x in r.resources) for r in many] == [
        sorted(x.name for x in r.resources) for r in one]
    assert [[a.path for a in r.artifacts] for r in many] == [[a.path for a in r.artifacts]
                                                            for r in one]


def failing(stacks: dict[str, BaseException]):
    """``synth_stack`` that raises for the given stacks (a forked child inherits the patch)."""
    real = engine.synth_stack

    def synth_stack(project, stack, orchestrator=None, artifact_dir=None, preview=False):
        result = real(project, stack, orchestrator, artifact_dir, preview=preview)
        if stack in stacks:
            raise stacks[stack]
        return result

    return synth_stack


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_a_failing_stack_leaves_nothing_written(project, tmp_path, monkeypatch, jobs):
    out = tmp_path / "build"
    (out / "prod").mkdir(parents=True)
    (out / "prod" / "old.txt").write_text("previous run")
    monkeypatch.setattr(engine, "synth_stack", failing(
        {"test.b": FlowstacksError("the name is too long", where="flowspecs/twoflow.py")}))
    with pytest.raises(FlowstacksError) as err:
        synth(project, STACKS, out, "argo", jobs=jobs)
    # one stack failed: its error as one process reports it
    assert err.value.render() == "Error: flowspecs/twoflow.py\n    the name is too long"
    assert tree(out) == {"prod/old.txt": b"previous run"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "flowspecs"]  # no staging


@pytest.mark.parametrize("jobs", [1, 2])
def test_errors_of_several_stacks_are_all_reported(project, tmp_path, monkeypatch, jobs):
    monkeypatch.setattr(engine, "synth_stack", failing({
        "user.carol": FlowstacksError("bad carol", where="stacks/Pulumi.user.carol.yaml"),
        "test.a": FlowstacksError("bad a", where="flowstacks_config.py", hint="fix a")}))
    with pytest.raises(StacksFailed) as err:
        synth(project, STACKS, tmp_path / "build", "step-functions",
              jobs=jobs)
    text = err.value.render()
    assert text.splitlines()[0] == "Error: 2 stacks failed, nothing was written"
    # in the order of the stacks asked, each under its name, as its own process rendered it
    assert text.index("stack test.a:") < text.index("stack user.carol:")
    assert "  Error: flowstacks_config.py\n      bad a\n      hint: fix a" in text
    assert "  Error: stacks/Pulumi.user.carol.yaml\n      bad carol" in text
    assert not (tmp_path / "build").exists()


def test_a_bug_in_a_child_is_reported_with_its_traceback(project, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "synth_stack", failing({
        "test.a": ZeroDivisionError("a bug"), "test.b": FlowstacksError("user error")}))
    with pytest.raises(StackCrashed) as err:
        synth(project, STACKS, tmp_path / "build", "airflow", jobs=2)
    assert "stack test.a failed:" in str(err.value)
    assert "ZeroDivisionError: a bug" in str(err.value) and "Traceback" in str(err.value)
    assert not (tmp_path / "build").exists()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowstacks.cli", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


def test_cli_jobs_option(project, tmp_path):
    bad = _cli("synth", "--all", "--jobs", "0", "--project-dir", str(project), cwd=tmp_path)
    assert bad.returncode == 1 and "--jobs must be at least 1" in bad.stderr
    assert "Traceback" not in bad.stderr
    args = ["synth", "--quiet", "--orchestrator", "argo", "--project-dir", str(project)]
    for stack in STACKS[:3]:
        args += ["--stack", stack]
    one = _cli(*args, "--jobs", "1", "--out", str(tmp_path / "one"), cwd=tmp_path)
    two = _cli(*args, "--out", str(tmp_path / "default"), cwd=tmp_path)  # default: the cores
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert_same_tree(tmp_path / "one", tmp_path / "default")


@pytest.mark.slow
def test_example_project_all_stacks_in_parallel_is_byte_identical(tmp_path):
    for jobs in ("1", "3"):
        proc = _cli("synth", "--all", "--quiet", "--jobs", jobs, "--out", str(tmp_path / jobs),
                    "--project-dir", str(REPO), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert_same_tree(tmp_path / "1", tmp_path / "3")


def test_one_process_per_job_and_the_parents_loop_still_works(project, tmp_path, monkeypatch):
    """4 stacks with --jobs 2: two processes, each taking the next stack when done (fewer
    processes: less memory counted again per process); a process that ran several stacks
    leaves the event loop it inherited alone, so the parent's next run does not wait for ever
    (closing it in the child unregistered the parent's wake-up pipe from the shared epoll)."""
    from flowstacks.synth import parallel

    real = parallel._child
    pids = tmp_path / "pids"
    pids.mkdir()

    def child(*args, **kwargs):
        (pids / str(os.getpid())).touch()
        real(*args, **kwargs)

    monkeypatch.setattr(parallel, "_child", child)
    many = synth(project, STACKS, tmp_path / "many", "argo", jobs=2)
    assert len(list(pids.iterdir())) == 2 and [r.stack for r in many] == STACKS
    one = synth(project, STACKS[:1], tmp_path / "one", "argo", jobs=1)  # hung before the fix
    assert [r.stack for r in one] == STACKS[:1]
    assert tree(tmp_path / "one" / "prod") == tree(tmp_path / "many" / "prod")
