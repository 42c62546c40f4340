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

Unknowns and secrets: CrossGuard hands a validation the inputs behind proxies that raise
``UnknownValueError`` when an unknown value (an output not created yet, in a preview) is read;
left uncaught, the whole policy is skipped for that resource. :func:`plain_inputs` reads them
value by value instead: an unknown becomes :data:`~flowstacks.policy.rules.UNKNOWN`, so only the
checks that need it find nothing, and a mandatory check that does not need it still runs.
Secrets arrive as their plaintext (CrossGuard unwraps them before validation) and are checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

from pulumi_policy.proxy import UnknownValueError

from flowstacks.naming.settings import PREFIX_KEY, TOKEN_INDEX_KEY, USER_KEY, NamingSettings
from flowstacks.naming.stacks import USER_SETTING
from flowstacks.policy.rules import RULES, UNKNOWN, Resource, Rule, StackInfo, is_provider

LEVELS = {"mandatory": "MANDATORY", "advisory": "ADVISORY", "disabled": "DISABLED"}
# The policy config of the rules that read names: the keys of the stack output `naming`.
NAMING_CONFIG = {
    PREFIX_KEY: {"type": "string", "description": "aws.state_machine_prefix of the stack's config"},
    TOKEN_INDEX_KEY: {"type": "integer", "minimum": 0,
                      "description": "flowstacks:productionTokenIndex of the stack"},
    USER_KEY: {"type": "string",
               "description": "flowstacks:metaflowUser of a developer stack (default: the stack's config)"},
}


# CrossGuard's unknown sentinels (pulumi_policy.proxy): a plain dict of inputs (a test, a
# caller without the proxy) still has them as strings.
UNKNOWN_SENTINELS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58", "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
})


def _item(container: Any, key: Any) -> Any:
    try:
        return plain_inputs(container[key])
    except UnknownValueError:  # the proxy's way of saying "unknown during preview"
        return UNKNOWN


def plain_inputs(value: Any) -> Any:
    """CrossGuard's (proxied) inputs as plain dicts and lists, unknowns as ``UNKNOWN``."""
    if isinstance(value, str):
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _item(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_item(value, i) for i in range(len(value))]
    return value


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> the Pulumi stack name (the Metaflow
    branch, unless a developer stack records its Metaflow user: :class:`StackInfo`)."""
    return urn.split("::", 1)[0].split(":", 2)[2]


def stack_setting(stack: str, key: str) -> str | None:
    """A setting of the analysed stack's config. The Pulumi CLI starts a policy pack with the
    stack's config in ``PULUMI_CONFIG`` and the stack in ``PULUMI_STACK`` (pulumi/pulumi
    sdk/go/common/resource/plugin/analyzer_plugin.go, ``constructEnv``), which pulumi_policy hands
    to ``pulumi.runtime`` before each validation (``_configure_runtime_settings``). Read only when
    the runtime's stack is the resource's: a process that ran another stack's program (a test)
    holds that stack's config."""
    import pulumi
    import pulumi.runtime

    if pulumi.get_stack() != stack:
        return None
    return pulumi.runtime.get_config(key) or None


def stack_info(args: Any) -> StackInfo:
    """The stack of a validated resource, with the naming settings of the policy config; the
    Metaflow user of a developer stack, when the policy config does not give it, from the
    stack's own config (``flowstacks:metaflowUser``, as the program reads it)."""
    get_config = getattr(args, "get_config", None)
    settings = dict(get_config() if get_config else {})
    stack = stack_of(args.urn)
    if not settings.get(USER_KEY):
        settings[USER_KEY] = stack_setting(stack, USER_SETTING)
    return StackInfo(stack, NamingSettings.from_exported(settings))


def validator(rule: Rule) -> Callable[[Any, Callable[..., None]], None]:
    """A CrossGuard ``validate(args, report_violation)`` that runs one plain rule."""

    def validate(args: Any, report_violation: Callable[..., None]) -> None:
        if is_provider(args.resource_type):  # as offline check: providers are not checked
            return
        resource = Resource(args.resource_type, args.name, plain_inputs(args.props or {}))
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
