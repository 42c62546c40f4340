"""The DAG templates of an Argo WorkflowTemplate, shaped as Metaflow 2.19.39 builds them.

Source: ``plugins/argo/argo_workflows.py`` ``_dag_templates``. One flat DAG for the flow (static
split branches are plain tasks with ``depends``); each foreach becomes a jump-off task
``<step>-foreach-<param>`` running a sub-DAG template once per split (``withParam`` over the
parent's ``num-splits``), followed by a join task fed by ``split-cardinality``. The cases of a
switch are tasks with a ``when:`` on the switch's ``switch-step`` output, and the steps after them
depend on any case having succeeded (:mod:`.switch` says which steps are conditional); a switch
that loops on itself becomes a steps template that calls itself (docs/metaflow-contract.md#argo-switch).
A ``num_parallel`` foreach's jump-off ``<step>-foreach-parallel`` runs the ``@parallel`` step's
JobSet once and hands the gang's size and entropy to the join (:mod:`.parallel`,
docs/metaflow-contract.md#argo-parallel).
"""

from __future__ import annotations

from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.model.flow import Flow, Step
from flowstacks.render.argo import parallel as gang
from flowstacks.render.argo.command import retries
from flowstacks.render.argo.switch import SWITCH, Conditionals

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


class ArgoDag:
    """Builds the DAG templates as ``ArgoWorkflows._dag_templates`` visits the graph: from the
    start step, each step once (``seen``), a (sub-)DAG ending where the visit reaches its exit
    step (a split's join, a switch's conditional join, a foreach's join). Foreach bodies and
    recursive switches add templates to ``self.templates`` in Metaflow's order.

    Argo does not use the shared :func:`flowstacks.render.walk.walk`: its DAG is flat (tasks
    with ``depends``/``when``), and a switch's cases may meet again at any step, which the
    walk's one-sub-workflow-per-branch model cannot express."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self.steps = {s.name: s for s in flow.steps}
        self.cond = Conditionals(flow)
        self.templates: list[dict[str, Any]] = []
        self.seen: list[str] = []

    def _where(self, step: Step) -> str:
        return f"{self.flow.file} ({self.flow.name}.{step.name})"

    def _step(self, name: str, parent: Step) -> Step:
        try:
            return self.steps[name]
        except KeyError:
            raise FlowstacksError(f"step {parent.name} goes to unknown step {name!r}",
                                  where=self._where(parent)) from None

    def visit(self, step: Step, exit_at: str | None, tasks: list[dict[str, Any]],
              nested: bool) -> list[dict[str, Any]]:
        if step.name == exit_at or step.name in self.seen:
            return tasks
        self.seen.append(step.name)
        parent = self.steps[step.in_funcs[0]] if step.in_funcs else None
        first_in_foreach = (step.is_inside_foreach and parent is not None
                            and parent.type == "foreach")
        if first_in_foreach and gang.is_parallel_foreach(parent):
            task, params = self._parallel_task(step)
        elif first_in_foreach:
            task, params = self._foreach_child(step)
        else:
            task, params = self._task(step)
        tasks.append(task)
        if step.type == "end":
            return tasks
        if step.type == "split":
            for name in step.next:
                self.visit(self._step(name, step), step.matching_join, tasks, nested)
            return self.visit(self._step(step.matching_join or "", step), exit_at, tasks, nested)
        if step.type == SWITCH:
            if self.cond.is_recursive(step.name):
                self.templates.append(self._recursive(step, params, first_in_foreach))
            join = self.cond.matching_join(step.name)
            for name in step.next:
                self.visit(self._step(name, step), join, tasks, nested)
            return self.visit(self._step(join, step), exit_at, tasks, nested)
        if step.type == "foreach":
            join = self._foreach(step, tasks, nested)
            return self.visit(self._step(join.next[0], join), exit_at, tasks, nested)
        if step.type in ("linear", "join", "start"):
            return self.visit(self._step(step.next[0], step), exit_at, tasks, nested)
        raise FlowstacksError(f"Node type *{step.type}* for step *{step.name}* is not currently "
                              "supported by Argo Workflows.", where=self._where(step))

    @staticmethod
    def _foreach_child(step: Step) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """First step of a foreach body: no dependency inside its sub-DAG."""
        params = [param("input-paths", "{{inputs.parameters.input-paths}}"),
                  param("split-index", "{{inputs.parameters.split-index}}")]
        return ({"name": sanitize(step.name), "template": sanitize(step.name),
                 "arguments": {"parameters": params}}, params)

    @staticmethod
    def _parallel_task(step: Step) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The ``@parallel`` step: the JobSet's resource template, fed everything through its
        inputs (a resource manifest can read nothing else); no dependency inside its sub-DAG."""
        params = gang.dag_task_parameters(retries(step)[1])
        return ({"name": sanitize(step.name), "template": sanitize(step.name),
                 "arguments": {"parameters": params}}, params)

    def _depends(self, step: Step) -> str:
        """Inputs that always run are all required; inputs behind a switch (a case may not
        have run) are alternatives."""
        cond = self.cond
        gated = [f"{sanitize(p)}.Succeeded" for p in step.in_funcs if cond.gated(p)]
        required = [f"{sanitize(p)}.Succeeded" for p in step.in_funcs if not cond.gated(p)]
        if cond.is_skip(step) or cond.all_inputs_conditional(step):
            gated, required = [f"{sanitize(p)}.Succeeded" for p in step.in_funcs], []
        if step.type == "join" and any(cond.is_conditional(p) for p in step.in_funcs):
            groups = self._join_groups(step)
            if groups:
                gated, required = [], groups
        both = bool(required and gated)
        wrap = "(%s)" if both else "%s"
        return (wrap % " && ".join(required) + (" && " if both else "")
                + wrap % " || ".join(gated))

    def _join_groups(self, step: Step) -> list[str]:
        """A static join some of whose branches hold switches: per split branch, the inputs
        grouped by the switches above them, most specific first, any one of a group enough."""
        by_branch: dict[str, list[str]] = {}
        ancestors: dict[str, frozenset[str]] = {}
        for p in step.in_funcs:
            parent = self.steps[p]
            if not parent.split_branches:
                continue
            ancestors[p] = frozenset(self.cond.switch_ancestors(p, step.split_parents[-1]))
            by_branch.setdefault(parent.split_branches[-1], []).append(p)
        out = []
        for members in by_branch.values():
            by_key: dict[frozenset[str], list[str]] = {}
            for p in members:
                by_key.setdefault(ancestors[p], []).append(p)
            chains: list[list[tuple[frozenset[str], list[str]]]] = []
            for key, group in sorted(by_key.items(), key=lambda kv: len(kv[0]), reverse=True):
                for chain in chains:
                    if key <= chain[0][0]:
                        chain.append((key, group))
                        break
                else:
                    chains.append([(key, group)])
            parts = ["(%s)" % " || ".join(
                "(%s)" % " || ".join(f"{sanitize(g)}.Succeeded" for g in group)
                for _, group in chain) for chain in chains]
            out.append("&&".join(parts))
        return out

    def _when(self, step: Step) -> str | None:
        """The first step of a case runs when the switch before it chose it (or when an input
        that always runs succeeded)."""
        cond = self.cond
        switches = [p for p in step.in_funcs if cond.is_switch(p)]
        if not switches or not (cond.is_conditional(step.name) or cond.is_skip(step)
                                or cond.is_join(step)):
            return None
        chosen = "||".join(
            "({{=(tasks['%s'].status == 'Succeeded' ? tasks['%s'].outputs.parameters"
            "['switch-step'] : nil) == '%s'}})" % (sanitize(p), sanitize(p), step.name)
            for p in switches)
        others = [p for p in step.in_funcs if p not in switches]
        if not others:
            return chosen
        ran = "||".join("{{tasks.%s.status}}==Succeeded" % sanitize(p) for p in others)
        return f"({ran}) || ({chosen})"

    def _task(self, step: Step) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        params = [param("input-paths", compress_list(
            [RUN_PATH % (n, sanitize(n)) for n in step.in_funcs]))]
        if step.is_inside_foreach and step.next and self.steps[step.next[0]].type == "join":
            join = self.steps[step.next[0]]
            if any(self.steps[p].matching_join == join.name and self.steps[p].type == "foreach"
                   for p in join.split_parents):
                params += [param("split-index", "{{inputs.parameters.split-index}}"),
                           param("root-input-path", "{{inputs.parameters.input-paths}}")]
        task: dict[str, Any] = {"name": sanitize(step.name), "depends": self._depends(step),
                                "template": sanitize(step.name),
                                "arguments": {"parameters": params}}
        when = self._when(step)
        if when is not None:
            task["when"] = when
        return task, params

    def _recursive(self, step: Step, params: list[dict[str, Any]],
                   in_foreach: bool) -> dict[str, Any]:
        """A switch that loops on itself: a steps template named as the step runs the step's
        container (``recursive-<step>``), then calls itself while the step chooses itself."""
        name = sanitize(step.name)
        split = [param("split-index", "{{inputs.parameters.split-index}}")] if in_foreach else []
        last = "(steps['%s-recursion']?.outputs ?? steps['%s-internal']?.outputs)" % (name, name)
        return {
            "name": name,
            "steps": [
                [{"name": f"{name}-internal", "template": f"recursive-{name}",
                  "arguments": {"parameters": [
                      param("input-paths", "{{inputs.parameters.input-paths}}"), *split]}}],
                [{"name": f"{name}-recursion", "template": name,
                  "when": "{{steps.%s-internal.outputs.parameters.switch-step}}==%s"
                          % (name, step.name),
                  "arguments": {"parameters": [
                      param("input-paths", "argo-{{workflow.name}}/%s/{{steps.%s-internal"
                            ".outputs.parameters.task-id}}" % (step.name, name)), *split]}}],
            ],
            # Metaflow declares the DAG task's arguments, values included, as the inputs
            "inputs": {"parameters": [dict(p) for p in params]},
            "outputs": {"parameters": [
                {"name": out, "valueFrom": {"expression": f"{last}.parameters['{out}']"}}
                for out in ("task-id", "switch-step")]},
        }

    def _foreach(self, step: Step, tasks: list[dict[str, Any]], nested: bool) -> Step:
        """The jump-off task running the body's sub-DAG once per split, the sub-DAG template,
        and the join task; returns the join."""
        join = self._step(step.matching_join or "", step)
        is_gang = gang.is_parallel_foreach(step)
        name = sanitize(f"{step.name}-foreach-{'parallel' if is_gang else step.foreach_param}")
        parent_task = RUN_PATH % (step.name, sanitize(step.name))
        outputs_of = "{{tasks.%s.outputs.parameters.%%s}}" % sanitize(step.name)
        gang_params = [param(k, v) for k, v in gang.gang_outputs(sanitize(step.name)).items()]
        jump_params = [param("input-paths", parent_task), param("split-index", "{{item}}")]
        if nested:
            jump_params.append(param("root-input-path", parent_task))
        if is_gang:
            jump_params += gang_params
        jump: dict[str, Any] = {"name": name, "depends": f"{sanitize(step.name)}.Succeeded",
                                "template": name, "arguments": {"parameters": jump_params},
                                "withParam": outputs_of % "num-splits"}
        if self.cond.is_conditional(step.name) and not any(
                self.cond.is_conditional(p) for p in step.in_funcs):
            jump["when"] = "{{tasks.%s.outputs.parameters.switch-step}}==%s" % (
                sanitize(step.in_funcs[0]), step.name)
        tasks.append(jump)
        body = self.visit(self._step(step.next[0], step), join.name, [], True)
        inputs = [param("input-paths"), param("split-index")]
        if nested:
            inputs.append(param("root-input-path"))
        if is_gang:
            inputs += [param(gang.NUM_PARALLEL), param(gang.ENTROPY)]
        task_id: dict[str, str]
        if is_gang:  # the gang's size and entropy, for the join to rebuild its input paths
            outputs = [{"name": k, "valueFrom": {"parameter": v}} for k, v in
                       gang.gang_outputs(sanitize(join.in_funcs[0])).items()]
        elif self.cond.is_join(join):
            # the body's last step may be any of the join's inputs: the one that ran
            task_id = {"expression": "get((%s)?.parameters, 'task-id')" % " ?? ".join(
                f"tasks['{sanitize(p)}']?.outputs" for p in join.in_funcs)}
        else:
            task_id = {"parameter": "{{tasks.%s.outputs.parameters.task-id}}"
                       % sanitize(join.in_funcs[0])}
        if not is_gang:
            outputs = [{"name": "task-id", "valueFrom": task_id}]
        self.templates.append({
            "name": name,
            "inputs": {"parameters": inputs},
            "outputs": {"parameters": outputs},
            "dag": {"failFast": True, "tasks": body},
        })
        join_params = [dict(p) for p in gang_params] if is_gang else [
            param("input-paths", parent_task),
            param("split-cardinality", outputs_of % "split-cardinality")]
        if nested:
            join_params += [param("split-index", "{{inputs.parameters.split-index}}"),
                            param("root-input-path", "{{inputs.parameters.input-paths}}")]
        tasks.append({"name": sanitize(join.name), "template": sanitize(join.name),
                      "depends": f"{name}.Succeeded", "arguments": {"parameters": join_params}})
        self.seen.append(join.name)
        return join


def dag_templates(flow: Flow) -> list[dict[str, Any]]:
    """Foreach sub-DAG and recursive-switch templates, then the flow's own DAG template
    (entrypoint = flow name)."""
    dag = ArgoDag(flow)
    start = flow.start
    tasks = dag.visit(start, None, [], start.is_inside_foreach)
    return dag.templates + [{"name": flow.name, "dag": {"failFast": True, "tasks": tasks}}]


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
            if node.type == SWITCH:
                # every case up to the enclosing block's end (a case that is the switch itself,
                # the loop of a recursive switch, is left out)
                out.append([block(n, stop) for n in node.next if n != cur])
                cur = stop
            elif ((node.type in ("split", "foreach") and not gang.is_parallel_foreach(node))
                  or (len(node.next) > 1 and node.matching_join)):
                # a num_parallel foreach ("split-parallel") is listed as a linear step
                out.append([block(n, node.matching_join) for n in node.next])
                cur = node.matching_join
            else:
                cur = node.next[0] if node.next else None
        return out

    start = flow.start.name
    return ([] if start == end else block(start, end)) + [end]
