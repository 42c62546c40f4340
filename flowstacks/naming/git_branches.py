"""Git branches -> Metaflow branches: the per-branch stacks of CI (``flowstacks stack for-git-branch``).

Metaflow branch names allow only ``[a-z0-9_]`` (:data:`flowstacks.naming.project.VALID_NAME_RE`); git branch
names are freer (``feature/Foo-bar``, ``dependabot/pip/x-1.2``). The mapping is deterministic so that the
pull-request workflow that previews ``test.<b>`` and the branch-deletion workflow that destroys it agree:

- a git branch that is already a valid, short Metaflow branch is kept as it is (``feature_x`` -> ``feature_x``);
- any other is lower-cased, every run of other characters becomes one ``_``, the result is cut to fit and
  ends in ``_`` + 6 hex characters of the SHA-1 of the git branch name, so ``feature/x``, ``feature-x`` and
  ``Feature_X`` stay three stacks (``feature/Foo-bar`` -> ``feature_foo_bar_<hash>``).
"""

from __future__ import annotations

import hashlib
import re

from flowstacks.errors import FlowstacksError

# Longer Metaflow branches are valid (128) but make every derived name long: state machine names are
# cut at 60 characters, Pulumi stack names at 100; 40 keeps test.<b> names readable and far from both.
GIT_BRANCH_MAX = 40
GIT_BRANCH_HASH_LEN = 6  # hex characters of sha1(git branch) that keep two mapped names apart
_KEPT = re.compile(r"[a-z0-9_]+")  # fullmatch: `$` would let a trailing newline through
_OTHER = re.compile(r"[^a-z0-9_]+")


def metaflow_branch_for_git(git_branch: str) -> str:
    """The Metaflow branch (``[a-z0-9_]``, at most :data:`GIT_BRANCH_MAX` characters) of a git branch."""
    name = git_branch.removeprefix("refs/heads/")
    if len(name) <= GIT_BRANCH_MAX and _KEPT.fullmatch(name):
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:GIT_BRANCH_HASH_LEN]
    base = _OTHER.sub("_", name.lower()).strip("_")[:GIT_BRANCH_MAX - GIT_BRANCH_HASH_LEN - 1].rstrip("_")
    return f"{base or 'branch'}_{digest}"


def stack_for_git_branch(git_branch: str, production: bool = False) -> str:
    """The stack of a git branch: ``test.<b>`` (``prod.<b>`` with ``production``)."""
    if not git_branch.strip():
        raise FlowstacksError("a git branch name is needed", where="git branch")
    return f"{'prod' if production else 'test'}.{metaflow_branch_for_git(git_branch)}"
