"""The typer commands of ``flowstacks`` (all but ``names``, see :mod:`flowstacks.cli.names`); the
entry point and its exit codes are in :mod:`flowstacks.cli`. Heavy imports (pulumi, pulumi_aws)
happen inside the commands that need them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from flowstacks.errors import FlowstacksError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Metaflow @project deployments as Pulumi stacks: one stack per namespace.")
stack_app = typer.Typer(no_args_is_help=True, help="Developer stacks.")
app.add_typer(stack_app, name="stack")
stacks_app = typer.Typer(no_args_is_help=True, help="Stack files of the config's matrix.")
app.add_typer(stacks_app, name="stacks")
token_app = typer.Typer(no_args_is_help=True, help="Production tokens.")
app.add_typer(token_app, name="token")

ProjectDirOpt = Annotated[Path, typer.Option("--project-dir", help="folder that holds flowspecs/")]
OrchestratorOpt = Annotated[Optional[str], typer.Option(
    "--orchestrator", help="step-functions, argo or airflow (default: the config's choice)")]


def _err(text: str) -> None:
    typer.echo(text, err=True)


@app.command()
def synth(
    stack: Annotated[Optional[list[str]], typer.Option("--stack", help="stack to synthesize (repeatable)")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="every stack of the config's matrix")] = False,
    orchestrator: OrchestratorOpt = None,
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("build"),
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress, no summary")] = False,
    preview: Annotated[bool, typer.Option(
        "--preview", help="as a first `pulumi preview`: outputs of resources not created yet "
        "(ids, ARNs) are unknown (null in manifest.json)")] = False,
    jobs: Annotated[Optional[int], typer.Option(
        "--jobs", help="stacks synthesized at a time, each in a process of its own "
        "(default: the number of cores)")] = None,
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """Run the Pulumi program under Pulumi's mock engine and write OUT/<stack>/."""
    from flowstacks.deploy.platform_stack import PLATFORM_STACK, plan_platform
    from flowstacks.load.project import ProjectDir
    from flowstacks.synth.engine import synth as run_synth
    from flowstacks.synth.parallel import default_jobs

    if jobs is not None and jobs < 1:
        raise FlowstacksError(f"--jobs must be at least 1, not {jobs}", where="flowstacks synth")
    jobs = jobs or default_jobs()

    project = ProjectDir(project_dir, orchestrator)  # config and flows read once, for all stacks
    stacks = list(stack or [])
    if all_stacks:
        stacks += [s for s in project.stacks() if s not in stacks]
        if project.config.platform_stack and PLATFORM_STACK not in stacks:
            stacks.append(PLATFORM_STACK)
    if not stacks:
        raise FlowstacksError("name at least one --stack, or --all", where="flowstacks synth")
    for name in stacks:  # a bad stack name fails before any output
        if name == PLATFORM_STACK:
            plan_platform(project)
        else:
            project.namespace(name)
    project.default_flows  # noqa: B018 - read flows and config, before any output
    from flowstacks.load.platform import platform_warnings

    platforms = {name: project.stack_platform(name)[1] for name in stacks
                 if name != PLATFORM_STACK}
    orchestrators = {name: project.orchestrator(name) for name in platforms}
    for warning in platform_warnings(platforms, orchestrators):
        _err(f"warning: {warning}")  # also with --quiet: it is about the output, not progress
    from flowstacks.deploy.placeholders import find_placeholders, placeholder_note

    note = placeholder_note({name: find_placeholders(
        *project.stack_platform(name), project.orchestrator(name), project.config_file)
        for name in stacks if name != PLATFORM_STACK})
    if note:
        _err(note)  # one line, also with --quiet
    if quiet:
        run_synth(project, stacks, out, orchestrator, preview=preview, jobs=jobs)
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("synthesizing", total=len(stacks))
        results = run_synth(project, stacks, out, orchestrator,
                            on_stack=lambda s: progress.advance(task), preview=preview, jobs=jobs)
    for result in results:
        custom = sum(1 for r in result.resources if r.custom)
        console.print(f"[green]{result.stack}[/green]: {custom} resources, "
                      f"{len(result.artifacts)} artifacts -> {out / result.stack}")


@app.command()
def check(
    stack: Annotated[Optional[list[str]], typer.Option("--stack", help="synthesize and check this stack")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="every stack of the matrix")] = False,
    plan: Annotated[Optional[Path], typer.Option("--plan", help="a manifest.json from synth")] = None,
    orchestrator: OrchestratorOpt = None,
    level: Annotated[Optional[list[str]], typer.Option(
        "--level", help="RULE=mandatory|advisory|disabled (repeatable)")] = None,
    preview: Annotated[bool, typer.Option(
        "--preview", help="synthesize --stack/--all as a first `pulumi preview` (unknowns)")] = False,
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """Run the policy pack's rules offline; exit 1 on any mandatory violation."""
    from flowstacks.policy.check import check_manifest, load_manifest
    from flowstacks.policy.rules import RULES

    levels: dict[str, Any] = {}
    for item in level or []:
        rule, _, value = item.partition("=")
        if rule not in {r.name for r in RULES} or value not in ("mandatory", "advisory", "disabled"):
            raise FlowstacksError(f"'{item}' is not RULE=mandatory|advisory|disabled",
                                  where="--level", hint="rules: " + ", ".join(r.name for r in RULES))
        levels[rule] = value
    manifests = []
    if plan is not None:
        manifests.append(load_manifest(plan))
    stacks = list(stack or [])
    if all_stacks or stacks:
        from flowstacks.load.project import ProjectDir
        from flowstacks.synth.engine import synth_stack

        project = ProjectDir(project_dir, orchestrator)
        if all_stacks:
            stacks += [s for s in project.stacks() if s not in stacks]
        manifests += [synth_stack(project, s, orchestrator, preview=preview).manifest()
                      for s in stacks]
    if not manifests:
        raise FlowstacksError("name --stack, --all or --plan", where="flowstacks check")
    mandatory = 0
    for manifest in manifests:
        violations = check_manifest(manifest, levels)
        mandatory += sum(v.level == "mandatory" for v in violations)
        for v in violations:
            typer.echo(f"{manifest['stack']}: {v.render()}")
        typer.echo(f"{manifest['stack']}: {len(manifest['resources'])} resources checked, "
                   f"{len(violations)} violations")
    if mandatory:
        raise typer.Exit(1)


@app.command()
def diff(
    base: Annotated[str, typer.Argument(help="the stack to compare against, e.g. prod")],
    head: Annotated[Optional[str], typer.Argument(
        help="the stack under review, e.g. test.feature_x; omitted: BASE itself, a deployment "
             "review that needs --base-project-dir")] = None,
    orchestrator: OrchestratorOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="text or markdown")] = "text",
    base_project_dir: Annotated[Optional[Path], typer.Option(
        "--base-project-dir", help="take BASE from another checkout (e.g. of main, or what is "
                                   "deployed)")] = None,
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """What HEAD's stack changes compared with BASE's, per flow, namespace names normalised.
    With one stack (HEAD omitted or equal to BASE) and --base-project-dir: what `pulumi up`
    would do to each resource (create, update, replace, delete); exit 1 if it would replace or
    delete a protected resource."""
    from flowstacks.review.diff import diff_stacks, render_markdown, render_text
    from flowstacks.naming.stacks import parse_stack

    if fmt not in ("text", "markdown"):
        raise FlowstacksError(f"unknown format '{fmt}'", where="--format", hint="text or markdown")
    head = base if head is None else head
    parse_stack(base)
    parse_stack(head)
    if base == head and base_project_dir is None:
        raise FlowstacksError(
            f"comparing '{base}' with itself needs the deployed version of the project",
            where="flowstacks diff",
            hint=f"flowstacks diff {base} --base-project-dir <checkout of what is deployed>")
    result = diff_stacks(project_dir, base, head, orchestrator, base_project_dir)
    typer.echo(render_markdown(result) if fmt == "markdown" else render_text(result), nl=False)
    if result.plan is not None and result.plan.blocked:
        _err(f"flowstacks diff: `pulumi up -s {head}` would fail: "
             f"{len(result.plan.blocked)} change(s) replace or delete a protected resource "
             "(see BLOCKED above)")
        raise typer.Exit(1)


@app.command("run-local")
def run_local(
    stack: Annotated[str, typer.Option("--stack", help="the stack to deploy and run")],
    orchestrator: OrchestratorOpt = None,
    flow: Annotated[Optional[list[str]], typer.Option("--flow", help="run only this flow (repeatable)")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="NAME=VALUE (repeatable)")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds before runs are stopped")] = 1800,
    keep: Annotated[bool, typer.Option("--keep", help="keep the work folder (containers, logs)")] = False,
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """Deploy STACK into an emulated cloud on this machine and run its flows there; exit 1 unless
    every run succeeds (needs the "local" extra)."""
    from flowstacks.local.cli import main as run_local_main

    raise typer.Exit(run_local_main(project_dir, stack, orchestrator, flow, param, timeout, keep))


@stack_app.command("init")
def stack_init(
    write: Annotated[bool, typer.Option("--write", help="also write stacks/Pulumi.<stack>.yaml")] = False,
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """Print your own stack, user.<name>, with <name> resolved the way Metaflow resolves it (a name
    Pulumi would refuse gets a Pulumi-valid stack name; the Metaflow user is then recorded in the stack
    file, flowstacks:metaflowUser, so the namespace stays Metaflow's)."""
    import shlex

    from flowstacks.load.metaflow_env import read_metaflow_env
    from flowstacks.load.stackfiles import USER_KEY, edit_stack_file, stack_file
    from flowstacks.naming.project import resolve_username
    from flowstacks.naming.pulumi_stacks import developer_stack, needs_recorded_user

    mfenv = read_metaflow_env()
    user = resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config)
    owner = mfenv.env.get("METAFLOW_OWNER")
    metaflow_user = owner if owner is not None else user
    name = developer_stack(metaflow_user or "")
    quoted = shlex.quote(name)
    typer.echo(quoted)
    recorded = needs_recorded_user(metaflow_user or "")
    if recorded:
        _err(f"Metaflow namespace: user.{metaflow_user} (Pulumi stack names allow only [A-Za-z0-9_.-], "
             f"at most 100 characters; the stack file records {USER_KEY})")
    if write:
        target = stack_file(project_dir, name)
        if target.exists():
            raise FlowstacksError("already exists", where=str(target))
        edit_stack_file(project_dir, name, {USER_KEY: metaflow_user} if recorded else {})
        _err(f"wrote {target}; next: pulumi stack init {quoted} && pulumi up -s {quoted}")
    elif recorded:
        _err(f"next: flowstacks stack init --write (records the Metaflow user), then pulumi stack init {quoted}")
    else:
        _err(f"next: pulumi stack init {quoted} && pulumi preview -s {quoted}")


def _matrix(project: Any) -> list[str]:
    """The stacks that get a stack file: the matrix, and the platform stack when enabled."""
    from flowstacks.naming.stacks import PLATFORM_STACK

    return project.stacks() + ([PLATFORM_STACK] if project.config.platform_stack else [])


@stacks_app.command("sync")
def stacks_sync(project_dir: ProjectDirOpt = Path(".")) -> None:
    """Write stacks/Pulumi.<stack>.yaml for every namespace of the matrix; report stale ones."""
    from flowstacks.load.project import ProjectDir
    from flowstacks.load.stackfiles import sync

    report = sync(project_dir, _matrix(ProjectDir(project_dir)))
    for stack in report.written:
        typer.echo(f"wrote stacks/Pulumi.{stack}.yaml")
    for stack in report.unchanged:
        typer.echo(f"up to date: stacks/Pulumi.{stack}.yaml")
    for stack, command in zip(report.stale, report.destroy_commands()):
        typer.echo(f"stale: stacks/Pulumi.{stack}.yaml ('{stack}' left the matrix); destroy it "
                   f"with `{command}`, then delete the file")


@stacks_app.command("check")
def stacks_check(project_dir: ProjectDirOpt = Path(".")) -> None:
    """Exit 1 if a stack file is missing, out of date or stale."""
    from flowstacks.load.project import ProjectDir
    from flowstacks.load.stackfiles import check

    problems = check(project_dir, _matrix(ProjectDir(project_dir)))
    for problem in problems:
        _err(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("stack files match the matrix")


@token_app.command("rotate")
def token_rotate(
    stack: Annotated[str, typer.Option("--stack", help="the stack whose token moves on")],
    project_dir: ProjectDirOpt = Path("."),
) -> None:
    """Move STACK to the next production token, as Metaflow's --generate-new-token does, and
    record it in stacks/Pulumi.<stack>.yaml. Runs deployed afterwards land in the new namespace."""
    from flowstacks.naming.deployers import next_production_token, production_token
    from flowstacks.load.project import ProjectDir
    from flowstacks.load.stackfiles import metaflow_user, record_token_index, token_index

    ctx = ProjectDir(project_dir).stack_context(stack, token_index(project_dir, stack),
                                                metaflow_user(project_dir, stack))
    new = next_production_token(ctx.token_prefix, ctx.production_token)
    path = record_token_index(project_dir, stack, ctx.token_index + 1)
    assert new == production_token(ctx.token_prefix, ctx.token_index + 1)
    typer.echo(f"{stack}: production:{ctx.production_token} -> production:{new}")
    _err(f"recorded in {path}; `pulumi up -s {stack}` deploys with it; runs of the old token stay "
         f"in namespace('production:{ctx.production_token}')")


@app.command(add_help_option=False, context_settings={
    "allow_extra_args": True, "ignore_unknown_options": True})
def names(ctx: typer.Context) -> None:
    """What Metaflow would call FLOW_FILE: names, token, namespace, per deployer
    (flowstacks names --help)."""
    from flowstacks.cli.names import run

    raise typer.Exit(run(list(ctx.args)))


from flowstacks.cli import adopt as _adopt  # noqa: E402 - adoption commands live in their own module
from flowstacks.cli.doctor import doctor as _doctor  # noqa: E402

app.command("init")(_adopt.init)
app.command("doctor")(_doctor)
app.command("ls")(_adopt.ls)
stack_app.command("for-git-branch")(_adopt.for_git_branch)


def run_app(argv: list[str]) -> int:
    """Run the typer app; usage errors print their message and exit 1."""
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _err("Aborted.")
        return 1
    except typer.TyperException as exc:
        if not hasattr(exc, "show"):
            raise
        exc.show()
        return 1
    return code if isinstance(code, int) else 0

