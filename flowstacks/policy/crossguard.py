"""Adapters from the plain rules to CrossGuard's ``ResourceValidationPolicy`` (importable in tests:
nothing here constructs a ``PolicyPack``).

Naming settings: a resource validation sees one resource, not the stack's outputs, so the rules
that check names (:attr:`Rule.reads_names`) take the stack's naming settings from their policy
config, with the keys of the stack output ``naming`` (:mod:`flowstacks.naming.settings`). A stack
whose config sets ``aws.state_machine_prefix`` runs the pack with, for example::

    pulumi preview --policy-pack infra/policypack --policy-pack-config policy-config.json
    # policy-config.json
    {"names-in-namespace": {"state_machine_prefix": "Team"},
     "targets-own-namespace": {"state_machine_prefix": "Team"}}

Without it the names of such a stack are mandatory violations (the pack fails closed), and the
message says where the prefix goes. ``flowstacks check`` reads the same settings from the
manifest's ``naming`` output, so both agree for the same settings.
"""

from __future__ import annotations

from typing import Any, Callable

from flowstacks.naming.settings import PREFIX_KEY, TOKEN_INDEX_KEY, NamingSettings
from flowstacks.policy.rules import RULES, Resource, Rule, StackInfo

LEVELS = {"mandatory": "MANDATORY", "advisory": "ADVISORY", "disabled": "DISABLED"}
# The policy config of the rules that read names: the keys of the stack output `naming`.
NAMING_CONFIG = {
    PREFIX_KEY: {"type": "string", "description": "aws.state_machine_prefix of the stack's config"},
    TOKEN_INDEX_KEY: {"type": "integer", "minimum": 0,
                      "description": "flowstacks:productionTokenIndex of the stack"},
}


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> the stack name (= Metaflow branch)."""
    return urn.split("::", 1)[0].split(":", 2)[2]


def stack_info(args: Any) -> StackInfo:
    """The stack of a validated resource, with the naming settings of the policy config."""
    get_config = getattr(args, "get_config", None)
    return StackInfo(stack_of(args.urn), NamingSettings.from_exported(get_config() if get_config else {}))


def validator(rule: Rule) -> Callable[[Any, Callable[..., None]], None]:
    """A CrossGuard ``validate(args, report_violation)`` that runs one plain rule."""

    def validate(args: Any, report_violation: Callable[..., None]) -> None:
        resource = Resource(args.resource_type, args.name, dict(args.props or {}))
        for message in rule.check(resource, stack_info(args)):
            report_violation(message, args.urn)

    return validate


def resource_policies(policy_cls: type, levels: Any, schema_cls: type | None = None) -> list[Any]:
    """One ``policy_cls`` per rule; with ``schema_cls`` (``PolicyConfigSchema``), the rules
    that read names declare the naming settings as their policy config."""
    policies = []
    for rule in RULES:
        extra = {}
        if schema_cls is not None and rule.reads_names:
            extra["config_schema"] = schema_cls(properties=NAMING_CONFIG)
        policies.append(policy_cls(
            name=rule.name, description=rule.description,
            enforcement_level=getattr(levels, LEVELS[rule.level]), validate=validator(rule), **extra))
    return policies
