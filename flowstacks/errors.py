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
