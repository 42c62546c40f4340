"""The adoption commands: ``flowstacks init``, ``flowstacks ls`` and ``flowstacks stack for-git-branch``
(registered on the typer app in :mod:`flowstacks.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flowstacks.errors import FlowstacksError

ProjectDirOpt = Annotated[Path, typer.Option("--project-dir", help="the project's root folder")]


def init(
    orchestrator: Annotated[Optional[str], typer.Option(
        "--orchestrator", help="step-functions, argo or airflow for every namespace class "
                               "(default: argo for user and test, step-functions for prod)")] = None,
    ci: Annotated[Optional[str], typer.Option("--ci", help="also write CI workflows: github")] = None,
    flows_dir: Annotated[Optional[str], typer.Option(
        "--flows-dir", help="the folder of the flows (default: the one folder that has flows)")] = None,
    repo: Annotated[Optional[str], typer.Option(
        "--repo", help="GitHub ORG/REPO whose environments deploy (default: the origin remote)")] = None,
    default_branch: Annotated[str, typer.Option(
        "--default-branch", help="the branch that deploys prod")] = "main",
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """Adopt flowstacks in this repository of Metaflow flows: Pulumi.yaml, infra/, the config, the
    stack files (and with --ci github the workflows). Never overwrites a file it did not write."""
    from flowstacks.adopt.init import run_init

    report = run_init(project_dir, orchestrator, ci, flows_dir, repo, default_branch)
    for line in report.lines():
        typer.echo(line)


def ls(
    stack: Annotated[Optional[list[str]], typer.Option(
        "--stack", help="a stack, e.g. user.alice (repeatable)")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="every stack of the matrix (the default)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    orchestrator: Annotated[Optional[str], typer.Option(
        "--orchestrator", help="step-functions, argo or airflow (default: the config's choice)")] = None,
    base_project_dir: Annotated[Optional[Path], typer.Option(
        "--base-project-dir", help="also say whether each stack's deployment changed compared with "
                                   "this checkout (e.g. of main)")] = None,
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """What each stack deploys, offline: per flow the orchestrator object, schedule, triggers, the
    production token and the client snippet that finds its runs."""
    from flowstacks.adopt.listing import list_stacks, render_text
    from flowstacks.load.project import ProjectDir
    from flowstacks.render.serialize import canonical_json

    names = list(stack or [])
    if all_stacks or not names:
        names = ProjectDir(project_dir, orchestrator).stacks() + [s for s in names]
        names = list(dict.fromkeys(names))
    listing = list_stacks(project_dir, names, orchestrator, base_project_dir)
    if as_json:
        typer.echo(canonical_json(listing.as_json()), nl=False)
    else:
        typer.echo(render_text(listing), nl=False)


def for_git_branch(
    branch: Annotated[str, typer.Argument(help="a git branch, e.g. feature/Foo-bar")],
    production: Annotated[bool, typer.Option("--production", help="prod.<b> instead of test.<b>")] = False,
) -> None:
    """The stack of a git branch: test.<b>, <b> the Metaflow branch ([a-z0-9_]) it maps to (kept when
    already valid, else lower-cased, other characters as '_', plus 6 hash characters)."""
    from flowstacks.naming.git_branches import stack_for_git_branch

    if not branch:
        raise FlowstacksError("a git branch name is needed", where="flowstacks stack for-git-branch")
    typer.echo(stack_for_git_branch(branch, production))
