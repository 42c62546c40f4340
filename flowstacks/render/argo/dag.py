"""The DAG templates of an Argo WorkflowTemplate, shaped as Metaflow 2.19.39 builds them.

Source: ``plugins/argo/argo_workflows.py`` ``_dag_templates``. One flat DAG for the flow (static
split branches are plain tasks with ``depends``); each foreach becomes a jump-off task
``<step>-foreach-<param>`` running a sub-DAG template once per split (``withParam`` over the
parent's ``num-splits``), followed by a join task fed by ``split-cardinality``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.model.flow import Flow, Step
from flowstacks.render.walk import walk

RUN_PATH = "argo-{{workflow.name}}/%s/{{tasks.%s.outputs.parameters.task-id}}"


def sanitize(name: str) -> str:
    """``ArgoWorkflows._sanitize``: Argo template names cannot hold ``_``; Metaflow step names
    cannot hold ``-``, so the swap stays unique."""
    return name.replace("_", "-")


def param(name: str, value: str | None = None) -> dict[str, Any]:
    return {"name": name} if value is None else {"name": name, "value": value}


def _common_prefix(items: list[str]) -> str:
    if not items:
        return ""
    lo, hi = min(items), max(items)
    n = 0
    while n < min(len(lo), len(hi)) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


def compress_list(items: list[str]) -> str:
    """``metaflow.util.compress_list`` without zlib (Metaflow disables it for input paths):
    ``a,b`` or ``<common prefix>:<suffix>,<suffix>``."""
    prefix = _common_prefix(items)
    if len(items) < 2 or not prefix:
        return ",".join(items)
    return prefix + ":" + ",".join(i[len(prefix):] for i in items)


@dataclass
class Dag:
    """One DAG template being built: its tasks, and whether it runs inside a foreach."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    nested: bool = False


class ArgoShapes:
    """:class:`flowstacks.render.walk.Shapes` for Argo: tasks into DAGs, foreach bodies into
    sub-DAG templates (collected in ``self.templates`` in Metaflow's order)."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self.steps = {s.name: s for s in flow.steps}
        self.templates: list[dict[str, Any]] = []
        self._done: set[str] = set()  # joins of foreaches, emitted by foreach()

    def workflow(self, start: Step) -> Dag:
        return Dag(nested=start.is_inside_foreach)

    def unsupported(self, step: Step) -> FlowstacksError:
        return FlowstacksError(
            f"step type '{step.type}' is not supported by the Argo backend yet",
            where=f"{self.flow.file} ({self.flow.name}.{step.name})")

    def _task(self, step: Step) -> dict[str, Any]:
        if step.is_inside_foreach and self.steps[step.in_funcs[0]].type == "foreach":
            # First step of a foreach body: no dependency inside its sub-DAG.
            return {"name": sanitize(step.name), "template": sanitize(step.name),
                    "arguments": {"parameters": [
                        param("input-paths", "{{inputs.parameters.input-paths}}"),
                        param("split-index", "{{inputs.parameters.split-index}}")]}}
        params = [param("input-paths", compress_list(
            [RUN_PATH % (n, sanitize(n)) for n in step.in_funcs]))]
        if step.is_inside_foreach and step.next and self.steps[step.next[0]].type == "join":
            join = self.steps[step.next[0]]
            if any(self.steps[p].matching_join == join.name and self.steps[p].type == "foreach"
                   for p in join.split_parents):
                params += [param("split-index", "{{inputs.parameters.split-index}}"),
                           param("root-input-path", "{{inputs.parameters.input-paths}}")]
        depends = " && ".join(f"{sanitize(n)}.Succeeded" for n in step.in_funcs)
        return {"name": sanitize(step.name), "depends": depends, "template": sanitize(step.name),
                "arguments": {"parameters": params}}

    def task(self, wf: Dag, step: Step, next_step: str | None) -> None:
        if step.name not in self._done:
            wf.tasks.append(self._task(step))

    def split(self, wf: Dag, step: Step, branches: list[Dag], join: Step) -> None:
        wf.tasks.append(self._task(step))
        for branch in branches:
            wf.tasks.extend(branch.tasks)

    def foreach(self, wf: Dag, step: Step, body: Dag, join: Step) -> None:
        if step.name not in self._done:
            wf.tasks.append(self._task(step))
        name = sanitize(f"{step.name}-foreach-{step.foreach_param}")
        parent_task = RUN_PATH % (step.name, sanitize(step.name))
        outputs_of = "{{tasks.%s.outputs.parameters.%%s}}" % sanitize(step.name)
        jump_params = [param("input-paths", parent_task), param("split-index", "{{item}}")]
        if wf.nested:
            jump_params.append(param("root-input-path", parent_task))
        wf.tasks.append({"name": name, "depends": f"{sanitize(step.name)}.Succeeded",
                         "template": name, "arguments": {"parameters": jump_params},
                         "withParam": outputs_of % "num-splits"})
        inputs = [param("input-paths"), param("split-index")]
        if wf.nested:
            inputs.append(param("root-input-path"))
        last = sanitize(join.in_funcs[0])
        self.templates.append({
            "name": name,
            "inputs": {"parameters": inputs},
            "outputs": {"parameters": [{"name": "task-id", "valueFrom": {
                "parameter": "{{tasks.%s.outputs.parameters.task-id}}" % last}}]},
            "dag": {"failFast": True, "tasks": body.tasks},
        })
        join_params = [param("input-paths", parent_task),
                       param("split-cardinality", outputs_of % "split-cardinality")]
        if wf.nested:
            join_params += [param("split-index", "{{inputs.parameters.split-index}}"),
                            param("root-input-path", "{{inputs.parameters.input-paths}}")]
        wf.tasks.append({"name": sanitize(join.name), "template": sanitize(join.name),
                         "depends": f"{name}.Succeeded", "arguments": {"parameters": join_params}})
        self._done.add(join.name)


def check_no_switch(flow: Flow) -> None:
    """Refuse switch steps before anything walks the graph (a recursive switch is a cycle)."""
    for step in flow.steps:
        if step.type == "split-switch" or step.switch_cases:
            raise FlowstacksError(
                "switch steps (self.next({...}, condition=...)) are not rendered by flowstacks' "
                "Argo backend yet: Metaflow 2.19.39 deploys them with `when:` conditions (and a "
                "recursive steps template for a step that loops on itself), which flowstacks "
                "does not reproduce exactly", where=f"{flow.file} ({flow.name}.{step.name})",
                hint="deploy this flow with Metaflow's own argo-workflows create for now")


def dag_templates(flow: Flow) -> list[dict[str, Any]]:
    """Foreach sub-DAG templates, then the flow's own DAG template (entrypoint = flow name)."""
    check_no_switch(flow)
    shapes = ArgoShapes(flow)
    top = walk(flow, shapes)
    return shapes.templates + [{"name": flow.name, "dag": {"failFast": True, "tasks": top.tasks}}]


def graph_structure(flow: Flow) -> list[Any]:
    """``FlowGraph.output_steps()[1]``: step names, with ``[[branch...], ...]`` after a split or
    foreach (the ``metaflow/dag`` annotation the Argo UI reads)."""
    steps = {s.name: s for s in flow.steps}
    end = next((s.name for s in flow.steps if s.type == "end"), "end")

    def block(start: str, stop: str) -> list[Any]:
        out: list[Any] = []
        cur: str | None = start
        while cur is not None and cur != stop:
            node = steps[cur]
            out.append(cur)
            if node.type in ("split", "foreach") or (len(node.next) > 1 and node.matching_join):
                out.append([block(n, node.matching_join) for n in node.next])
                cur = node.matching_join
            else:
                cur = node.next[0] if node.next else None
        return out

    start = flow.start.name
    return ([] if start == end else block(start, end)) + [end]
