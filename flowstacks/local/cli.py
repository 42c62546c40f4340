"""The ``flowstacks run-local`` command's body (registered in :mod:`flowstacks.cli.app`)."""

from __future__ import annotations

from pathlib import Path

from flowstacks.errors import FlowstacksError


def main(project_dir: Path, stack: str, orchestrator: str | None, flows: list[str] | None,
         params: list[str] | None, timeout: float, keep: bool) -> int:
    """Run ``stack`` on this machine; 0 only if every run succeeded."""
    from flowstacks.local.report import Reporter
    from flowstacks.local.run import parse_params, run_local
    if orchestrator not in (None, "step-functions", "airflow"):
        raise FlowstacksError(f"run-local cannot execute '{orchestrator}'", where="--orchestrator",
                              hint="step-functions or airflow; Argo needs a cluster (see README)")
    reporter = Reporter()
    run = run_local(Path(project_dir), stack, orchestrator, flows or None, parse_params(params or []),
                    reporter=reporter, timeout=timeout, keep=keep)
    if keep and run.work:
        reporter.line(f"work folder kept: {run.work}")
    if not run.executions:
        reporter.line("[red]nothing ran[/red]")
    return 0 if run.ok else 1
