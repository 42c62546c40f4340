"""Errors that flowstacks reports to users (exit code 1, no traceback)."""

from __future__ import annotations


class FlowstacksError(Exception):
    """A user error: bad input that names what is wrong and where.

    ``where`` is the file, flow, step or field the error is about; ``hint`` is an optional
    next step printed under the message.
    """

    headline = "Error"

    def __init__(self, message: str, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def render(self) -> str:
        lines = [f"{self.headline}: {self.where}" if self.where else self.headline, f"    {self.message}"]
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)


class MetaflowRuleError(FlowstacksError):
    """An error Metaflow itself raises for the same input; ``message`` is Metaflow's exact text."""

    def __init__(self, message: str, headline: str = "Flow failed", where: str | None = None,
                 hint: str | None = None):
        super().__init__(message, where=where, hint=hint)
        self.headline = headline


class ProblemList(FlowstacksError):
    """Several user errors reported together (a project's problems are reported all at once:
    every flow file, flow and step that is wrong, not only the first)."""

    headline = "Errors"

    def __init__(self, problems: "list[FlowstacksError]"):
        flat: list[FlowstacksError] = []
        for problem in problems:
            flat.extend(problem.problems if isinstance(problem, ProblemList) else [problem])
        self.problems = flat
        super().__init__("; ".join(
            f"{p.where}: {p.message}" if p.where else p.message for p in flat))

    def render(self) -> str:
        return "\n".join([*(p.render() for p in self.problems),
                          f"{len(self.problems)} problems found"])


class Problems:
    """Collects user errors while a loop goes on (``with problems.collect(): ...`` per item),
    then :meth:`raise_all` raises them together (the only one as itself)."""

    def __init__(self) -> None:
        self.items: list[FlowstacksError] = []

    def add(self, problem: FlowstacksError) -> None:
        self.items.append(problem)

    def collect(self) -> "_Collect":
        return _Collect(self)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_all(self) -> None:
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            raise ProblemList(self.items)


class _Collect:
    def __init__(self, problems: Problems):
        self.problems = problems

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, FlowstacksError):
            self.problems.add(exc)
            return True
        return False
