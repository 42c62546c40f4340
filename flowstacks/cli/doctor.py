"""``flowstacks doctor``: what a stack needs that it does not create, and where each platform
setting came from (registered on the app in :mod:`flowstacks.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def doctor(
    stack: Annotated[str, typer.Option("--stack", help="the stack to examine")],
    orchestrator: Annotated[Optional[str], typer.Option(
        "--orchestrator", help="step-functions, argo or airflow (default: the config's choice)")] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="ask AWS whether each prerequisite exists (read-only calls; exit 1 if "
                       "one is missing or wrong)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    project_dir: Annotated[Path, typer.Option(
        "--project-dir", help="the project's folder (its flows and flowstacks config)")] = Path("."),
) -> None:
    """List what must already exist for STACK (bucket, table and its schema, job queue, secrets,
    cluster namespace, Argo and Argo Events objects, Airflow connection), derived from what the
    stack deploys, and every platform setting with the place its value came from. Exit 1 when a
    setting would keep the deployment from working, or (--live) a prerequisite is missing."""
    from flowstacks.doctor.prereqs import prerequisites, problems, settings
    from flowstacks.render.serialize import canonical_json
    from flowstacks.load.project import ProjectDir
    from flowstacks.load.stackfiles import metaflow_user, token_index
    from flowstacks.synth.engine import synth_stack

    project = ProjectDir(project_dir, orchestrator)
    # the token in force and the recorded Metaflow user, as the program reads them
    ctx = project.stack_context(stack, token_index(project_dir, stack),
                                metaflow_user(project_dir, stack))
    items = prerequisites(ctx, synth_stack(project, stack).manifest())
    rows = settings(ctx)
    found = problems(ctx)
    findings = None
    if live:
        from flowstacks.doctor.live import check_all

        findings = check_all(items, ctx.config.aws.region)
    if as_json:
        report = _as_json(stack, ctx.orchestrator, rows, items, findings)
        typer.echo(canonical_json({**report, "problems": found}), nl=False)
    else:
        _print(stack, ctx.orchestrator, rows, items, findings)
        for problem in found:
            typer.echo(f"problem: {problem}", err=True)
    if found or (findings is not None and any(f.status in ("missing", "wrong") for f in findings)):
        raise typer.Exit(1)


def _as_json(stack: str, orchestrator: str, rows: list, items: list, findings: list | None
             ) -> dict[str, Any]:
    status = {id(f.prerequisite): f for f in findings or []}
    return {
        "stack": stack,
        "orchestrator": orchestrator,
        "settings": [{"setting": r.target, "value": r.value, "source": r.source} for r in rows],
        "prerequisites": [
            {"kind": p.kind, "name": p.name, "needs": p.needs, "used_by": list(p.used_by),
             "source": p.source, "platform_stack": p.platform_stack,
             **({"status": status[id(p)].status, "detail": status[id(p)].detail}
                if id(p) in status else {})}
            for p in items],
    }


def _print(stack: str, orchestrator: str, rows: list, items: list, findings: list | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160, soft_wrap=False)
    table = Table(title=f"{stack} ({orchestrator}): platform settings", title_justify="left")
    for col in ("setting", "value", "from"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.target, "-" if r.value is None else str(r.value), r.source)
    console.print(table)
    table = Table(title=f"{stack}: must exist before `pulumi up -s {stack}`", title_justify="left")
    columns = ["what", "name", "needs", "set in", "platform stack"]
    if findings is not None:
        columns.append("live")
    for col in columns:
        table.add_column(col, overflow="fold")
    status = {id(f.prerequisite): f for f in findings or []}
    for p in items:
        cells = [p.kind, p.name, p.needs, p.source, "can create" if p.platform_stack else ""]
        if findings is not None:
            f = status[id(p)]
            colour = {"ok": "green", "missing": "red", "wrong": "red"}.get(f.status, "yellow")
            cells.append(f"[{colour}]{f.status}[/{colour}]: {f.detail}")
        table.add_row(*cells)
    console.print(table)
    if findings is None:
        console.print("offline: nothing was checked; `flowstacks doctor --stack "
                      f"{stack} --live` asks AWS (Kubernetes, Argo and Airflow objects: check "
                      "them in the cluster)")
