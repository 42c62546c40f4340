"""``flowstacks init``: adopt flowstacks in an existing repository of Metaflow flows.

Finds the flows (any folder), then writes what a flowstacks repository holds: ``Pulumi.yaml`` (``main:
infra/``), the Pulumi program and policy pack entries under ``infra/``, a ``flowstacks_config.py`` filled
from the flows (project, flows, a prod stack), the stack files and, with ``ci="github"``, the GitHub
Actions workflows. Idempotent; files it did not write are never touched (:mod:`flowstacks.adopt.files`).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from flowstacks.adopt.discover import choose_flows_dir
from flowstacks.adopt.files import UNCHANGED, WROTE, FileAction, owned_pristine, write_owned
from flowstacks.errors import FlowstacksError
from flowstacks.load import flows as flow_reader
from flowstacks.load.project import CONFIG_FILE, ROOT_CONFIG_FILE, ProjectDir
from flowstacks.load.stackfiles import sync
from flowstacks.model.config import ORCHESTRATORS, OrchestratorChoice, ProjectConfig
from flowstacks.render.serialize import compact_json

CI_CHOICES = ("github",)
PYTHON_VERSION = "3.11"  # pyproject.toml: requires-python >=3.11,<3.12
# Every action pinned to a release commit, its tag in a comment (checked against each repository's tags).
ACTIONS = {
    "checkout": "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1  # v7.0.1",
    "setup_python": "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97  # v7.0.0",
    "aws": "aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c  # v6.2.3",
    "pulumi": "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d  # v7.0.0",
    "sticky_comment": "marocchino/sticky-pull-request-comment@5770ad5eb8f42dd2c4f34da00c94c5381e49af88  # v3.0.5",
}
WORKFLOWS = ("flowstacks-review.yml", "flowstacks-deploy.yml", "flowstacks-teardown.yml")
_GITHUB_REMOTE = re.compile(r"github\.com[:/]+([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def _environment() -> jinja2.Environment:
    # `{= =}` for values: workflows are full of `${{ }}` and shell scripts of `[[ ]]` and `${#x}`.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("flowstacks.adopt", "templates"),
        variable_start_string="{=", variable_end_string="=}", comment_start_string="{##",
        comment_end_string="##}", keep_trailing_newline=True, trim_blocks=True,
        undefined=jinja2.StrictUndefined, autoescape=False)


def render(template: str, **values: Any) -> str:
    """One template of ``flowstacks/adopt/templates`` (``py``: a Python literal of a string)."""
    env = _environment()
    env.filters["py"] = compact_json  # a JSON string is a Python string literal
    return env.get_template(template).render(**values)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        raise FlowstacksError(
            f"{dist} is not installed as a distribution", where="flowstacks init",
            hint="install flowstacks with pip (the generated files pin its version)") from None


def github_repo(root: Path) -> str | None:
    """``org/repo`` of the repository's GitHub remote ``origin``, if there is one."""
    try:
        url = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True,
                             text=True, timeout=30, check=False).stdout.strip()
    except OSError:
        return None
    match = _GITHUB_REMOTE.search(url)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def discover_project(root: Path, flows_dir: str) -> tuple[str, list[str]]:
    """The @project name the flows of ``flows_dir`` agree on, and their class names (read by Metaflow)."""
    flows = flow_reader.load_all(root, flow_dir=root / flows_dir)
    if not flows:
        raise FlowstacksError("no flows found", where=f"{flows_dir}/")
    for f in flows:
        if f.project is None or not f.project.name:
            raise FlowstacksError("has no @project decorator; flowstacks deploys @project flows "
                                  "(add @project(name=...))", where=f"{f.file} ({f.name})")
    names = sorted({f.project.name for f in flows if f.project and f.project.name})
    if len(names) > 1:
        raise FlowstacksError(f"flows belong to several projects: {', '.join(names)}", where=f"{flows_dir}/")
    return names[0], sorted(f.name for f in flows)


@dataclass
class InitReport:
    files: list[FileAction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    next_command: str = "flowstacks synth --all && flowstacks ls --all"

    def lines(self) -> list[str]:
        return ([f"{a.action}: {a.path}" for a in self.files] + [f"note: {n}" for n in self.notes]
                + [f"next: {self.next_command}"])


def _config_body(root: Path, flows_dir: str | None, orchestrator: str | None,
                 repo: str | None, previous: ProjectConfig | None) -> str:
    """The config init writes; a re-run keeps the folder and orchestrators of init's previous config
    unless they are given again."""
    flows_dir = choose_flows_dir(root, flows_dir or (previous.flows_dir if previous else None))
    project, flows = discover_project(root, flows_dir)
    if orchestrator:
        choice = OrchestratorChoice(
            user=orchestrator, test=orchestrator, prod=orchestrator)  # type: ignore[arg-type]
    else:
        choice = previous.orchestrators if previous else OrchestratorChoice()
    return render("flowstacks_config.py.j2", project=project, flows_dir=flows_dir, flows=flows,
                  orchestrators=choice, repo=repo,
                  subject=f"repo:{repo}:environment:{{stack}}" if repo else "")


def _write_config(root: Path, report: InitReport, flows_dir: str | None, orchestrator: str | None,
                  repo: str | None) -> None:
    if (root / CONFIG_FILE).is_file():
        report.files.append(FileAction(CONFIG_FILE, "kept (the project's config)"))
        return
    existing = root / ROOT_CONFIG_FILE
    previous = None
    if existing.is_file():
        if owned_pristine(existing.read_text(encoding="utf-8")) is not True:
            # the repository's own config (or init's, edited since): report it, write nothing
            report.files.append(write_owned(root, ROOT_CONFIG_FILE, ""))
            return
        previous = ProjectDir(root).config
    body = _config_body(root, flows_dir, orchestrator, repo, previous)
    report.files.append(write_owned(root, ROOT_CONFIG_FILE, body))


def _prod_stack(stacks: list[str]) -> str:
    if "prod" in stacks or not stacks:
        return "prod"
    return next((s for s in stacks if s.startswith("prod.")), stacks[0])


def run_init(root: Path, orchestrator: str | None = None, ci: str | None = None,
             flows_dir: str | None = None, repo: str | None = None,
             default_branch: str = "main") -> InitReport:
    """Adopt flowstacks in ``root``; returns what was written, updated or left alone."""
    root = Path(root)
    if orchestrator is not None and orchestrator not in ORCHESTRATORS:
        raise FlowstacksError(f"unknown orchestrator '{orchestrator}'", where="--orchestrator",
                              hint=f"one of {', '.join(ORCHESTRATORS)}")
    if ci is not None and ci not in CI_CHOICES:
        raise FlowstacksError(f"unknown CI '{ci}'", where="--ci", hint=f"one of {', '.join(CI_CHOICES)}")
    repo = repo or os.environ.get("GITHUB_REPOSITORY") or github_repo(root)
    report = InitReport()
    _write_config(root, report, flows_dir, orchestrator, repo)
    project = ProjectDir(root)
    values = {"project": project.project_name, "pulumi_project": project.project_name,
              "flowstacks_version": _version("flowstacks"), "pulumi_version": _version("pulumi"),
              "python_version": PYTHON_VERSION, "actions": ACTIONS, "default_branch": default_branch}
    for target, template in (("Pulumi.yaml", "Pulumi.yaml.j2"), ("infra/__main__.py", "infra_main.py.j2"),
                             ("infra/requirements.txt", "infra_requirements.txt.j2"),
                             ("infra/policypack/__main__.py", "policypack_main.py.j2"),
                             ("infra/policypack/PulumiPolicy.yaml", "PulumiPolicy.yaml.j2"),
                             ("infra/policypack/requirements.txt", "policypack_requirements.txt.j2")):
        report.files.append(write_owned(root, target, render(template, **values)))
    stacks = project.stacks()
    synced = sync(root, stacks)
    report.files += [FileAction(f"stacks/Pulumi.{s}.yaml", WROTE) for s in synced.written]
    report.files += [FileAction(f"stacks/Pulumi.{s}.yaml", UNCHANGED) for s in synced.unchanged]
    report.notes += [f"stacks/Pulumi.{s}.yaml: '{s}' is not in the matrix; {c}"
                     for s, c in zip(synced.stale, synced.destroy_commands())]
    if ci == "github":
        prod = _prod_stack(stacks)
        for name in WORKFLOWS:
            body = render(f"workflows/{name}.j2", base_stack=prod, prod_stack=prod, **values)
            report.files.append(write_owned(root, f".github/workflows/{name}", body))
        if not project.config.review_stacks:
            report.notes.append("the config does not accept review stacks: add review_stacks=True so "
                                "pull requests can preview test.<branch>")
    if not repo:
        report.notes.append("no GitHub remote found: set deployer=Deployer(subject_template="
                            "\"repo:<org>/<repo>:environment:{stack}\") in the config")
    return report
