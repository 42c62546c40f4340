"""Pure IAM policy-document builders shared by every backend (no pulumi, no I/O).

A role is written for reviewers to ``OUT/<stack>/iam/<role>.json`` as
``{"role", "assumeRolePolicy", "policies": {name: document}, "tags"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowstacks.model.deployment import StackContext
from flowstacks.render.artifact import Artifact
from flowstacks.render.metaflow_runtime import CARD_SUFFIX, DATATOOLS_SUFFIX
from flowstacks.render.serialize import canonical_json

VERSION = "2012-10-17"
ROLE_NAME_LIMIT = 64  # IAM role names: at most 64 characters


def statement(sid: str, actions: list[str], resources: list[str],
              condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """One Allow statement; actions and resources sorted and de-duplicated (deterministic)."""
    st: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": sorted(set(resources)),
    }
    if condition:
        st["Condition"] = condition
    return st


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}


def service_trust(service: str, account_id: str | None = None) -> dict[str, Any]:
    """Trust policy admitting exactly one AWS service principal (optionally this account only)."""
    st: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if account_id:
        st["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return {"Version": VERSION, "Statement": [st]}


def irsa_trust(oidc_provider_arn: str, namespace: str, service_account: str) -> dict[str, Any]:
    """IRSA trust policy: exactly one Kubernetes service account through the OIDC provider."""
    issuer = oidc_provider_arn.split(":oidc-provider/", 1)[1]
    return {
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{issuer}:aud": "sts.amazonaws.com",
            }},
        }],
    }


def datastore_statements(ctx: StackContext) -> list[dict[str, Any]]:
    """What a Metaflow task needs of the datastore: objects under the root (flows of this
    project only), listing of those prefixes, and bucket location."""
    aws = ctx.config.aws
    bucket = aws.datastore_bucket
    prefix = f"{aws.datastore_prefix}/" if aws.datastore_prefix else ""
    flow_prefixes = sorted({f"{prefix}{f.flow.name}" for f in ctx.flows})
    objects = [f"arn:aws:s3:::{bucket}/{p}/*" for p in flow_prefixes]
    # metaflow's datatools root (METAFLOW_DATATOOLS_S3ROOT) and cards live beside the flows
    tools = [f"{prefix}{DATATOOLS_SUFFIX}/*", f"{prefix}{CARD_SUFFIX}/*"]
    objects += [f"arn:aws:s3:::{bucket}/{t}" for t in tools]
    listed = [f"{p}/*" for p in flow_prefixes] + tools
    return [
        statement("DatastoreObjects", ["s3:GetObject", "s3:PutObject"], objects),
        statement("DatastoreList", ["s3:ListBucket"], [f"arn:aws:s3:::{bucket}"],
                  {"StringLike": {"s3:prefix": sorted(listed)}}),
        statement("DatastoreLocation", ["s3:GetBucketLocation"], [f"arn:aws:s3:::{bucket}"]),
    ]


def role_name(ctx: StackContext, purpose: str) -> str:
    """``mf-<token prefix hash>-<purpose>``: unique per namespace, under IAM's 64 characters,
    and traceable to the namespace through its token prefix (not the secret part)."""
    name = f"{ctx.token_prefix}-{purpose}"
    if len(name) > ROLE_NAME_LIMIT:
        raise ValueError(f"role name {name!r} is longer than {ROLE_NAME_LIMIT}")
    return name


@dataclass(frozen=True)
class RoleDocument:
    """A role as reviewers read it and as the component creates it."""

    name: str
    assume_role_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def artifact(self) -> Artifact:
        return Artifact(f"iam/{self.name}.json", canonical_json({
            "role": self.name,
            "assumeRolePolicy": self.assume_role_policy,
            "policies": self.policies,
            "tags": self.tags,
        }))
