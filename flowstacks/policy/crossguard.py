"""Adapters from the plain rules to CrossGuard's ``ResourceValidationPolicy`` (importable in tests:
nothing here constructs a ``PolicyPack``)."""

from __future__ import annotations

from typing import Any, Callable

from flowstacks.policy.rules import RULES, Resource, Rule, StackInfo

LEVELS = {"mandatory": "MANDATORY", "advisory": "ADVISORY", "disabled": "DISABLED"}


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> the stack name (= Metaflow branch)."""
    return urn.split("::", 1)[0].split(":", 2)[2]


def validator(rule: Rule) -> Callable[[Any, Callable[..., None]], None]:
    """A CrossGuard ``validate(args, report_violation)`` that runs one plain rule."""

    def validate(args: Any, report_violation: Callable[..., None]) -> None:
        stack = StackInfo(stack_of(args.urn))
        resource = Resource(args.resource_type, args.name, dict(args.props or {}))
        for message in rule.check(resource, stack):
            report_violation(message, args.urn)

    return validate


def resource_policies(policy_cls: type, levels: Any) -> list[Any]:
    return [
        policy_cls(name=rule.name, description=rule.description,
                   enforcement_level=getattr(levels, LEVELS[rule.level]), validate=validator(rule))
        for rule in RULES
    ]
