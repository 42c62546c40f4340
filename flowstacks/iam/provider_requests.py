"""Turn the provider-call catalog into IAM evaluator requests for the resources of a manifest.

For each AWS resource of a stack's manifest (``flowstacks synth``'s ``manifest.json``) and each
:class:`~flowstacks.iam.provider_calls.Call` of its type: the ARN the action is authorised on,
the tags the resource already has (``aws:ResourceTag``; S3 objects: ``s3:ExistingObjectTag``),
and what the request carries (``aws:RequestTag``/``aws:TagKeys``, ``s3:RequestObjectTag``,
``iam:PassedToService``, ``s3:prefix``). The requests are *complete*: a key they do not carry is
absent, as AWS evaluates it. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from flowstacks.iam.evaluate import Request
from flowstacks.iam.provider_calls import CATALOG, NAMESPACE_TAG_KEYS, Call
from flowstacks.render.sfn import partition

TOKEN_TAG = "metaflow/production_token"


@dataclass(frozen=True)
class Subject:
    """A manifest resource as the provider sees it; ``tags`` are those its calls are judged by
    (a target's are its rule's, a role policy's its role's)."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.type.rsplit(':', 1)[-1]} {self.inputs.get('name') or self.name}"


def subjects(manifest: Mapping[str, Any]) -> list[Subject]:
    """Every resource of the manifest whose type the catalog covers."""
    resources = manifest["resources"]
    rule_tags = {r["inputs"]["name"]: r["inputs"].get("tags") or {} for r in resources
                 if r["type"] == "aws:cloudwatch/eventRule:EventRule"}
    role_tags = {r["inputs"]["name"]: r["inputs"].get("tags") or {} for r in resources
                 if r["type"] == "aws:iam/role:Role"}
    boundaries = {r["inputs"]["name"]: r["inputs"].get("permissionsBoundary") for r in resources
                  if r["type"] == "aws:iam/role:Role"}
    out = []
    for r in resources:
        if r["type"] not in CATALOG:
            continue
        inputs = r["inputs"]
        tags = inputs.get("tags") or {}
        if r["type"] == "aws:cloudwatch/eventTarget:EventTarget":
            tags = rule_tags.get(inputs["rule"], {})
        elif r["type"] == "aws:iam/rolePolicy:RolePolicy":
            tags = role_tags.get(inputs["role"], {})
            # a role policy's calls are judged by its role's boundary (iam:PermissionsBoundary)
            inputs = {**inputs, "permissionsBoundary": boundaries.get(inputs["role"])}
        out.append(Subject(r["type"], r["name"], inputs, tags))
    return out


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition(region)}:{service}:{region}:{account}:{resource}"


def target_arn(subject: Subject, target: str, region: str, account: str) -> str | None:
    """The ARN ``target`` names for ``subject`` (None when the input is not set)."""
    i, part = subject.inputs, partition(region)
    if target == "*":
        return "*"
    if target == "rule" or (target == "self" and subject.type.endswith(":EventRule")):
        return _arn("events", region, account, f"rule/{i['rule' if target == 'rule' else 'name']}")
    if target == "role":
        return f"arn:{part}:iam::{account}:role/{i['role']}"
    if target == "bucket":
        return f"arn:{part}:s3:::{i['bucket']}"
    if target == "revision":
        return _arn("batch", region, account, f"job-definition/{i['name']}:1")
    if target.startswith("passed:"):
        value: Any = i
        for step in target[len("passed:"):].split("."):
            value = json.loads(value) if isinstance(value, str) else value
            value = (value or {}).get(step)
        return value
    kind = subject.type
    if kind.endswith(":Role"):
        return f"arn:{part}:iam::{account}:role/{i['name']}"
    if kind.endswith(":Policy"):
        return f"arn:{part}:iam::{account}:policy/{i['name']}"
    if kind.endswith(":BucketObjectv2"):
        return f"arn:{part}:s3:::{i['bucket']}/{i['key']}"
    if kind.endswith(":StateMachine"):
        return _arn("states", region, account, f"stateMachine:{i['name']}")
    if kind.endswith(":JobDefinition"):
        return _arn("batch", region, account, f"job-definition/{i['name']}")
    if kind == "aws:dynamodb/table:Table":
        return _arn("dynamodb", region, account, f"table/{i['name']}")
    raise ValueError(f"no ARN for {target} of {subject.type}")


def applies(subject: Subject, call: Call) -> bool:
    """Whether ``call`` can happen for this resource (conditional calls by their circumstance)."""
    if not call.applies:
        return False
    if call.when == "inline-policies":
        return bool(subject.inputs.get("inlinePolicies"))
    return True


def requests(subject: Subject, call: Call, region: str, account: str, *,
             sent: Mapping[str, str] | None = None, changed: Mapping[str, str] | None = None,
             removed: tuple[str, ...] | None = None) -> Iterator[Request]:
    """The evaluator requests of one call: the request carries ``sent`` (default: the
    resource's own tags), ``changed`` tags on a tag update (default: a new production token),
    ``removed`` keys on an untag (default: a key that is not a namespace key)."""
    arn = target_arn(subject, call.target, region, account)
    if arn is None:
        return
    sent = dict(subject.tags if sent is None else sent)
    existing = {} if call.new or subject.type.endswith(":BucketObjectv2") else dict(subject.tags)
    context: dict[str, Any] = {}
    request_tags: dict[str, str] = {}
    if call.tags == "all":
        request_tags = sent
    elif call.tags == "changed":
        request_tags = dict(changed if changed is not None
                            else {TOKEN_TAG: f"{subject.tags.get(TOKEN_TAG, 'token')}-next"})
    elif call.tags == "removed":
        context["aws:TagKeys"] = tuple(removed if removed is not None else ("flowstacks/stack",))
    elif call.tags == "object":
        context.update({f"s3:RequestObjectTag/{k}": v for k, v in sent.items()})
        context["s3:RequestObjectTagKeys"] = tuple(sorted(sent))
    if subject.type.endswith(":BucketObjectv2") and not call.new:
        context.update({f"s3:ExistingObjectTag/{k}": v for k, v in subject.tags.items()})
    if call.target == "bucket":
        context["s3:prefix"] = subject.inputs["key"]
    if call.action.startswith("iam:") and subject.inputs.get("permissionsBoundary") and \
            call.target in ("self", "role"):
        # iam:PermissionsBoundary: the boundary the role has, or the one the request sets
        # (CreateRole, PutRolePermissionsBoundary); absent for a role without one
        context["iam:PermissionsBoundary"] = subject.inputs["permissionsBoundary"]
    for service in call.services or (None,):
        ctx = dict(context, **({"iam:PassedToService": service} if service else {}))
        yield Request(call.action, arn, {} if call.services else existing, request_tags, ctx,
                      complete=True)


def forged(subject: Subject, call: Call, region: str, account: str,
           tags: Mapping[str, str]) -> Iterator[Request]:
    """The same call on someone else's resource, the request relabelled with ``tags`` (another
    namespace's): its tags sent, its namespace tags as the changed ones, the namespace keys
    removed. Existing-resource calls only: what does not exist yet cannot be taken over."""
    if call.new:
        return iter(())
    return requests(subject, call, region, account, sent=tags,
                    changed={k: tags[k] for k in NAMESPACE_TAG_KEYS if k in tags},
                    removed=NAMESPACE_TAG_KEYS)
