"""What the flows' ``@secrets`` read at run time, and the grants that allows exactly (pure).

Metaflow 2.19.39 resolves each source of ``@secrets(sources=[...], role=...)`` in the task
(``plugins/secrets/secrets_spec.py``, ``secrets_decorator.py``): a string ``"<type>.<id>"`` or
``"<id>"`` (the first dot splits; no dot: ``METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE``), or a dict
``{"type", "id", "options", "role"}``. The AWS Secrets Manager provider
(``plugins/aws/secrets_manager/aws_secrets_manager_secrets_provider.py``) reads the secret
``id`` (a name or an ARN) in the ARN's region, else ``options["region"]``, else
``METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION``, else the task's own region, after assuming the
source's (or the decorator's) ``role`` when there is one.

So the task role gets ``secretsmanager:GetSecretValue`` on exactly those secrets (a name becomes
``arn:...:secret:<name>-??????``: Secrets Manager appends 6 random characters to every secret's
ARN), or ``sts:AssumeRole`` on the role that reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from flowstacks.errors import FlowstacksError
from flowstacks.model.deployment import StackContext
from flowstacks.model.flow import Flow, Step

AWS_SECRETS_MANAGER = "aws-secrets-manager"
# plugins/__init__.py SECRETS_PROVIDERS_DESC: the backends Metaflow itself knows
KNOWN_BACKENDS = ("inline", AWS_SECRETS_MANAGER, "gcp-secret-manager", "az-key-vault")
_SECRET_ARN = re.compile(r"^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$")
# the characters Secrets Manager allows in a secret name (no IAM wildcard among them)
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")


@dataclass(frozen=True)
class SecretSource:
    """One ``@secrets`` source as the task will read it."""

    backend: str
    secret_id: str
    region: str | None  # options["region"]
    role: str | None  # assumed before reading
    where: str  # flow file (Flow) step, for errors


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else (
        "aws-us-gov" if region.startswith("us-gov-") else "aws")


def step_sources(flow: Flow, step: Step, default_backend: str | None) -> list[SecretSource]:
    """The sources of ``step``'s ``@secrets``, each with its backend resolved as the task will."""
    deco = step.decorator("secrets")
    if deco is None:
        return []
    where = f"{flow.file} ({flow.name}) step {step.name}"
    role = deco.attributes.get("role")
    out = []
    for spec in deco.attributes.get("sources") or []:
        out.append(_source(spec, role, default_backend, where))
    return out


def _source(spec: Any, role: Any, default_backend: str | None, where: str) -> SecretSource:
    options: dict[str, Any] = {}
    if isinstance(spec, str):
        kind, _, rest = spec.partition(".")
        backend, secret_id = (kind, rest) if rest else (None, spec)
        if backend is not None and backend not in KNOWN_BACKENDS:
            raise FlowstacksError(
                f"@secrets source {spec!r} names the secrets backend {backend!r} (the part before "
                "the first dot), which Metaflow does not know", where=where,
                hint=f"write {{'type': '{AWS_SECRETS_MANAGER}', 'id': {spec!r}}} for a name "
                "with a dot")
    elif isinstance(spec, dict):
        backend, secret_id = spec.get("type"), spec.get("id")
        options = spec.get("options") or {}
        role = spec.get("role", role)
        if not isinstance(secret_id, str) or not isinstance(options, dict):
            raise FlowstacksError(f"@secrets source {spec!r}: 'id' must be a string and "
                                  "'options' a dict", where=where)
    else:
        raise FlowstacksError(f"@secrets source {spec!r} is neither a string nor a dict",
                              where=where)
    backend = backend or default_backend
    if backend is None:
        raise FlowstacksError(
            f"@secrets source {spec!r} has no backend type and no default secrets backend is "
            "configured (Metaflow: 'No default secrets backend type configured')", where=where,
            hint="set platform=Platform(secrets_backend='aws-secrets-manager') or "
            "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE")
    if role is not None and not (isinstance(role, str) and _ROLE_ARN.match(role)):
        raise FlowstacksError(f"@secrets role {role!r} is not an IAM role ARN", where=where)
    region = options.get("region")
    return SecretSource(backend, secret_id.strip(), str(region) if region else None, role, where)


def secret_arn(ctx: StackContext, source: SecretSource) -> str:
    """The ARN (pattern) IAM matches for the secret the task reads."""
    if _SECRET_ARN.match(source.secret_id):
        return source.secret_id
    if not _SECRET_NAME.match(source.secret_id):
        raise FlowstacksError(f"@secrets id {source.secret_id!r} is not a Secrets Manager secret "
                              "name or ARN", where=source.where)
    aws, platform = ctx.config.aws, ctx.platform
    region = source.region or platform.secrets_region or aws.region
    return (f"arn:{_partition(region)}:secretsmanager:{region}:{aws.account_id}:secret:"
            f"{source.secret_id}-??????")


@dataclass(frozen=True)
class SecretGrants:
    """What the namespace's task role needs for the flows' ``@secrets``."""

    secrets: tuple[str, ...]  # secretsmanager:GetSecretValue
    roles: tuple[str, ...]  # sts:AssumeRole (a role that reads the secret instead)


def secret_grants(ctx: StackContext, flows: Iterable[Flow] | None = None) -> SecretGrants:
    """The Secrets Manager secrets and roles the flows of ``ctx`` (or ``flows``) read."""
    secrets, roles = set(), set()
    flows = [fd.flow for fd in ctx.flows] if flows is None else list(flows)
    for flow in flows:
        for step in flow.steps:
            for source in step_sources(flow, step, ctx.platform.secrets_backend):
                if source.backend != AWS_SECRETS_MANAGER:
                    continue  # another cloud's backend, or inline: nothing to grant in AWS
                arn = secret_arn(ctx, source)
                if source.role:
                    roles.add(source.role)
                else:
                    secrets.add(arn)
    return SecretGrants(tuple(sorted(secrets)), tuple(sorted(roles)))
