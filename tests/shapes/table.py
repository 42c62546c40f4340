"""The decorator x graph-shape table: every flow of ``tests/shapes/flows`` x every backend, run
through Metaflow 2.19.39's own deployer (the oracle, offline against a local moto server) and
through flowstacks, with the result of each side and the fields compared.

A *cell* is one flow on one backend. Its verdict:

- ``honoured``: both accept and every compared field agrees (modulo each backend's documented
  kept differences: tests/{argo,sfn,airflow}/DIFFERENCES.md);
- ``refused as Metaflow refuses``: both refuse, and flowstacks' message contains Metaflow's;
- ``extension``: Metaflow refuses, flowstacks deploys it on purpose (listed in ``EXTENSIONS``);
- ``refused before deploy``: Metaflow accepts a deployment that cannot run, flowstacks refuses it
  (listed in ``CANNOT_RUN``);
- ``disagreement``: anything else. Every disagreement must be listed in ``KNOWN_DISAGREEMENTS``
  with who fixes it, and every listed one must still disagree (the test fails both ways, so a fix
  flips its entry instead of passing silently).

Nothing here is hand-written per cell: rows come from the corpus (each flow's docstring names
its row), verdicts from running both sides. ``docs/decorators.md`` is generated from the cells.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "flows"
BACKENDS = ("step-functions", "argo", "airflow")
STACK = "user.alice"  # Metaflow: no --branch/--production, USER=alice
PROJECT = "shapes"  # the corpus flows' @project
USER = "alice"
TEST_ID = "tests/shapes/test_decorator_table.py::test_cell[{stem}-{backend}]"

HONOURED = "honoured"
REFUSED_ALIKE = "refused as Metaflow refuses"
EXTENSION = "extension"
CANNOT_RUN_VERDICT = "refused before deploy"
DISAGREEMENT = "disagreement"

# Metaflow refuses, flowstacks deploys on purpose (DESIGN §3), with Metaflow's semantics.
EXTENSIONS: dict[tuple[str, str], str] = {
    ("trigger", "step-functions"): "EventBridge rule for @trigger (Metaflow: Argo only)",
    ("trigger_params", "step-functions"): "EventBridge rule for @trigger (Metaflow: Argo only)",
    ("trigger_on_finish", "step-functions"): "EventBridge rule for @trigger_on_finish",
    ("trigger_on_finish_many", "step-functions"): "EventBridge rules for @trigger_on_finish",
    ("trigger_on_finish", "airflow"): "Airflow Assets for @trigger_on_finish",
    ("trigger_on_finish_many", "airflow"): "Airflow Assets for @trigger_on_finish",
}

# Metaflow accepts, but the deployment cannot run: flowstacks refuses before it exists.
SFN = "step-functions"
_K8S_ON_SFN = ("every Step Functions step runs as an AWS Batch job: Metaflow deploys a @kubernetes "
               "step there and the task fails at run time ('marked for execution both on AWS "
               "Batch and Kubernetes')")
CANNOT_RUN: dict[tuple[str, str], str] = {
    (k, SFN): _K8S_ON_SFN for k in (
        "kubernetes", "kubernetes_gpu", "kubernetes_image", "kubernetes_labels",
        "kubernetes_namespace", "kubernetes_node_selector", "kubernetes_pvc", "kubernetes_secrets",
        "kubernetes_service_account", "kubernetes_shm", "kubernetes_tmpfs",
        "kubernetes_tmpfs_path", "kubernetes_tolerations")}

# Cells where flowstacks and Metaflow disagree today, each with who fixes it. The test fails if
# a listed cell agrees (remove it here) or an unlisted one disagrees.
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {}


@dataclass
class Side:
    """What one deployer did with one flow on one backend."""

    accepted: bool
    message: str = ""


@dataclass
class Cell:
    stem: str
    backend: str
    metaflow: Side
    flowstacks: Side
    points: int = 0
    equal: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.stem, self.backend)

    @property
    def message_matches(self) -> bool:
        want = _norm(self.metaflow.message)
        return bool(want) and want in _norm(self.flowstacks.message)

    @property
    def verdict(self) -> str:
        mf, fs = self.metaflow.accepted, self.flowstacks.accepted
        if mf and fs:
            return HONOURED if not self.differences else DISAGREEMENT
        if not mf and not fs:
            return REFUSED_ALIKE if self.message_matches else DISAGREEMENT
        if fs and self.key in EXTENSIONS:
            return EXTENSION
        if mf and self.key in CANNOT_RUN:
            return CANNOT_RUN_VERDICT
        return DISAGREEMENT


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("*", "")).strip()


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*_flow.py"))


def stem(path: Path) -> str:
    return path.name[: -len("_flow.py")]


def flow_class(path: Path) -> str:
    found = re.search(r"^class (\w+)\(FlowSpec\)", path.read_text(), re.M)
    assert found, f"{path} defines no FlowSpec"
    return found.group(1)


def row_label(path: Path) -> tuple[str, str]:
    """(kind, label) from the flow's docstring: ``Shape: ...`` or ``Decorator: ...``."""
    first = re.search(r'"""(.*?)(?:\n|""")', path.read_text(), re.S).group(1).strip().rstrip(".")
    kind, _, label = first.partition(": ")
    return (kind, label) if label else ("Decorator", first)


# -- Metaflow's side -----------------------------------------------------------------------
def metaflow_message(stderr: str) -> str:
    """The text of Metaflow's error: the lines after the last ``    Headline:`` line."""
    lines = [ln.rstrip() for ln in (stderr or "").splitlines()]
    heads = [i for i, ln in enumerate(lines)
             if re.match(r"^    \S.*:$", ln) and i + 1 < len(lines) and lines[i + 1].strip()]
    if not heads:
        return _norm(" ".join(ln for ln in lines[-3:] if ln.strip()))
    body = []
    for ln in lines[heads[-1] + 1:]:
        if not ln.strip():
            break
        body.append(ln.strip())
    return _norm(" ".join(body))


def run_metaflow(oracle: Any, path: Path, backend: str) -> tuple[Side, Any]:
    from tests.oracle.harness import DEPLOY_ENV, OracleError
    from tests.oracle.platform import namespace_root_env, namespace_table_env

    # Metaflow's deployer with the namespace's own datastore root (issue 16), as flowstacks
    # gives the stack: flowstacks adds the branch to the class root itself; and the stack's own
    # foreach-state table (every corpus flow is @project(name="shapes"))
    root = namespace_root_env(STACK, DEPLOY_ENV)
    if backend == "step-functions":
        root = {**root, **namespace_table_env(PROJECT, STACK)}
    try:
        if backend == "argo":
            out = oracle.argo_compiled(path, user=USER, generate_new_token=True, extra_env=root)
        elif backend == "step-functions":
            out = oracle.sfn_json(path, user=USER, extra_env=root)
        else:
            out = oracle.airflow_dag(path, user=USER, extra_env=root)
    except OracleError as exc:
        return Side(False, metaflow_message(exc.stderr or str(exc))), None
    return Side(True), out


# -- flowstacks' side ----------------------------------------------------------------------
def project_for(path: Path, root: Path) -> Path:
    """A zero-config project holding this one flow (and the corpus' data files)."""
    flows = root / "flowspecs"
    flows.mkdir(parents=True)
    shutil.copy(path, flows / path.name)
    for data in CORPUS.iterdir():
        if data.suffix in (".txt", ".json"):
            shutil.copy(data, flows / data.name)
    return root


def _argo(ctx: Any, fd: Any, theirs: Any, home: Path) -> tuple[int, int, list[str]]:
    from flowstacks.load.code_package import CodePackage
    from flowstacks.render.argo import render_flow
    from tests.argo.oracle_compare import compare, oracle_context, oracle_package, param_file
    from tests.oracle.harness import DEPLOY_ENV
    from tests.oracle.platform import with_metaflow_platform

    template = theirs["workflow_template"] if theirs else None
    endpoint = "http://127.0.0.1:1"
    if template:
        endpoint = next(e["value"] for t in template["spec"]["templates"]
                        for e in (t.get("container") or {}).get("env") or []
                        if e["name"] == "METAFLOW_S3_ENDPOINT_URL")
    ctx = oracle_context(ctx, USER, dict(DEPLOY_ENV), endpoint)
    ctx = with_metaflow_platform(ctx, dict(DEPLOY_ENV), home)
    root = ctx.config.aws.datastore_root
    package = (oracle_package(template, fd, root) if template else
               CodePackage(sha="0" * 40, flow_name=fd.flow.name, datastore_root=root))
    objs = render_flow(ctx, fd, package, ctx.config.kubernetes.service_account)
    if not template:
        return 0, 0, []
    result = compare(objs.template, template, param_file(fd))
    if theirs["sensor"] or objs.sensor:
        result.add(compare(objs.sensor or {}, theirs["sensor"] or {}, ""))
    return result.points, result.equal, [f"{p}: flowstacks={a!r:.120} metaflow={b!r:.120}"
                                         for p, a, b in result.unexpected]


def _sfn(ctx: Any, fd: Any, theirs: Any, home: Path, endpoint: str) -> tuple[int, int, list[str]]:
    from tests.oracle.harness import DEPLOY_ENV
    from tests.oracle.platform import with_metaflow_platform
    from tests.sfn.helpers import env, oracle_context, render_resolved, tasks
    from tests.sfn.oracle_compare import compare

    ctx = with_metaflow_platform(oracle_context(ctx, endpoint), dict(DEPLOY_ENV), home)
    if theirs is None:
        render_resolved(ctx, fd.flow.name, "0" * 40, "s3://x/y")
        return 0, 0, []
    start = dict(env(dict(tasks(theirs))[theirs["StartAt"]]))
    ours = render_resolved(ctx, fd.flow.name, start["METAFLOW_CODE_SHA"], start["METAFLOW_CODE_URL"])
    result = compare(ours, theirs)
    return result.points, result.equal, [f"{p}: flowstacks={a!r:.120} metaflow={b!r:.120}"
                                         for p, a, b in result.unexplained]


def _airflow(ctx: Any, fd: Any, theirs: Any, home: Path, endpoint: str
             ) -> tuple[int, int, list[str]]:
    from flowstacks.render.airflow import dag_context
    from flowstacks.render.airflow.dag import render_dag
    from tests.airflow.metaflow_dag import metaflow_config
    from tests.airflow.oracle_compare import compare_dag
    from tests.oracle.harness import DEPLOY_ENV
    from tests.oracle.platform import with_metaflow_platform

    c = ctx.config
    config = c.model_copy(update={
        "aws": c.aws.model_copy(update={
            "datastore_root": DEPLOY_ENV["METAFLOW_DATASTORE_SYSROOT_S3"],
            "s3_endpoint_url": endpoint}),
        "airflow": c.airflow.model_copy(
            update={"namespace": DEPLOY_ENV["METAFLOW_KUBERNETES_NAMESPACE"]}),
        "kubernetes": c.kubernetes.model_copy(
            update={"service_account": DEPLOY_ENV["METAFLOW_KUBERNETES_SERVICE_ACCOUNT"]}),
    })
    ctx = with_metaflow_platform(ctx.model_copy(update={"config": config, "owner": USER}),
                                 dict(DEPLOY_ENV), home)
    if theirs is None:
        render_dag(dag_context(ctx, fd, "s3://x/y", "0" * 40))
        return 0, 0, []
    cfg = metaflow_config(theirs)
    env = {e["name"]: e["value"]
           for e in next(iter(cfg["states"].values()))["operator_args"]["env_vars"]}
    mine = dag_context(ctx, fd, env["METAFLOW_CODE_URL"], env["METAFLOW_CODE_SHA"])
    render_dag(mine)
    result = compare_dag(mine, cfg, fd.flow.name, frozenset(c.name for c in fd.flow.configs))
    return (len(result.points), result.count("equal"),
            [f"{p}: {d:.250}" for p, s, d in result.points if s == "differ"])


def run_flowstacks(path: Path, backend: str, theirs: Any, work: Path, home: Path,
                   endpoint: str) -> tuple[Side, int, int, list[str]]:
    """Load the flow as a zero-config project, render it for ``backend`` with the oracle's
    settings, and compare with what Metaflow rendered (when it did)."""
    from flowstacks.errors import FlowstacksError
    from flowstacks.load.project import ProjectDir

    from tests.oracle.harness import DEPLOY_ENV

    root = project_for(path, work)
    try:
        # the oracle's datastore root from the start, as Metaflow's deployer has it: what the
        # loader derives from it (the IncludeFile descriptor's URL) must not keep the
        # zero-config default the render settings below replace
        ctx = ProjectDir(root, backend, environ={
            "USER": USER, "HOME": str(home),
            "METAFLOW_DATASTORE_SYSROOT_S3": DEPLOY_ENV["METAFLOW_DATASTORE_SYSROOT_S3"]},
        ).stack_context(STACK)
        fd = ctx.flows[0]
        if backend == "argo":
            points, equal, diffs = _argo(ctx, fd, theirs, home)
        elif backend == "step-functions":
            points, equal, diffs = _sfn(ctx, fd, theirs, home, endpoint)
        else:
            points, equal, diffs = _airflow(ctx, fd, theirs, home, endpoint)
    except FlowstacksError as exc:
        text = exc.message if not getattr(exc, "hint", None) else f"{exc.message} (hint: {exc.hint})"
        return Side(False, _norm(text)), 0, 0, []
    return Side(True), points, equal, diffs


def run_cell(oracle: Any, path: Path, backend: str, work: Path, home: Path) -> Cell:
    mf, theirs = run_metaflow(oracle, path, backend)
    fs, points, equal, diffs = run_flowstacks(path, backend, theirs, work, home, oracle.endpoint)
    return Cell(stem(path), backend, mf, fs, points, equal, diffs)


# -- the document --------------------------------------------------------------------------
SYMBOL = {HONOURED: "= honoured", REFUSED_ALIKE: "refused alike", EXTENSION: "+ extension",
          CANNOT_RUN_VERDICT: "refused (cannot run)", DISAGREEMENT: "**differs**"}


def _side(side: Side) -> str:
    return "accepts" if side.accepted else f"refuses: {side.message}"


def _cell_text(cell: Cell) -> str:
    if cell.points:
        return f"{SYMBOL[cell.verdict]} ({cell.equal}/{cell.points})"
    return SYMBOL[cell.verdict]


def counts(cells: list[Cell]) -> dict[str, int]:
    out = {"cells": len(cells), HONOURED: 0, REFUSED_ALIKE: 0, EXTENSION: 0,
           CANNOT_RUN_VERDICT: 0, DISAGREEMENT: 0}
    for c in cells:
        out[c.verdict] += 1
    out["points compared"] = sum(c.points for c in cells)
    out["points equal"] = sum(c.equal for c in cells)
    return out


def document(cells: list[Cell]) -> str:
    """docs/decorators.md, generated from the cells (never edited by hand)."""
    by_row: dict[str, dict[str, Cell]] = {}
    for c in cells:
        by_row.setdefault(c.stem, {})[c.backend] = c
    n = counts(cells)
    out = [
        "# Decorators and graph shapes x backends",
        "",
        "Generated by `UPDATE_DECORATORS_DOC=1 pytest tests/shapes/test_decorator_table.py` "
        "(do not edit by hand). Each row is one flow of `tests/shapes/flows/`, deployed to the "
        f"`{STACK}` namespace by Metaflow 2.19.39's own deployer (`step-functions create "
        "--only-json`, `argo-workflows create --only-json`, `airflow create`, offline against a "
        "local moto server) and by flowstacks (zero-config project, rendered with the same "
        "settings). The test of each cell is `" + TEST_ID.format(stem="<row>", backend="<backend>")
        + "`.",
        "",
        "Verdicts: *honoured* (both accept; fields compared equal / compared, kept differences "
        "of tests/*/DIFFERENCES.md aside), *refused alike* (both refuse, flowstacks' message "
        "contains Metaflow's), *extension* (flowstacks deploys what Metaflow refuses, on "
        "purpose), *refused (cannot run)* (Metaflow accepts a deployment that cannot run), "
        "**differs** (a known disagreement, listed with its owner below).",
        "",
        "## Counts",
        "",
        f"- cells: {n['cells']}",
        f"- honoured: {n[HONOURED]}",
        f"- refused as Metaflow refuses: {n[REFUSED_ALIKE]}",
        f"- extensions: {n[EXTENSION]}",
        f"- refused before deploy (cannot run): {n[CANNOT_RUN_VERDICT]}",
        f"- known disagreements: {n[DISAGREEMENT]}",
        f"- fields compared: {n['points compared']}, equal: {n['points equal']}",
        "",
        "## Table",
        "",
        "| row | kind | " + " | ".join(BACKENDS) + " |",
        "|---|---|" + "---|" * len(BACKENDS),
    ]
    paths = {stem(p): p for p in corpus()}
    for key in sorted(by_row, key=lambda s: (row_label(paths[s])[0] != "Shape", s)):
        kind, label = row_label(paths[key])
        row = by_row[key]
        out.append(f"| `{key}`: {label} | {kind.lower()} | "
                   + " | ".join(_cell_text(row[b]) if b in row else "" for b in BACKENDS) + " |")
    out += ["", "## What each side did", ""]
    for key in sorted(by_row):
        kind, label = row_label(paths[key])
        out.append(f"### `{key}` ({label}; `tests/shapes/flows/{key}_flow.py`)")
        out.append("")
        for b in BACKENDS:
            if b not in by_row[key]:
                continue
            c = by_row[key][b]
            out.append(f"- **{b}**: Metaflow {_side(c.metaflow)}; flowstacks {_side(c.flowstacks)}"
                       f"; verdict: {c.verdict}"
                       + (f" ({c.equal}/{c.points} fields equal)" if c.points else ""))
            why = EXTENSIONS.get(c.key) or CANNOT_RUN.get(c.key) or KNOWN_DISAGREEMENTS.get(c.key)
            if why:
                out.append(f"  - note: {why}")
            for d in c.differences[:3]:
                out.append(f"  - differs: `{d}`")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
