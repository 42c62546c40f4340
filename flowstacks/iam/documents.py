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


def datastore_prefixes(root: str, flows: list[str]) -> list[str]:
    """The key prefixes (``<prefix>/...``, no bucket) Metaflow tasks of ``flows`` write under a
    datastore root: ``<root>/<Flow>/`` (runs, artifacts, code packages: the flow datastore),
    ``<root>/data/<Flow>/`` (``S3(run=...)`` and ``IncludeFile`` uploads under
    ``DATATOOLS_S3ROOT``: plugins/datatools/s3/s3.py, includefile.py) and
    ``<root>/mf.cards/<Flow>/`` (cards under ``CARD_S3ROOT``: plugins/cards/card_datastore.py)."""
    rest = root[len("s3://"):].split("/", 1)
    prefix = f"{rest[1].strip('/')}/" if len(rest) > 1 and rest[1].strip("/") else ""
    out = []
    for flow in sorted(set(flows)):
        out += [f"{prefix}{flow}/", f"{prefix}{DATATOOLS_SUFFIX}/{flow}/",
                f"{prefix}{CARD_SUFFIX}/{flow}/"]
    return out


def _bucket(root: str) -> str:
    return root[len("s3://"):].split("/", 1)[0]


def datastore_statements(ctx: StackContext) -> list[dict[str, Any]]:
    """What a Metaflow task needs of the datastore: objects of this project's flows under the
    namespace's own root (``aws.datastore_root``, :func:`flowstacks.model.platform.
    namespace_datastore_root`), listing of those prefixes, and bucket location; with
    ``read_prod_datastore`` on a test/user stack, read-only access to the same flows' objects
    under prod's roots (never a write)."""
    aws = ctx.config.aws
    bucket = aws.datastore_bucket
    flows = [f.flow.name for f in ctx.flows]
    prefixes = datastore_prefixes(aws.datastore_root, flows)
    out = [
        statement("DatastoreObjects", ["s3:GetObject", "s3:PutObject"],
                  [f"arn:aws:s3:::{bucket}/{p}*" for p in prefixes]),
        statement("DatastoreList", ["s3:ListBucket"], [f"arn:aws:s3:::{bucket}"],
                  {"StringLike": {"s3:prefix": sorted(f"{p}*" for p in prefixes)}}),
    ]
    buckets = {bucket}
    for i, root in enumerate(ctx.platform.prod_datastore_roots):
        prod_bucket, prod_prefixes = _bucket(root), datastore_prefixes(root, flows)
        buckets.add(prod_bucket)
        out += [
            statement(f"ReadProdObjects{i}", ["s3:GetObject"],
                      [f"arn:aws:s3:::{prod_bucket}/{p}*" for p in prod_prefixes]),
            statement(f"ListProd{i}", ["s3:ListBucket"], [f"arn:aws:s3:::{prod_bucket}"],
                      {"StringLike": {"s3:prefix": sorted(f"{p}*" for p in prod_prefixes)}}),
        ]
    out.append(statement("DatastoreLocation", ["s3:GetBucketLocation"],
                         [f"arn:aws:s3:::{b}" for b in sorted(buckets)]))
    return out


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
    # The namespace's boundary policy ARN (flowstacks/iam/boundary.py); None for the deployer
    # role, which the bootstrap creates.
    permissions_boundary: str | None = None

    def artifact(self) -> Artifact:
        body: dict[str, Any] = {
            "role": self.name,
            "assumeRolePolicy": self.assume_role_policy,
            "policies": self.policies,
            "tags": self.tags,
        }
        if self.permissions_boundary:
            body["permissionsBoundary"] = self.permissions_boundary
        return Artifact(f"iam/{self.name}.json", canonical_json(body))
