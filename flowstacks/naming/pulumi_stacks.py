"""Pulumi stack names for Metaflow namespaces.

A stack name is the Metaflow branch name whenever Pulumi accepts it. Pulumi stack names allow only
``[A-Za-z0-9_.-]``, at most 100 characters (``sdk/go/common/tokens/stack_name.go``, ``ParseStackName``), while
Metaflow never validates user names (``user.alice@corp.com``, ``user.bob smith``, unicode: see
docs/metaflow-contract.md#user-resolution). For such a developer namespace the stack gets a Pulumi-valid name
derived from the user name, and the real Metaflow user is recorded in the stack's config
(``flowstacks:metaflowUser``), so the namespace stays exactly the one Metaflow computes.
"""

from __future__ import annotations

import re

from flowstacks.errors import MetaflowRuleError
from flowstacks.naming.deployers import b32sha1

PULUMI_STACK_MAX = 100  # ParseStackName: "a stack name cannot exceed 100 characters"
PULUMI_STACK_INVALID = re.compile(r"[^A-Za-z0-9_.-]")  # ParseStackName's allowed characters
USER_HASH_LEN = 8  # hash characters that keep two sanitised user names apart


def is_pulumi_stack_name(name: str) -> bool:
    """Whether Pulumi accepts ``name`` as a stack name."""
    return 0 < len(name) <= PULUMI_STACK_MAX and not PULUMI_STACK_INVALID.search(name)


def developer_stack(user: str) -> str:
    """The Pulumi stack of the Metaflow namespace ``user.<user>``: the branch name itself when Pulumi
    accepts it, else ``user.<user with invalid characters as '_', cut to fit>-<8 hash characters of the
    user>`` (the hash keeps ``a@b`` and ``a_b`` apart; a valid name never ends in such a suffix by
    accident because the suffixed form is used only for names Pulumi would refuse)."""
    if not user:
        raise MetaflowRuleError("Metaflow could not determine your user name based on environment "
                                "variables ($USERNAME etc.)", headline="Unknown user")
    branch = f"user.{user}"
    if is_pulumi_stack_name(branch):
        return branch
    suffix = "-" + b32sha1(user)[:USER_HASH_LEN].lower()
    room = PULUMI_STACK_MAX - len("user.") - len(suffix)
    return f"user.{PULUMI_STACK_INVALID.sub('_', user)[:room]}{suffix}"


def needs_recorded_user(user: str) -> bool:
    """Whether the stack of ``user.<user>`` differs from the branch name, so the stack file must record
    the Metaflow user (``flowstacks:metaflowUser``)."""
    return developer_stack(user) != f"user.{user}"
