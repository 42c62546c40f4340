"""A small IAM evaluator: can a policy document allow an action on a resource ARN?

Enough of IAM's semantics to prove namespace isolation and the deployer's grants on what
flowstacks generates: Allow and Deny statements, ``Action``/``NotAction`` and ``Resource`` globs
(``*`` and ``?``), explicit Deny, the string/ARN condition operators with ``...IfExists``,
``Null``, and the ``ForAllValues:``/``ForAnyValue:`` set qualifiers.

A request describes its context either partly (the default, ``complete=False``: only
``aws:ResourceTag``, and ``aws:RequestTag``/``aws:TagKeys`` when ``request_tags`` is given, are
known) or completely (``complete=True``: a key not in the request is absent, as AWS evaluates it).
With a partial context, a condition the request says nothing about is assumed to hold in an Allow
and not to hold in a Deny: an unknown never proves isolation. With a complete context an operator
the evaluator does not know raises, so a proof that something *is* allowed cannot rest on a guess.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

_STRING_OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike",
                     "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
_QUALIFIERS = ("ForAllValues:", "ForAnyValue:")


class UnknownCondition(ValueError):
    """A condition operator this evaluator cannot decide on a complete request."""


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = fnmatch.translate(pattern)
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass(frozen=True)
class Request:
    """One API call: action, resource ARN, the existing resource's tags, and what the request
    itself carries (``request_tags`` for ``aws:RequestTag``/``aws:TagKeys``; ``context`` for any
    other key, e.g. ``iam:PassedToService`` or ``s3:prefix``; a list value is multi-valued)."""

    action: str
    resource: str
    resource_tags: Mapping[str, str]
    request_tags: Mapping[str, str] | None = None
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    complete: bool = False

    def values(self, key: str) -> list[str] | None:
        """The request's values of a condition key: None if the key is absent, or, with a
        partial context, unknown."""
        if key in self.context:
            return _as_list(self.context[key])
        low = key.lower()
        if low.startswith("aws:resourcetag/"):
            value = self.resource_tags.get(key[len("aws:ResourceTag/"):])
            return None if value is None else [value]
        if self.request_tags is not None:
            if low.startswith("aws:requesttag/"):
                value = self.request_tags.get(key[len("aws:RequestTag/"):])
                return None if value is None else [value]
            if low == "aws:tagkeys":
                return sorted(self.request_tags) or None
        return None

    def knows(self, key: str) -> bool:
        """Whether the request says anything about ``key`` (absent counts when complete)."""
        low = key.lower()
        return (self.complete or key in self.context or low.startswith("aws:resourcetag/")
                or (self.request_tags is not None
                    and (low.startswith("aws:requesttag/") or low == "aws:tagkeys")))


def _matches(base: str, expected: list[str], actual: str) -> bool:
    """Whether one request value satisfies the positive form of ``base`` against ``expected``."""
    if base in ("StringLike", "ArnLike", "ArnEquals"):
        return any(_glob(v, actual) for v in expected)
    return actual in expected


def _operator_holds(operator: str, expected: list[str], actual: list[str] | None) -> bool:
    qualifier = next((q for q in _QUALIFIERS if operator.startswith(q)), "")
    base = operator[len(qualifier):]
    if_exists = base.endswith("IfExists")
    base = base[: -len("IfExists")] if if_exists else base
    if base == "Null":
        want_absent = [v.lower() for v in expected] == ["true"]
        return (actual is None) == want_absent
    if base not in _STRING_OPERATORS:
        raise UnknownCondition(operator)
    negated = "Not" in base
    positive = base.replace("Not", "")
    if actual is None:
        if qualifier == "ForAllValues:":
            return True  # vacuously: no value fails
        if qualifier == "ForAnyValue:":
            return False
        return if_exists or negated  # AWS: a missing key fails positive operators
    if negated:
        one = [not _matches(positive, expected, a) for a in actual]
    else:
        one = [_matches(positive, expected, a) for a in actual]
    if qualifier == "ForAllValues:":
        return all(one)
    return any(one)  # single-valued keys have one value; ForAnyValue: at least one


def _condition_holds(condition: Mapping[str, Any], request: Request, unknown: bool) -> bool:
    """Every operator and key must hold. ``unknown`` is what a key the request does not
    describe (or an operator not understood on a partial request) counts as."""
    for operator, entries in condition.items():
        for key, expected in entries.items():
            if not request.knows(key):
                if not unknown:
                    return False
                continue
            try:
                holds = _operator_holds(operator, _as_list(expected), request.values(key))
            except UnknownCondition:
                if request.complete:
                    raise
                holds = unknown
            if not holds:
                return False
    return True


def statement_applies(st: Mapping[str, Any], request: Request) -> bool:
    """Whether ``st`` (either effect) matches the request: action, resource and condition."""
    if "NotAction" in st:
        if any(_glob(a, request.action, case_sensitive=False) for a in _as_list(st["NotAction"])):
            return False
    elif not any(_glob(a, request.action, case_sensitive=False) for a in _as_list(st.get("Action"))):
        return False
    if "NotResource" in st:
        if any(_glob(r, request.resource) for r in _as_list(st["NotResource"])):
            return False
    elif not any(_glob(r, request.resource) for r in _as_list(st.get("Resource"))):
        return False
    # An unknown condition is assumed to hold in an Allow and not to hold in a Deny: either
    # way it errs towards "allowed", so it never proves isolation.
    return _condition_holds(st.get("Condition") or {}, request,
                            unknown=st.get("Effect") != "Deny")


def statement_allows(st: Mapping[str, Any], request: Request) -> bool:
    """Kept for callers that evaluate one statement: true if it matches the request."""
    return statement_applies(st, request)


def allows(documents: list[Mapping[str, Any]], request: Request) -> bool:
    """True if some Allow statement matches and no Deny statement does."""
    sts = [s for d in documents for s in ([d["Statement"]] if isinstance(d.get("Statement"), dict)
                                          else d.get("Statement") or [])]
    if any(s.get("Effect") == "Deny" and statement_applies(s, request) for s in sts):
        return False
    return any(s.get("Effect") == "Allow" and statement_applies(s, request) for s in sts)


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
