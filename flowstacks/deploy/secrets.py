"""Secrets from the stack's Pulumi config, substituted into rendered objects as Pulumi secrets.

Renderers are pure and never see a secret: they write ``secret_placeholder(name)`` where it goes.
Components, and only they, replace the placeholder by the value, inside ``Output.secret`` so that
Pulumi encrypts it in state and masks it in previews and exports. Reviewer artifacts keep the
placeholder. Metaflow itself writes the service auth key into definitions in plain text.

The secrets are read once per stack (:func:`secret_inputs`, into the stack's options) and handed
to each component that reveals them.
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi

from flowstacks.model.deployment import secret_placeholder

SECRET_NAMES = ("serviceAuthKey",)  # flowstacks:serviceAuthKey -> METAFLOW_SERVICE_HEADERS x-api-key
Secrets = Mapping[str, pulumi.Output[str]]


def secret_inputs(config: pulumi.Config) -> dict[str, pulumi.Output[str]]:
    """The secrets this stack's config sets (``pulumi config set --secret flowstacks:<name>``)."""
    found = {}
    for name in SECRET_NAMES:
        value = config.get_secret(name)
        if value is not None:
            found[name] = value
    return found


def substitute(value: Any, secrets: Mapping[str, str]) -> Any:
    """``value`` with each secret's placeholder replaced by the secret (plain values)."""
    if isinstance(value, str):
        for name, secret in secrets.items():
            value = value.replace(secret_placeholder(name), secret)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, secrets) for v in value]
    return value


def _mentions(value: Any, placeholders: list[str]) -> bool:
    if isinstance(value, str):
        return any(p in value for p in placeholders)
    if isinstance(value, dict):
        return any(_mentions(v, placeholders) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, placeholders) for v in value)
    return False


def reveal(value: Any, secrets: Secrets) -> Any:
    """``value`` with every secret placeholder replaced, as a secret Output; unchanged when it
    mentions no configured secret. ``value`` may be plain data or an Output."""
    if not secrets or (not isinstance(value, pulumi.Output)
                       and not _mentions(value, [secret_placeholder(n) for n in secrets])):
        return value
    names = list(secrets)

    def fill(args: list[Any]) -> Any:
        plain, *values = args
        return substitute(plain, dict(zip(names, values)))

    return pulumi.Output.secret(pulumi.Output.all(pulumi.Output.from_input(value),
                                                  *secrets.values()).apply(fill))
