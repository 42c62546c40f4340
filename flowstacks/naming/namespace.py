"""Which Step Functions names belong to a namespace: the start every state machine and rule name
of the namespace shares, and whether a given name, or an IAM ARN pattern, is one Metaflow gives
a flow of it. The deployer role's name patterns and the policy rules both ask here, so the hash
cut of long names is worked out in one place (docs/metaflow-contract.md#names).

A name is ``[PREFIX_]<project>.<branch_name>.<Flow>``; above the cut it keeps only its first
characters (60 for a state machine, 47 for an EventBridge rule) before ``-`` and 16 hash
characters, and the cut may fall inside the branch name.
"""

from __future__ import annotations

import hashlib
import re

from flowstacks.naming.deployers import (
    EVENTBRIDGE_HASH_LEN, EVENTBRIDGE_KEEP, SFN_HASH_LEN, SFN_HASH_THRESHOLD, b32sha1,
)
from flowstacks.naming.limits import DYNAMODB_TABLE_MAX

# project_decorator.VALID_NAME_RE: what a project name may contain.
PROJECT_NAME = re.compile(r"[a-z0-9_]+")
# What a hashed name keeps, and the length of the hashed name: 60 + 1 + 16 = 77 for a state
# machine (step_functions_cli.resolve_state_machine_name), 47 + 1 + 16 = 64 for a rule
# (event_bridge_client.format).
_CUTS = ((SFN_HASH_THRESHOLD, SFN_HASH_LEN), (EVENTBRIDGE_KEEP, EVENTBRIDGE_HASH_LEN))
_HASH_TAIL = re.compile(r"-[a-z2-7]+")  # lowercased base32


def _with_prefix(name: str, prefix: str | None) -> str:
    # resolve_state_machine_name adds the prefix unless the name already starts with it
    return name if prefix is None or name.startswith(prefix) else f"{prefix}_{name}"


def sfn_namespace_prefix(project: str, branch_name: str, prefix: str | None = None) -> str:
    """The start every state machine name of the namespace shares, hashed ones included:
    ``[PREFIX_]<project>.<branch_name>.``, cut where a hashed name is cut (60 characters)."""
    return _with_prefix(f"{project}.{branch_name}.", prefix)[:SFN_HASH_THRESHOLD]


def eventbridge_namespace_prefix(project: str, branch_name: str, prefix: str | None = None) -> str:
    """The start every EventBridge rule name of the namespace shares (a rule is named like its
    state machine, cut at 47 characters when hashed)."""
    return sfn_namespace_prefix(project, branch_name, prefix)[:EVENTBRIDGE_KEEP]


def _kept_part(name: str) -> tuple[str, bool]:
    """(the characters of the full name that ``name`` shows, whether it shows all of them)."""
    for keep, hash_len in _CUTS:
        if len(name) == keep + 1 + hash_len and _HASH_TAIL.fullmatch(name[keep:]):
            return name[:keep], False
    return name, True


def sfn_name_in_namespace(name: str, branch_name: str, prefix: str | None = None) -> bool:
    """Whether ``name`` is one Metaflow gives a flow of namespace ``branch_name``:
    ``[PREFIX_]<project>.<branch_name>.<rest without dots>`` (any project). ``name`` may be a
    state machine or EventBridge rule name, or the name part of an IAM ARN pattern (a trailing
    ``*``: the literal part must reach the end of the branch, unless it is exactly as long as a
    cut). A hashed name shows only its start: it belongs when that start can begin a name of the
    namespace (it may begin names of other namespaces too, where the cut falls before the end
    of the branch; the namespace tags tell those apart)."""
    literal = name.rstrip("*")
    if literal != name:
        kept, whole = literal, len(literal) not in (keep for keep, _ in _CUTS)
    else:
        kept, whole = _kept_part(name)
    if prefix:
        head = prefix + "_"
        if not whole and len(kept) <= len(head):
            return head.startswith(kept)  # cut inside the prefix
        if kept.startswith(head):
            kept = kept[len(head):]
    project, dot, rest = kept.partition(".")
    if not dot:
        # only a cut name may end inside its project
        return not whole and (not kept or PROJECT_NAME.fullmatch(kept) is not None)
    if not PROJECT_NAME.fullmatch(project):
        return False
    expected = branch_name + "."
    # flow class names have no dots, so exactly the branch precedes the last part
    after_branch = rest.startswith(expected) and "." not in rest[len(expected):]
    return after_branch if whole else (after_branch or expected.startswith(rest))


# The DynamoDB table of a Step Functions namespace (issue 16): Metaflow keeps a foreach's
# cardinality and a join's parent task ids there, keyed by a Batch job id that names no
# namespace (docs/metaflow-contract.md#foreach-state), so namespaces are kept apart by giving each
# its own table, created and owned by its stack.
SFN_STATE_TABLE_SUFFIX = ".sfn-state"
_TABLE_UNSAFE = re.compile(r"[^a-zA-Z0-9_.\-]")
_TABLE_HASH_LEN = 16


def sfn_state_table_name(project: str, branch_name: str, prefix: str | None = None) -> str:
    """``[PREFIX_]<project>.<branch_name>.sfn-state``: the namespace's own foreach-state table,
    within DynamoDB's table names (3-255 characters of ``[a-zA-Z0-9_.-]``,
    :data:`flowstacks.naming.limits.DYNAMODB_TABLE_NAME`). A branch with other characters
    (``user.alice@corp.com``) has each of them replaced by ``-`` and 8 hex characters of its
    sha1 added, so two branches never share a table; a name above 255 characters keeps its start
    and ends in ``-`` and 16 hash characters of the full name, then the suffix."""
    branch = _TABLE_UNSAFE.sub("-", branch_name)
    if branch != branch_name:
        branch += "-" + hashlib.sha1(branch_name.encode("utf-8")).hexdigest()[:8]
    stem = _with_prefix(f"{project}.{branch}", prefix)
    stem = _TABLE_UNSAFE.sub("-", stem)  # a prefix is Step Functions' rules, not DynamoDB's
    budget = DYNAMODB_TABLE_MAX - len(SFN_STATE_TABLE_SUFFIX)
    if len(stem) > budget:
        digest = b32sha1(stem)[:_TABLE_HASH_LEN].lower()
        stem = f"{stem[:budget - 1 - _TABLE_HASH_LEN]}-{digest}"
    return stem + SFN_STATE_TABLE_SUFFIX


def sfn_table_in_namespace(name: str, branch_name: str, prefix: str | None = None) -> bool:
    """Whether ``name`` is the foreach-state table :func:`sfn_state_table_name` gives namespace
    ``branch_name`` of some project (the project is read from the name)."""
    starts = [name]
    if prefix:
        head = _TABLE_UNSAFE.sub("-", prefix) + "_"
        if name.startswith(head):
            starts.append(name[len(head):])
    projects = {s.partition(".")[0] for s in starts}
    return any(PROJECT_NAME.fullmatch(p) and sfn_state_table_name(p, branch_name, prefix) == name
               for p in projects)
