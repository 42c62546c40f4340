"""Pulumi stack names are Metaflow branch names (docs/metaflow-contract.md#branches).

| stack      | Metaflow flags                 | branch_name |
|------------|--------------------------------|-------------|
| prod       | --production                   | prod        |
| prod.<b>   | --branch <b> --production      | prod.<b>    |
| test.<b>   | --branch <b>                   | test.<b>    |
| user.<u>   | neither (deployer <u>)         | user.<u>    |

A developer stack may record its Metaflow user (``flowstacks:metaflowUser``): Pulumi stack names allow
only ``[A-Za-z0-9_.-]`` while Metaflow takes any user name (``alice@corp.com``), so the stack
``user.alice-corp-com`` deploys namespace ``user.alice@corp.com`` (flowstacks/naming/pulumi_stacks.py).
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
    user: str | None  # the deployer for user.<u> stacks (the recorded Metaflow user, if any)

    @property
    def branch_name(self) -> str:
        """Metaflow's branch name: the stack's, except that a developer stack is ``user.<its Metaflow
        user>``, which the stack name cannot always spell."""
        return f"user.{self.user}" if self.kind == "user" else self.stack


USER_SETTING = "flowstacks:metaflowUser"  # the stack config key of a developer stack's Metaflow user


def parse_stack(stack: str, metaflow_user: str | None = None) -> StackNamespace:
    """Parse a stack name; a name Metaflow would not produce fails with Metaflow's message.
    ``metaflow_user``: the Metaflow user recorded in the stack's config (``flowstacks:metaflowUser``),
    which a developer stack deploys as instead of the user its name spells; other stacks refuse it."""
    if metaflow_user and not stack.startswith("user."):
        parse_stack(stack)  # an invalid name says so first
        raise MetaflowRuleError(
            f"{USER_SETTING} is {metaflow_user!r}, but stack '{stack}' is not a developer stack: only a "
            "user.<name> stack deploys as a Metaflow user", headline="Invalid stack config",
            where=f"stack '{stack}': {USER_SETTING}",
            hint=f"remove {USER_SETTING} from stacks/Pulumi.{stack}.yaml")
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
        return StackNamespace(stack, "user", None, False, metaflow_user or rest)
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
