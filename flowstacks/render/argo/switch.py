"""Which steps of a flow run only on some paths of a switch, as Metaflow 2.19.39's Argo deployer
decides it (``plugins/argo/argo_workflows.py`` ``_parse_conditional_branches`` and the
``_is_conditional_*`` predicates; docs/metaflow-contract.md#argo-switch).

A switch step (``self.next({...}, condition=...)``, type ``split-switch``) writes the name of the
step it chose to ``/mnt/out/switch_step``; each case's first task runs only ``when:`` that output
names it. The steps after a case are *conditional* until a step closes every case of the switch
(its *conditional join*); a switch that lists itself as a case is *recursive* (Argo runs it as a
steps template that calls itself). The analysis walks the steps in Metaflow's order (the graph's
``dir()`` order, i.e. by name), which decides its answer on shapes where cases cross.
"""

from __future__ import annotations

from flowstacks.model.flow import Flow, Step

SWITCH = "split-switch"


class Conditionals:
    """The conditional facts of one flow's graph."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self.steps = {s.name: s for s in flow.steps}
        self.order = {s.name: i for i, s in enumerate(flow.steps)}  # graph.sorted_nodes
        self.end = next((s.name for s in flow.steps if s.type == "end"), "end")
        self.conditional: set[str] = set()
        self.joins: set[str] = set()
        self.matching: dict[str, str] = {}
        self.recursive: set[str] = set()
        if any(s.type == SWITCH for s in flow.steps):
            self._analyse()

    # -- the analysis ------------------------------------------------------------------------
    def _analyse(self) -> None:
        by_name = sorted(self.steps)  # FlowGraph.nodes: dir(flow) order
        parents: dict[str, list[str]] = {}  # the switches a step is conditional on, outer first
        branches: dict[str, list[str]] = {}  # the steps on the conditional paths into a step

        def extend(name: str, path: list[str]) -> None:
            known = branches.get(name, [])
            branches[name] = known + [b for b in path if b not in known]

        def mark(step: Step, path: list[str], switches: list[str]) -> None:
            is_switch = step.type == SWITCH
            if not is_switch and not (path and switches):
                return
            path = path + [step.name]
            extend(step.name, path)
            if is_switch:
                switches = switches + [step.name]
                if step.name in step.next:
                    self.recursive.add(step.name)
            else:
                self.conditional.add(step.name)
            parents[step.name] = switches
            for child in step.next:
                if child != step.name:
                    mark(self.steps[child], path, switches)

        for name in by_name:
            step = self.steps[name]
            # a switch reached from an earlier switch already has its parents
            if not (step.type == SWITCH and name in parents):
                mark(step, [], [])

        def clear(name: str, seen: list[str]) -> None:
            """Steps after a closing join are unconditional again, up to the next switch."""
            if self.steps[name].type == SWITCH:
                return
            self.conditional.discard(name)
            parents[name] = []
            branches[name] = []
            for child in self.steps[name].next:
                if child not in seen:
                    clear(child, seen + [child])

        for name in by_name:
            step = self.steps[name]
            if not parents.get(name):
                continue
            if any(p in self.conditional or self.steps[p].type == SWITCH for p in step.in_funcs):
                self.conditional.add(name)
            else:
                self.conditional.discard(name)
            fed = [p for p in step.in_funcs if branches.get(p)]
            closed = []
            for switch in reversed(parents.get(name, [])):
                # every case of the switch reaches this step (or is this step)
                if all(case == name or any(case in branches.get(p, []) for p in fed)
                       for case in self.steps[switch].next):
                    closed.append(switch)
                    self.joins.add(name)
                    self.matching[switch] = name
            if not [p for p in parents.get(name, []) if p not in closed]:
                clear(name, [])

    # -- the predicates the renderer asks ----------------------------------------------------
    def is_switch(self, name: str) -> bool:
        return self.steps[name].type == SWITCH

    def is_conditional(self, name: str) -> bool:
        return name in self.conditional

    def gated(self, name: str) -> bool:
        """Runs only on some paths: a conditional step or a switch."""
        return self.is_conditional(name) or self.is_switch(name)

    def is_skip(self, step: Step) -> bool:
        """A step one case jumps to directly while other cases reach it through their own steps."""
        return (self.is_conditional(step.name)
                and any(self.is_switch(p) for p in step.in_funcs)
                and len([p for p in step.in_funcs if self.gated(p)]) > 1)

    def is_join(self, step: Step) -> bool:
        """The step that closes every case of a switch."""
        return step.name in self.joins

    def all_inputs_conditional(self, step: Step) -> bool:
        gated = [p for p in step.in_funcs if self.is_conditional(p)]
        return len(gated) > 1 and len(gated) == len(step.in_funcs)

    def reads_conditional_inputs(self, step: Step) -> bool:
        """Some of the step's inputs may never have run: its input paths go through
        ``metaflow.plugins.argo.conditional_input_paths``."""
        return self.is_join(step) or self.all_inputs_conditional(step) or self.is_skip(step)

    def is_recursive(self, name: str) -> bool:
        return name in self.recursive

    def matching_join(self, name: str) -> str:
        """Where a switch's cases meet again (the flow's end when no step closes them)."""
        return self.matching.get(name, self.end)

    def skippable_inputs(self, step: Step) -> list[str]:
        """The switches among the step's inputs, latest in the graph first."""
        return sorted((p for p in step.in_funcs if self.is_switch(p)),
                      key=lambda p: self.order[p], reverse=True)

    def switch_ancestors(self, name: str, stop: str) -> list[str]:
        """The switches above ``name``, up to ``stop`` (the join's split)."""
        out: list[str] = []
        for parent in self.steps[name].in_funcs:
            if self.is_switch(parent):
                out.append(parent)
            if parent != stop:
                out.extend(self.switch_ancestors(parent, stop))
        return out
