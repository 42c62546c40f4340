"""Shared helpers of the Argo tests: stack contexts of the example project, a fixed code package,
the Argo JSON schema per kind, and reference checks the schema cannot make."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from flowstacks.iam.irsa import service_account_name
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.load.code_package import CodePackage, build_code_package
from flowstacks.load.project import ProjectDir
from flowstacks.render.argo import ArgoObjects, render_flow
from tests.conftest import EXAMPLE, SHARED

SCHEMA = SHARED / "schemas" / "argo-workflows-schema.json"
# One stack per namespace kind of the example matrix (+ a developer's own).
STACKS = {"prod": "prod", "prod_branch": "prod.staging", "test": "test.feature_x",
          "user": "user.alice"}
GOLDEN_KINDS = {"prod": "prod", "test": "test.feature_x", "user": "user.alice"}

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@lru_cache(maxsize=None)
def context(stack: str) -> StackContext:
    return ProjectDir(EXAMPLE, "argo").stack_context(stack)


def fixed_package(fd: FlowDeployment, ctx: StackContext) -> CodePackage:
    """A package with stable content, so goldens do not move when the packager changes."""
    return build_code_package({f"{fd.flow.name}.py": b"# fixed\n"}, fd.flow.name,
                              ctx.config.aws.datastore_root)


def render(ctx: StackContext, fd: FlowDeployment) -> ArgoObjects:
    return render_flow(ctx, fd, fixed_package(fd, ctx), service_account_name(ctx))


def all_rendered() -> list[tuple[str, str, ArgoObjects]]:
    """(stack, flow, objects) for every flow of every example stack."""
    out = []
    for stack in STACKS.values():
        ctx = context(stack)
        for fd in ctx.flows:
            out.append((stack, fd.flow.name, render(ctx, fd)))
    return out


@lru_cache(maxsize=None)
def _definitions() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())["definitions"]


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Errors of ``doc`` against its own kind's definition (not the root oneOf; schemas/README)."""
    from jsonschema import Draft202012Validator

    schema = {"definitions": _definitions(),
              "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{doc['kind']}"}
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft202012Validator(schema).iter_errors(doc)]


def nulls(value: Any, path: str = "") -> list[str]:
    """Paths of every ``null`` in ``value`` (Argo 3.6+/4.x refuse them)."""
    if value is None:
        return [path or "<root>"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


# tasks['x'] / tasks.x. in a DAG task's when:, steps.x. in a steps template's
_TASK_REF = re.compile(r"tasks\['([^']+)'\]|tasks\.([A-Za-z0-9][-A-Za-z0-9]*)\.")
_STEP_REF = re.compile(r"steps\.([A-Za-z0-9][-A-Za-z0-9]*?)\.outputs")
_DEPENDS_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)\.(Succeeded|Failed|Errored|Skipped|Completed)")


def reference_problems(template: dict[str, Any]) -> list[str]:
    """What the schema cannot check: entrypoint, template references, ``depends`` names, cycles,
    DNS-1123 names, label values."""
    problems = []
    meta, spec = template["metadata"], template["spec"]
    if not DNS1123_SUBDOMAIN.match(meta["name"]) or len(meta["name"]) > 253:
        problems.append(f"name {meta['name']!r} is not DNS-1123")
    for labels in (meta.get("labels", {}), spec["workflowMetadata"]["labels"],
                   spec["podMetadata"]["labels"]):
        for k, v in labels.items():
            if not LABEL_VALUE.match(v) or len(v) > 63:
                problems.append(f"label {k}={v!r} is not a valid label value")
    names = [t["name"] for t in spec["templates"]]
    if len(set(names)) != len(names):
        problems.append("duplicate template names")
    if spec["entrypoint"] not in names:
        problems.append(f"entrypoint {spec['entrypoint']} is not a template")
    if spec.get("onExit") and spec["onExit"] not in names:
        problems.append(f"onExit {spec['onExit']} is not a template")
    for t in spec["templates"]:
        if not DNS1123_LABEL.match(t["name"].lower()):
            problems.append(f"template name {t['name']!r} is not DNS-1123")
        step_names = [st["name"] for group in t.get("steps", []) for st in group]
        for group in t.get("steps", []):
            for st in group:
                if st["template"] not in names:
                    problems.append(f"{t['name']}: step uses unknown template {st['template']}")
                for ref in _STEP_REF.findall(st.get("when", "")):
                    if ref not in step_names:
                        problems.append(f"{t['name']}.{st['name']}: when names unknown step {ref}")
        if "dag" not in t:
            continue
        tasks = {task["name"]: task for task in t["dag"]["tasks"]}
        graph: dict[str, set[str]] = {}
        for task in tasks.values():
            if task["template"] not in names:
                problems.append(f"{t['name']}.{task['name']}: unknown template {task['template']}")
            deps = set(m.group(1) for m in _DEPENDS_NAME.finditer(task.get("depends", "")))
            unknown = deps - set(tasks)
            if unknown:
                problems.append(f"{t['name']}.{task['name']}: depends on unknown {sorted(unknown)}")
            graph[task["name"]] = deps & set(tasks)
            for ref in _TASK_REF.findall(task.get("when", "")):
                name = ref[0] or ref[1]
                if name in tasks:
                    graph[task["name"]].add(name)
                else:
                    problems.append(f"{t['name']}.{task['name']}: when names unknown task {name}")
        if _has_cycle(graph):
            problems.append(f"{t['name']}: dependency cycle")
    return problems


def _has_cycle(graph: dict[str, set[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(n: str) -> bool:
        if state.get(n) == 1:
            return True
        if state.get(n) == 2:
            return False
        state[n] = 1
        if any(visit(m) for m in graph.get(n, ())):
            return True
        state[n] = 2
        return False

    return any(visit(n) for n in graph)


def container(template: dict[str, Any], step: str) -> dict[str, Any]:
    return next(t for t in template["spec"]["templates"] if t["name"] == step)


def env(template: dict[str, Any], step: str) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container(template, step)["container"]["env"]}


def command(template: dict[str, Any], step: str) -> str:
    return container(template, step)["container"]["command"][2]


def assert_argo_cell_agrees(tmp_path, path, refused: str, min_points: int) -> None:
    """``path`` through Metaflow's ``argo-workflows create`` and flowstacks, judged as a cell of
    the decorator table (tests/shapes/table.py): both accept with every compared field equal
    (more than ``min_points`` of them), or both refuse with Metaflow's message; only the flow
    file named ``refused`` is refused."""
    import pytest

    from tests.oracle.harness import oracle_available, shared_oracle
    from tests.shapes import table as t

    ok, why = oracle_available()
    if not ok:
        pytest.skip(why)
    pytest.importorskip("kubernetes", reason="argo-workflows create needs the kubernetes client")
    home = tmp_path / "home"
    home.mkdir()
    cell = t.run_cell(shared_oracle(), path, "argo", tmp_path / "work", home)
    assert cell.verdict in (t.HONOURED, t.REFUSED_ALIKE), (
        t._side(cell.metaflow), t._side(cell.flowstacks), cell.differences[:10])
    assert cell.metaflow.accepted is (path.name != refused)
    if cell.metaflow.accepted:
        assert cell.points > min_points and cell.differences == []
