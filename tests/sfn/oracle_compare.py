"""Point-by-point comparison of a flowstacks definition with Metaflow's own (the oracle).

Every leaf of both definitions is a point (state names, types and transitions, each Batch
``Parameters`` entry, each environment variable by position, the command, retries, timeouts,
resources, queue, job definition). A point is equal, a *kept* difference (listed in
``DIFFERENCES.md``, recognised below), or unexplained (a test failure).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.oracle.harness import ACCOUNT, REGION

ENV_FILE = re.compile(r"set_batch_environment (parameters|parent_tasks) ([a-z]{10}) && \. `pwd`/\2")
# METAFLOW_VERSION keys that describe the deployer's machine rather than the deployment.
MACHINE_KEYS = ("python_version", "python_version_code")
# metaflow_git.get_repository_info: added when the deployer runs inside a git checkout.
GIT_KEYS = ("repo_url", "branch_name", "commit_sha", "has_uncommitted_changes")


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaves of ``value`` by path; container env lists keyed by position and name."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{path}/{k}"))
        return out or {path: {}}
    if isinstance(value, list):
        if path.endswith("/Environment"):
            return {f"{path}[{i}]:{e['Name']}": e.get("Value", e.get("Value.$"))
                    for i, e in enumerate(value)}
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{path}[{i}]"))
        return out or {path: []}
    return {path: value}


def _kept(path: str, ours: Any, theirs: Any) -> str | None:
    """The reason a difference is kept, or None if it is unexplained."""
    if not (isinstance(ours, str) and isinstance(theirs, str)):
        return None
    if path.endswith("/Command[2]"):
        scrub = lambda s: ENV_FILE.sub(r"set_batch_environment \1 F && . `pwd`/F", s)  # noqa: E731
        if scrub(ours) == scrub(theirs):
            return "random env file name"
    if (path.endswith("/Parameters/JobQueue") and not theirs.startswith("arn:")
            and ours == f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{theirs}"):
        return "bare @batch queue name as its ARN (DIFFERENCES.md #6)"
    if path.endswith(":METAFLOW_VERSION"):
        a, b = json.loads(ours), json.loads(theirs)
        b = {k: v for k, v in b.items() if k not in GIT_KEYS}
        if list(a) == list(b) and all(a[k] == b[k] for k in a if k not in MACHINE_KEYS):
            return "deployer's Python build and git checkout in METAFLOW_VERSION"
    return None


@dataclass
class Comparison:
    points: int = 0
    equal: int = 0
    kept: Counter = field(default_factory=Counter)
    unexplained: list[tuple[str, Any, Any]] = field(default_factory=list)

    def add(self, other: "Comparison") -> None:
        self.points += other.points
        self.equal += other.equal
        self.kept.update(other.kept)
        self.unexplained += other.unexplained


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> Comparison:
    a, b = flatten(ours), flatten(theirs)
    result = Comparison()
    for path in sorted(set(a) | set(b)):
        result.points += 1
        if path in a and path in b and a[path] == b[path]:
            result.equal += 1
            continue
        reason = _kept(path, a.get(path), b.get(path)) if path in a and path in b else None
        if reason:
            result.kept[reason] += 1
        else:
            result.unexplained.append((path, a.get(path, "<missing>"), b.get(path, "<missing>")))
    return result
