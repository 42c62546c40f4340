"""One visitor over a flow graph, shared by the Step Functions and Airflow backends (Argo builds its
flat DAG in :mod:`flowstacks.render.argo.dag`, where a switch's cases may meet at any step).

The walk follows Metaflow's own deployers (``step_functions.py _compile._visit``): from the start
step, linear/join steps chain to their single successor; a static split opens one sub-workflow per
branch, each ending at the step that feeds the matching join; a foreach opens one sub-workflow for
its body; both continue after the matching join. Backends only say how each shape renders by
implementing :class:`Shapes`; the walk itself builds nothing (the backends refuse a switch step:
their checks or ``unsupported``). :class:`StepIndex` answers the two questions about a step's place
in the graph that every backend's task command asks.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from flowstacks.errors import FlowstacksError
from flowstacks.model.flow import Flow, Step

W = TypeVar("W")


class Shapes(Protocol, Generic[W]):
    """What a backend renders for each shape. ``W`` is the backend's (sub-)workflow container."""

    def workflow(self, start: Step) -> W:
        """A new, empty (sub-)workflow that starts at ``start``."""

    def task(self, wf: W, step: Step, next_step: str | None) -> None:
        """A start/linear/join/end step; ``next_step`` None ends the (sub-)workflow."""

    def split(self, wf: W, step: Step, branches: list[W], join: Step) -> None:
        """A static split: ``step`` itself, then its branches (in Metaflow's order) up to ``join``."""

    def foreach(self, wf: W, step: Step, body: W, join: Step) -> None:
        """A foreach: ``step`` itself, then its body workflow, which fans in at ``join``."""

    def unsupported(self, step: Step) -> FlowstacksError:
        """The error for a shape this backend cannot express (raised by the walk)."""


def _checked(flow: Flow, name: str, where: Step) -> Step:
    try:
        return flow.step(name)
    except KeyError:
        raise FlowstacksError(f"step {where.name} goes to unknown step {name!r}",
                              where=f"{flow.file} ({flow.name}.{where.name})") from None


def walk(flow: Flow, shapes: Shapes[W]) -> W:
    """Visit ``flow`` from its start step and return the top-level workflow ``shapes`` built."""

    def visit(step: Step, wf: W, exit_at: str | None) -> W:
        # A (sub-)workflow ends at the flow's end, or at the step that feeds the join it exits to.
        if step.type == "end" or (exit_at is not None and exit_at in step.next):
            shapes.task(wf, step, None)
            return wf
        if step.type in ("start", "linear", "join") and len(step.next) == 1:
            shapes.task(wf, step, step.next[0])
            return visit(_checked(flow, step.next[0], step), wf, exit_at)
        if step.type in ("split", "start") and len(step.next) > 1 and step.matching_join:
            join = _checked(flow, step.matching_join, step)
            branches = [
                visit(b, shapes.workflow(b), join.name)
                for b in (_checked(flow, n, step) for n in step.next)
            ]
            shapes.split(wf, step, branches, join)
            return visit(join, wf, exit_at)
        if step.type == "foreach" and step.matching_join:
            join = _checked(flow, step.matching_join, step)
            body_start = _checked(flow, step.next[0], step)
            body = visit(body_start, shapes.workflow(body_start), join.name)
            shapes.foreach(wf, step, body, join)
            return visit(join, wf, exit_at)
        raise shapes.unsupported(step)

    start = flow.start
    return visit(start, shapes.workflow(start), None)


class StepIndex:
    """The steps of a flow by name (``Flow.step`` scans the list), with the graph facts every
    backend asks about one step."""

    __slots__ = ("flow", "steps")

    def __init__(self, flow: Flow):
        self.flow = flow
        self.steps = {s.name: s for s in flow.steps}

    def __getitem__(self, name: str) -> Step:
        return self.steps[name]

    def follows_foreach(self, step: Step) -> bool:
        """A parent is a foreach: the task is one split and gets a split index."""
        return any(self.steps[n].type == "foreach" for n in step.in_funcs)

    def is_foreach_join(self, step: Step) -> bool:
        """The join that gathers a foreach (its parents' task ids come from the foreach)."""
        return (step.type == "join" and bool(step.split_parents)
                and self.steps[step.split_parents[-1]].type == "foreach")
