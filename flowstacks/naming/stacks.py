"""Pulumi stack names are Metaflow branch names (docs/metaflow-contract.md#branches).

| stack      | Metaflow flags                 | branch_name |
|------------|--------------------------------|-------------|
| prod       | --production                   | prod        |
| prod.<b>   | --branch <b> --production      | prod.<b>    |
| test.<b>   | --branch <b>                   | test.<b>    |
| user.<u>   | neither (deployer <u>)         | user.<u>    |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flowstacks.errors import MetaflowRuleError
from flowstacks.naming.project import validate_branch_name

NamespaceKind = Literal["user", "test", "prod"]

# the opt-in stack of shared platform objects (flowstacks/deploy/platform_stack.py): not a namespace
PLATFORM_STACK = "platform"
STACK_FORMS = "prod, prod.<branch>, test.<branch> or user.<name> (<branch>: [a-z0-9_], at most 128 characters)"


@dataclass(frozen=True)
class StackNamespace:
    """A stack parsed into the flags Metaflow would deploy it with."""

    stack: str
    kind: NamespaceKind
    branch: str | None  # the --branch value (None for prod and user stacks)
    production: bool
    user: str | None  # the deployer for user.<u> stacks

    @property
    def branch_name(self) -> str:
        return self.stack


def parse_stack(stack: str) -> StackNamespace:
    """Parse a stack name; a name Metaflow would not produce fails with Metaflow's message."""
    if stack == "prod":
        return StackNamespace(stack, "prod", None, True, None)
    head, sep, rest = stack.partition(".")
    if sep and head in ("prod", "test"):
        if not rest:
            raise MetaflowRuleError(
                f"Stack '{stack}' names no branch.", headline="Invalid stack name",
                hint=f"stack names are {STACK_FORMS}",
            )
        try:
            validate_branch_name(rest)
        except MetaflowRuleError as exc:
            raise MetaflowRuleError(
                exc.message, headline="Invalid stack name", where=f"stack '{stack}'",
                hint=f"stack names are {STACK_FORMS}",
            ) from None
        return StackNamespace(stack, head, rest, head == "prod", None)  # type: ignore[arg-type]
    if sep and head == "user" and rest:
        # Metaflow never validates user names (docs/metaflow-contract.md#user-resolution); backends check what they
        # can take.
        return StackNamespace(stack, "user", None, False, rest)
    raise MetaflowRuleError(
        f"'{stack}' is not a Metaflow namespace.", headline="Invalid stack name",
        where=f"stack '{stack}'", hint=f"stack names are {STACK_FORMS}",
    )


def stack_for(branch: str | None, production: bool, user: str | None) -> str:
    """The stack a Metaflow deploy with these flags lands in."""
    if branch:
        validate_branch_name(branch)
        return f"{'prod' if production else 'test'}.{branch}"
    if production:
        return "prod"
    if not user:
        raise MetaflowRuleError(
            "Metaflow could not determine your user name based on environment variables "
            "($USERNAME etc.)", headline="Unknown user",
        )
    return f"user.{user}"
