"""What ``flowstacks run-local`` prints: each state and Batch job as it runs, then per run its
status, pathspec, how the Metaflow client finds it, and for a failure the failing step's log tail.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from flowstacks.local.sfn_run import Execution, TaskRun

STYLE = {"SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "red", "ABORTED": "yellow",
         "RUNNING": "cyan"}


def _short(ex: Execution) -> str:
    run_id = ex.run_id if ex.metaflow_run_id != "" else f"DAG {ex.machine_arn}"
    return f"[bold]{ex.flow}[/bold] [dim]{run_id}[/dim]"


class Reporter:
    """Prints to ``console`` (stderr by default) as the executions progress."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)

    def line(self, text: str) -> None:
        self.console.print(text)

    # -- Observer -------------------------------------------------------------------------------
    def execution_started(self, ex: Execution) -> None:
        self.line(f"[cyan]▶[/cyan] {_short(ex)} started by {escape(ex.started_by)}")

    def task_submitted(self, ex: Execution, task: TaskRun) -> None:
        if task.pod:
            index = f"[{task.map_index}]" if task.map_index is not None and task.map_index >= 0 else ""
            job = f"pod {task.pod}{index}"
        else:
            job = f"Batch job {task.job_id}" if task.job_id else task.resource
        self.line(f"  [dim]·[/dim] {ex.flow} [bold]{task.state}[/bold] → {job}")

    def task_finished(self, ex: Execution, task: TaskRun) -> None:
        if not task.job_id and task.status == "SUCCEEDED":
            self.line(f"  [dim]·[/dim] {ex.flow} {task.state} ({task.resource}) done")
            return
        mark = "[green]✓[/green]" if task.status == "SUCCEEDED" else "[red]✗[/red]"
        extra = f" [red]{escape(task.error or '')}[/red]" if task.status == "FAILED" else ""
        self.line(f"  {mark} {ex.flow} [bold]{task.state}[/bold] {task.seconds:.1f}s{extra}")

    def execution_finished(self, ex: Execution) -> None:
        style = STYLE.get(ex.status, "white")
        self.line(f"[{style}]■ {ex.flow} {ex.status}[/{style}] in {ex.seconds:.1f}s: {ex.pathspec}")

    # -- the end --------------------------------------------------------------------------------
    def failure(self, ex: Execution, task: TaskRun | None, tail: str) -> None:
        where = f"{ex.pathspec}/{task.state}" if task else ex.pathspec
        body = escape(tail or (ex.cause or "(no log)"))
        self.console.print(Panel(body, title=f"[red]{where} failed[/red] ({escape(ex.error or '')})",
                                 title_align="left", border_style="red"))

    def summary(self, executions: list[Execution], checks: dict[str, Any],
                namespaces: dict[str, str], refused: list[str]) -> None:
        table = Table(title="run-local", title_justify="left")
        for col in ("stack", "flow", "status", "started by", "time", "pathspec", "Metaflow client"):
            table.add_column(col, overflow="fold")
        for ex in executions:
            style = STYLE.get(ex.status, "white")
            table.add_row(ex.stack, ex.flow, f"[{style}]{ex.status}[/{style}]", escape(ex.started_by),
                          f"{ex.seconds:.0f}s", ex.pathspec, escape(client_verdict(checks.get(ex.pathspec))))
        self.console.print(table)
        if executions:
            self.line("Each run with the Metaflow client (in the deployed account): "
                      "[bold]from metaflow import Run, namespace[/bold]")
        for ex in executions:
            self.line(f"  namespace({namespaces.get(ex.stack, '')!r}); Run({ex.pathspec!r})")
        for request in refused:
            self.line(f"[yellow]a task tried to reach the network beyond loopback (refused):[/yellow] "
                      f"{escape(request)}")


def client_verdict(check: dict[str, Any] | None) -> str:
    """One cell: what the client saw of a run."""
    if not check:
        return "not checked"
    client = check.get("client")
    if client is None:
        return "no metadata service"
    if client.get("found"):
        return "found" + ("" if client.get("successful") else " (not successful)")
    return "NOT found: " + str(client.get("error", "")).split(":")[0]
