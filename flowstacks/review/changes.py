"""What ``pulumi up -s STACK`` would do to each resource, read from two synthesized manifests of the
same stack (the deployed version, BASE, and the one under review, HEAD), before anyone runs it.

Resources are matched by URN, as the engine matches them: a URN only in HEAD is a ``create``, only
in BASE a ``delete``; a changed resource is a ``replace`` when a changed input is one of its type's
replace-on-change properties (:mod:`flowstacks.review.replacements`), else an ``update``.

The engine refuses (pulumi/pulumi pkg/resource/deploy/step_generator.go) to replace a resource
that is protected in the state and in the program (``old.Protect && new.Protect``), and to delete
one protected in the state. Such a change is *blocked*: ``flowstacks diff`` exits 1 and, for a
deletion (a flow removed from prod), prints the commands that remove it on purpose.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from flowstacks.review.replacements import CATALOG, reason, replacing_paths

ACTIONS = ("create", "update", "replace", "delete")
SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


@dataclass(frozen=True)
class ResourceChange:
    """One resource ``pulumi up`` would touch."""

    action: str  # create, update, replace or delete
    type: str
    name: str
    urn: str
    protect: bool  # protected in the deployed state (BASE); HEAD's flag for a create
    paths: tuple[tuple[str, Any, Any], ...] = ()  # changed inputs: (path, BASE value, HEAD value)
    replacing: tuple[str, ...] = ()  # the replace-on-change properties among them
    still_protected: bool = False  # HEAD keeps protect=True (what makes a replacement fail)
    retained: bool = False  # BASE has retainOnDelete: a delete leaves the cloud object

    @property
    def blocked(self) -> bool:
        """The engine would stop ``pulumi up`` here."""
        if self.action == "delete":
            return self.protect
        return self.action == "replace" and self.protect and self.still_protected

    @property
    def uncatalogued(self) -> bool:
        return self.type not in CATALOG

    def label(self) -> str:
        tags = [t for t, on in (("protected", self.protect), ("retained", self.retained)) if on]
        return f"{self.type} {self.name}" + (f" [{', '.join(tags)}]" if tags else "")

    def why(self) -> str:
        """Why a replacement is one: the properties and the file that says so."""
        if self.uncatalogued:
            return "type not in the replacement catalog: assumed to replace"
        parts = []
        for prop in self.replacing:
            item = reason(self.type, prop)
            parts.append(f"`{prop}` forces replacement ({item.cites() if item else '?'})")
        return "; ".join(parts)


@dataclass
class ChangePlan:
    """Every change a deployment of ``stack`` would make, in a stable order."""

    stack: str
    changes: list[ResourceChange] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {a: sum(c.action == a for c in self.changes) for a in ACTIONS}

    @property
    def blocked(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.blocked]

    def unprotect_commands(self) -> list[str]:
        """For each protected resource HEAD deletes: ``pulumi state unprotect`` with its URN, then
        the deploy that removes them (empty when nothing protected is deleted)."""
        urns = [c.urn for c in self.changes if c.action == "delete" and c.protect]
        if not urns:
            return []
        stack = shlex.quote(self.stack)
        return ([f"pulumi state unprotect -s {stack} {_quote(urn)}" for urn in urns]
                + [f"pulumi up -s {stack}"])

    def blocked_report(self, detail: bool = True) -> list[str]:
        """What stops the deployment and how to proceed, as lines of text (empty if nothing).
        Without ``detail`` (a size-limited comment): one line per change, and only the commands
        of the deletions (what cannot be done from the program)."""
        if not self.blocked:
            return []
        lines = [f"BLOCKED: `pulumi up -s {self.stack}` would fail: {len(self.blocked)} change(s) "
                 "replace or delete a protected resource."]
        for c in self.blocked:
            lines.append(f"  {c.action} {c.type} {c.name}")
            if detail:
                lines.append(f"      {c.urn}")
                if c.action == "replace":
                    lines.append(f"      {c.why()}")
        replaced = [c for c in self.blocked if c.action == "replace"]
        if replaced:
            lines.append("A replacement deletes the deployed object and creates a new one; Pulumi "
                         "refuses it while the object is protected. If that is intended, unprotect "
                         "it first" + (":" if detail else " (`flowstacks diff` prints the commands)."))
            if detail:
                lines += [f"  pulumi state unprotect -s {shlex.quote(self.stack)} {_quote(c.urn)}"
                          for c in replaced]
        commands = self.unprotect_commands()
        if commands:
            lines.append("Resources no longer in the program stay protected in the state; to "
                         "remove them on purpose run:")
            lines += [f"  {command}" for command in commands]
        return lines


def _quote(urn: str) -> str:
    """A URN as one shell word, always single-quoted (URNs hold ``$`` and ``::``)."""
    return "'" + urn.replace("'", "'\"'\"'") + "'"


def _parsed(value: Any) -> Any:
    """Inputs with JSON held in strings parsed (policies, definitions), so that a change shows
    at the path that changed rather than as one long string."""
    if isinstance(value, dict):
        return {k: _parsed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_parsed(v) for v in value]
    if isinstance(value, str) and value.strip()[:1] in ("{", "[") and len(value.strip()) > 1:
        try:
            return _parsed(json.loads(value))
        except ValueError:
            return value
    return value


def changed_paths(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf that differs, as ``(path, old, new)``: dotted keys, list items ``[i]``; a list
    whose length changed, or a value added or removed, is one change at its own path."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += changed_paths(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += changed_paths(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [(path, old, new)]


def identity(record: dict[str, Any]) -> str:
    """The URN (manifests written before URNs were recorded: type and name)."""
    return record.get("urn") or f"{record['type']}::{record['name']}"


def classify(base: dict[str, Any], head: dict[str, Any]) -> ChangePlan:
    """The changes that deploying HEAD's manifest over BASE's (the same stack) would make."""
    if base.get("stack") != head.get("stack"):
        raise ValueError(f"not the same stack: {base.get('stack')} and {head.get('stack')}")
    olds = {identity(r): r for r in base["resources"]}
    news = {identity(r): r for r in head["resources"]}
    changes = []
    for urn in sorted(set(olds) | set(news)):
        old, new = olds.get(urn), news.get(urn)
        if old is None:
            changes.append(ResourceChange("create", new["type"], new["name"], urn,
                                          bool(new.get("protect")), still_protected=True))
        elif new is None:
            changes.append(ResourceChange("delete", old["type"], old["name"], urn,
                                          bool(old.get("protect")),
                                          retained=bool(old.get("retainOnDelete"))))
        else:
            paths = changed_paths(_parsed(old.get("inputs") or {}),
                                  _parsed(new.get("inputs") or {}))
            if not paths:
                continue
            found = replacing_paths(new["type"], [p for p, _, _ in paths])
            action = "replace" if found is None or found else "update"
            changes.append(ResourceChange(
                action, new["type"], new["name"], urn, bool(old.get("protect")), tuple(paths),
                tuple(found or ()), still_protected=bool(new.get("protect")),
                retained=bool(old.get("retainOnDelete"))))
    # what can stop a deployment first: replacements, deletions, then creations and updates
    rank = {"replace": 0, "delete": 1, "create": 2, "update": 3}
    changes.sort(key=lambda c: (rank[c.action], c.urn))
    return ChangePlan(head.get("stack", ""), changes)
