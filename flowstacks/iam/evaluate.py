"""A small IAM evaluator: can a policy document allow an action on a resource ARN?

Enough of IAM's semantics to prove namespace isolation on what flowstacks generates: Allow
statements, action and ARN globs (``*`` and ``?``), explicit Deny, and the tag conditions
flowstacks writes (``StringEquals`` on ``aws:ResourceTag/...``). Anything it does not understand
counts as *allowing* (conservative: an unknown condition never proves isolation).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Mapping

_KNOWN_OPERATORS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike",
                    "StringEqualsIfExists", "StringLikeIfExists"}


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = fnmatch.translate(pattern)
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass(frozen=True)
class Request:
    """One API call: action, resource ARN, and the resource's tags."""

    action: str
    resource: str
    resource_tags: Mapping[str, str]


def _condition_holds(condition: Mapping[str, Any], request: Request) -> bool:
    for operator, entries in condition.items():
        if operator not in _KNOWN_OPERATORS:
            return True  # unknown: assume it can hold
        for key, expected in entries.items():
            if not key.startswith("aws:ResourceTag/"):
                continue  # conditions on request context we do not model: assume they hold
            actual = request.resource_tags.get(key[len("aws:ResourceTag/"):])
            if actual is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            values = _as_list(expected)
            if operator.startswith("StringLike") or operator.startswith("ArnLike"):
                if not any(_glob(v, actual) for v in values):
                    return False
            elif actual not in values:
                return False
    return True


def statement_allows(st: Mapping[str, Any], request: Request) -> bool:
    actions = _as_list(st.get("Action"))
    resources = _as_list(st.get("Resource"))
    if not any(_glob(a, request.action, case_sensitive=False) for a in actions):
        return False
    if not any(_glob(r, request.resource) for r in resources):
        return False
    return _condition_holds(st.get("Condition") or {}, request)


def allows(documents: list[Mapping[str, Any]], request: Request) -> bool:
    """True if some Allow statement matches and no Deny statement does."""
    sts = [s for d in documents for s in ([d["Statement"]] if isinstance(d.get("Statement"), dict)
                                          else d.get("Statement") or [])]
    if any(s.get("Effect") == "Deny" and statement_allows(s, request) for s in sts):
        return False
    return any(s.get("Effect") == "Allow" and statement_allows(s, request) for s in sts)


def trusted_principals(assume_role_policy: Mapping[str, Any]) -> list[str]:
    """Every principal a trust policy admits, with its condition subject when there is one."""
    out = []
    for st in assume_role_policy.get("Statement") or []:
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal") or {}
        if principal == "*" or "AWS" in principal and "*" in _as_list(principal["AWS"]):
            out.append("*")
            continue
        for kind, values in principal.items():
            for value in _as_list(values):
                subjects = [v for cond in (st.get("Condition") or {}).values()
                            for k, v in cond.items() if k.endswith(":sub")]
                out.append(f"{kind}:{value}" + (f" sub={subjects}" if subjects else ""))
    return out
