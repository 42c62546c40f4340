"""The AWS API calls the Pulumi AWS provider makes for each resource type flowstacks creates.

pulumi-aws 7.51.1 (pinned in pyproject.toml) bridges the upstream Terraform AWS provider v6.x:
a Pulumi create, read (also ``pulumi refresh``), update and delete run that provider's CRUD
functions, and its CustomizeDiff runs at preview. Every entry below names the upstream source
file it was read from (``SOURCES``; docs/provider-calls.md has the table). The deployer role
(:mod:`flowstacks.iam.deployer`) is proved against this catalog by
``tests/reliability/test_deployer_calls.py``.

Fields of a :class:`Call`:

- ``phase``: ``preview`` (plan time), ``create``, ``read`` (after every create and update, and on
  refresh), ``update``, ``update-tags`` (the provider's tagging interceptor, before the update
  handler, only when tags changed) or ``delete``;
- ``target``: which ARN the IAM action is authorised on: ``self`` (the resource), ``rule`` (the
  EventBridge rule of a target), ``role`` (the role of a role policy), ``bucket``, ``revision``
  (a job definition revision), ``passed:<input>`` (a role ARN in that input, for
  ``iam:PassRole``) or ``*`` (the action supports no resource-level permission);
- ``tags``: what the request carries for tag conditions: ``all`` (every tag of the resource, as
  ``aws:RequestTag``), ``none``, ``changed`` (only added/changed tags), ``removed`` (only the
  keys of removed tags, as ``aws:TagKeys``) or ``object`` (S3 ``x-amz-tagging``: every tag, as
  ``s3:RequestObjectTag``);
- ``when``: empty if the call is always made in its phase, else the circumstance (see ``WHEN``).
"""

from __future__ import annotations

from dataclasses import dataclass

UPSTREAM = "hashicorp/terraform-provider-aws"

# key -> (path in UPSTREAM, the stored revision the entries were read from). Several files were
# read in the version the code index returned; each is recent enough for the calls listed
# (aws-sdk-go-v2 era) unless noted in docs/provider-calls.md.
SOURCES: dict[str, tuple[str, str]] = {
    "tags": ("internal/provider/sdkv2/tags_interceptor.go", "2c53338d0ee302f0b27030251ca3abdcb2ef75d1"),
    "events-tags": ("internal/service/events/tags_gen.go", "050ac11163cab8cdae5936a7f40b0e528ff780df"),
    "rule": ("internal/service/events/rule.go", "0cdab4ae09a963535e03dde0bff4784afe8e3517"),
    "target": ("internal/service/events/target.go", "0762c41e2027fcd3cb8340d3e6886c6975fc0a59"),
    "role": ("internal/service/iam/role.go", "index id 1880669110 (aws-sdk-go-v2)"),
    "role-policy": ("internal/service/iam/role_policy.go", "02f97af85f89a04e8ed89f5e8b64a9a67f3cfe07"),
    "object": ("internal/service/s3/object.go", "index id 2139561556 (aws-sdk-go-v2)"),
    "object-tags": ("internal/service/s3/tags.go", "index id 1394277661 (objectListTags, objectUpdateTags)"),
    "object-delete": ("internal/service/s3/delete.go", "index id 3026975771 (deleteAllObjectVersions)"),
    "state-machine": ("internal/service/sfn/state_machine.go", "index id 3802237153 (meta any: v6)"),
    "job-definition": ("internal/service/batch/job_definition.go", "index id 3533886966 (meta any: v6)"),
    # aws_iam_policy (the namespace's permissions boundary, issue 16): the calls of the IAM API
    # a managed policy's lifecycle takes; not re-read from the provider's source in this change.
    "policy": ("internal/service/iam/policy.go", "not re-read: IAM API of managed policies"),
    # aws_dynamodb_table (a Step Functions namespace's foreach-state table, issue 16): read in the
    # version the code index returned (aws-sdk-go v1 era); the calls for a table without
    # replicas, streams, indexes or point-in-time recovery are CreateTable, DescribeTable (wait),
    # UpdateTimeToLive/DescribeTimeToLive (ttl enabled), DescribeContinuousBackups, ListTags,
    # UpdateTable, DeleteTable.
    "table": ("internal/service/dynamodb/table.go", "index id 46863010997 (aws-sdk-go v1)"),
    # Not provider source: AWS documentation of implicit authorisation (see docs/provider-calls.md).
    "aws-docs": ("AWS documentation: implicit authorisation", "not provider source"),
}

# Circumstances of conditional calls. ``APPLIES`` are those the deployer must be ready for (the
# example project may meet them in a real account); the others cannot occur for what flowstacks
# creates, or belong to settings flowstacks does not have yet.
WHEN: dict[str, str] = {
    "no-tags-on-update": "providers before terraform-provider-aws 5.72 (PR 39648) and partitions "
                         "without tag-on-update send PutRule on update without tags",
    "inline-policies": "the role has inline policies (the deployer role itself)",
    "multipart": "object larger than the uploader's 5 MiB part size (manager.Uploader)",
    "upload-failed": "a multipart upload failed and is aborted",
    "versioned-bucket": "the bucket is versioned (version_id set): MWAA requires it for DAGs",
    "fargate": "FARGATE job definitions (executionRoleArn)",
    "tag-on-create": "AWS authorises the tags of a create request as a TagResource/TagRole of "
                     "the new resource (documented for IAM; not confirmed for EventBridge, Step "
                     "Functions and Batch, so the deployer is proved ready for it)",
    "partition-fallback": "partitions without tag-on-create (ISO): create untagged, then tag",
    "managed-policies": "managed_policy_arns set (flowstacks sets none)",
    "description": "a role description is set or changed (flowstacks sets none)",
    "max-session": "a role's max_session_duration is changed (flowstacks sets none)",
    "permissions-boundary": "a role's permissions_boundary is set or changed (every role of a "
                            "namespace carries the namespace's boundary)",
    "boundary-removed": "a role's permissions_boundary is removed (flowstacks never removes it; "
                        "the deployer is denied it)",
    "policy-versions": "a managed policy already has 5 versions: the oldest is deleted first",
    "all-tags-removed": "every tag of an S3 object removed (flowstacks always tags)",
    "sse-kms": "the object is SSE-KMS encrypted: HeadObject returns a key id and the provider "
               "describes alias/aws/s3 (KMS settings are not in flowstacks' config yet)",
}
APPLIES = frozenset({"", "no-tags-on-update", "tag-on-create", "inline-policies", "multipart", "upload-failed",
                     "versioned-bucket", "fargate", "permissions-boundary", "policy-versions"})


@dataclass(frozen=True)
class Call:
    """One API call of the provider for one resource type (see the module docstring)."""

    phase: str
    api: str
    action: str
    target: str
    tags: str
    source: str
    when: str = ""
    services: tuple[str, ...] = ()  # iam:PassedToService values, for iam:PassRole
    new: bool = False  # the call creates the resource: it has no tags yet (no aws:ResourceTag)

    @property
    def applies(self) -> bool:
        return self.when in APPLIES


_EVENTS_PASS = ("events.amazonaws.com",)
_STATES_PASS = ("states.amazonaws.com",)
# Whether Batch checks iam:PassRole at RegisterJobDefinition, and with which service, is not
# in the provider's source nor in the service authorization data parliament ships: the catalog
# asks for it with either value, so the grant is proved whichever Batch uses.
_BATCH_PASS = ("batch.amazonaws.com", "ecs-tasks.amazonaws.com")

def _tag_updates(service: str, source: str, target: str = "self") -> tuple[Call, Call]:
    """The tagging interceptor's UpdateTags: removed keys first, then added/changed tags."""
    return (Call("update-tags", "UntagResource", f"{service}:UntagResource", target, "removed", source),
            Call("update-tags", "TagResource", f"{service}:TagResource", target, "changed", source))

CATALOG: dict[str, tuple[Call, ...]] = {
    "aws:cloudwatch/eventRule:EventRule": (
        Call("create", "PutRule", "events:PutRule", "self", "all", "rule", new=True),
        Call("create", "PutRule Tags", "events:TagResource", "self", "all", "aws-docs", "tag-on-create",
             new=True),
        Call("create", "DescribeRule (wait for the rule)", "events:DescribeRule", "self", "none", "rule"),
        Call("create", "PutRule without tags", "events:PutRule", "self", "none", "rule",
             "partition-fallback", new=True),
        Call("create", "TagResource after create", "events:TagResource", "self", "all", "rule",
             "partition-fallback"),
        Call("read", "DescribeRule", "events:DescribeRule", "self", "none", "rule"),
        Call("read", "ListTagsForResource", "events:ListTagsForResource", "self", "none", "tags"),
        Call("update", "PutRule (with tags_all, for ABAC)", "events:PutRule", "self", "all", "rule"),
        Call("update", "PutRule without tags", "events:PutRule", "self", "none", "rule",
             "no-tags-on-update"),
        *_tag_updates("events", "events-tags"),
        Call("delete", "DeleteRule", "events:DeleteRule", "self", "none", "rule"),
    ),
    "aws:cloudwatch/eventTarget:EventTarget": (
        Call("create", "PutTargets", "events:PutTargets", "rule", "none", "target"),
        Call("create", "PutTargets RoleArn", "iam:PassRole", "passed:roleArn", "none", "aws-docs",
             services=_EVENTS_PASS),
        Call("read", "ListTargetsByRule", "events:ListTargetsByRule", "rule", "none", "target"),
        Call("update", "PutTargets", "events:PutTargets", "rule", "none", "target"),
        Call("update", "PutTargets RoleArn", "iam:PassRole", "passed:roleArn", "none", "aws-docs",
             services=_EVENTS_PASS),
        Call("delete", "RemoveTargets", "events:RemoveTargets", "rule", "none", "target"),
    ),
    "aws:iam/role:Role": (
        Call("create", "CreateRole", "iam:CreateRole", "self", "all", "role", new=True),
        Call("create", "CreateRole Tags", "iam:TagRole", "self", "all", "aws-docs", "tag-on-create",
             new=True),
        Call("create", "PutRolePolicy (inline_policy)", "iam:PutRolePolicy", "self", "none", "role",
             "inline-policies"),
        Call("create", "AttachRolePolicy", "iam:AttachRolePolicy", "self", "none", "role",
             "managed-policies"),
        Call("create", "TagRole after create", "iam:TagRole", "self", "all", "role",
             "partition-fallback"),
        Call("read", "GetRole", "iam:GetRole", "self", "none", "role"),
        Call("read", "ListRolePolicies", "iam:ListRolePolicies", "self", "none", "role"),
        Call("read", "GetRolePolicy (each inline policy)", "iam:GetRolePolicy", "self", "none", "role"),
        Call("read", "ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", "self", "none", "role"),
        Call("update", "UpdateAssumeRolePolicy", "iam:UpdateAssumeRolePolicy", "self", "none", "role"),
        Call("update", "UpdateRoleDescription", "iam:UpdateRoleDescription", "self", "none", "role",
             "description"),
        Call("update", "UpdateRole (max_session_duration)", "iam:UpdateRole", "self", "none", "role",
             "max-session"),
        Call("update", "PutRolePermissionsBoundary", "iam:PutRolePermissionsBoundary", "self",
             "none", "role", "permissions-boundary"),
        Call("update", "DeleteRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "self",
             "none", "role", "boundary-removed"),
        Call("update", "DeleteRolePolicy (inline_policy)", "iam:DeleteRolePolicy", "self", "none",
             "role", "inline-policies"),
        Call("update", "PutRolePolicy (inline_policy)", "iam:PutRolePolicy", "self", "none", "role",
             "inline-policies"),
        Call("update-tags", "UntagRole", "iam:UntagRole", "self", "removed", "tags"),
        Call("update-tags", "TagRole", "iam:TagRole", "self", "changed", "tags"),
        Call("delete", "ListInstanceProfilesForRole", "iam:ListInstanceProfilesForRole", "self",
             "none", "role"),
        Call("delete", "ListRolePolicies", "iam:ListRolePolicies", "self", "none", "role",
             "inline-policies"),
        Call("delete", "DeleteRolePolicy", "iam:DeleteRolePolicy", "self", "none", "role",
             "inline-policies"),
        Call("delete", "ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", "self", "none",
             "role", "managed-policies"),
        Call("delete", "DeleteRole", "iam:DeleteRole", "self", "none", "role"),
    ),
    "aws:iam/rolePolicy:RolePolicy": (
        Call("create", "PutRolePolicy", "iam:PutRolePolicy", "role", "none", "role-policy"),
        Call("create", "GetRolePolicy (wait)", "iam:GetRolePolicy", "role", "none", "role-policy"),
        Call("read", "GetRolePolicy", "iam:GetRolePolicy", "role", "none", "role-policy"),
        Call("update", "PutRolePolicy", "iam:PutRolePolicy", "role", "none", "role-policy"),
        Call("delete", "DeleteRolePolicy", "iam:DeleteRolePolicy", "role", "none", "role-policy"),
    ),
    "aws:iam/policy:Policy": (
        Call("create", "CreatePolicy", "iam:CreatePolicy", "self", "all", "policy", new=True),
        Call("read", "GetPolicy", "iam:GetPolicy", "self", "none", "policy"),
        Call("read", "GetPolicyVersion", "iam:GetPolicyVersion", "self", "none", "policy"),
        Call("read", "ListPolicyTags", "iam:ListPolicyTags", "self", "none", "policy"),
        Call("update", "ListPolicyVersions", "iam:ListPolicyVersions", "self", "none", "policy"),
        Call("update", "DeletePolicyVersion", "iam:DeletePolicyVersion", "self", "none", "policy",
             "policy-versions"),
        Call("update", "CreatePolicyVersion", "iam:CreatePolicyVersion", "self", "none", "policy"),
        Call("update-tags", "UntagPolicy", "iam:UntagPolicy", "self", "removed", "tags"),
        Call("update-tags", "TagPolicy", "iam:TagPolicy", "self", "changed", "tags"),
        Call("delete", "ListPolicyVersions", "iam:ListPolicyVersions", "self", "none", "policy"),
        Call("delete", "DeletePolicy", "iam:DeletePolicy", "self", "none", "policy"),
    ),
    "aws:s3/bucketObjectv2:BucketObjectv2": (
        Call("create", "PutObject (x-amz-tagging)", "s3:PutObject", "self", "object", "object",
             new=True),
        Call("create", "PutObject with x-amz-tagging", "s3:PutObjectTagging", "self", "object",
             "aws-docs", new=True),
        Call("create", "CreateMultipartUpload (x-amz-tagging)", "s3:PutObject", "self", "object",
             "object", "multipart", new=True),
        Call("create", "UploadPart, CompleteMultipartUpload", "s3:PutObject", "self", "none",
             "object", "multipart", new=True),
        Call("create", "AbortMultipartUpload", "s3:AbortMultipartUpload", "self", "none", "object",
             "upload-failed", new=True),
        Call("read", "HeadObject", "s3:GetObject", "self", "none", "object"),
        Call("read", "GetObjectTagging", "s3:GetObjectTagging", "self", "none", "object-tags"),
        Call("read", "DescribeKey alias/aws/s3", "kms:DescribeKey", "*", "none", "object", "sse-kms"),
        Call("update", "PutObject (content changed)", "s3:PutObject", "self", "object", "object"),
        Call("update", "PutObject with x-amz-tagging", "s3:PutObjectTagging", "self", "object",
             "aws-docs"),
        Call("update-tags", "GetObjectTagging (keep ignored tags)", "s3:GetObjectTagging", "self",
             "none", "object-tags"),
        Call("update-tags", "PutObjectTagging (whole tag set)", "s3:PutObjectTagging", "self",
             "object", "object-tags"),
        Call("update-tags", "DeleteObjectTagging", "s3:DeleteObjectTagging", "self", "none",
             "object-tags", "all-tags-removed"),
        Call("delete", "DeleteObject", "s3:DeleteObject", "self", "none", "object"),
        Call("delete", "ListObjectVersions (prefix = key)", "s3:ListBucketVersions", "bucket", "none",
             "object-delete", "versioned-bucket"),
        Call("delete", "DeleteObject VersionId (each version)", "s3:DeleteObjectVersion", "self",
             "none", "object-delete", "versioned-bucket"),
    ),
    "aws:sfn/stateMachine:StateMachine": (
        Call("preview", "ValidateStateMachineDefinition (CustomizeDiff)",
             "states:ValidateStateMachineDefinition", "*", "none", "state-machine"),
        Call("create", "CreateStateMachine", "states:CreateStateMachine", "self", "all", "state-machine",
             new=True),
        Call("create", "CreateStateMachine tags", "states:TagResource", "self", "all", "aws-docs",
             "tag-on-create", new=True),
        Call("create", "CreateStateMachine roleArn", "iam:PassRole", "passed:roleArn", "none",
             "state-machine", services=_STATES_PASS),
        Call("read", "DescribeStateMachine", "states:DescribeStateMachine", "self", "none", "state-machine"),
        Call("read", "ListStateMachineVersions", "states:ListStateMachineVersions", "self", "none",
             "state-machine"),
        Call("read", "ListTagsForResource", "states:ListTagsForResource", "self", "none", "tags"),
        Call("update", "UpdateStateMachine", "states:UpdateStateMachine", "self", "none", "state-machine"),
        Call("update", "UpdateStateMachine roleArn", "iam:PassRole", "passed:roleArn", "none",
             "state-machine", services=_STATES_PASS),
        Call("update", "DescribeStateMachine (wait)", "states:DescribeStateMachine", "self", "none",
             "state-machine"),
        *_tag_updates("states", "tags"),
        Call("delete", "DeleteStateMachine", "states:DeleteStateMachine", "self", "none", "state-machine"),
        Call("delete", "DescribeStateMachine (wait)", "states:DescribeStateMachine", "self", "none",
             "state-machine"),
    ),
    "aws:batch/jobDefinition:JobDefinition": (
        Call("create", "RegisterJobDefinition", "batch:RegisterJobDefinition", "self", "all",
             "job-definition", new=True),
        Call("create", "RegisterJobDefinition tags", "batch:TagResource", "self", "all", "aws-docs",
             "tag-on-create", new=True),
        Call("create", "RegisterJobDefinition jobRoleArn", "iam:PassRole",
             "passed:containerProperties.jobRoleArn", "none", "job-definition", services=_BATCH_PASS),
        Call("create", "RegisterJobDefinition executionRoleArn", "iam:PassRole",
             "passed:containerProperties.executionRoleArn", "none", "job-definition", "fargate",
             services=_BATCH_PASS),
        Call("read", "DescribeJobDefinitions", "batch:DescribeJobDefinitions", "*", "none",
             "job-definition"),
        Call("update", "RegisterJobDefinition (new revision)", "batch:RegisterJobDefinition", "self",
             "all", "job-definition"),
        Call("update", "RegisterJobDefinition jobRoleArn", "iam:PassRole",
             "passed:containerProperties.jobRoleArn", "none", "job-definition", services=_BATCH_PASS),
        Call("update", "DeregisterJobDefinition (previous revision)", "batch:DeregisterJobDefinition",
             "revision", "none", "job-definition"),
        *_tag_updates("batch", "tags", "revision"),
        Call("delete", "DescribeJobDefinitions (ACTIVE revisions)", "batch:DescribeJobDefinitions",
             "*", "none", "job-definition"),
        Call("delete", "DeregisterJobDefinition (each revision)", "batch:DeregisterJobDefinition",
             "revision", "none", "job-definition"),
    ),
    "aws:dynamodb/table:Table": (
        Call("create", "CreateTable (Tags, SSESpecification)", "dynamodb:CreateTable", "self",
             "all", "table", new=True),
        Call("create", "CreateTable Tags", "dynamodb:TagResource", "self", "all", "aws-docs",
             "tag-on-create", new=True),
        Call("create", "DescribeTable (wait for ACTIVE)", "dynamodb:DescribeTable", "self", "none",
             "table"),
        Call("create", "UpdateTimeToLive (ttl.enabled)", "dynamodb:UpdateTimeToLive", "self",
             "none", "table"),
        Call("create", "DescribeTimeToLive (wait)", "dynamodb:DescribeTimeToLive", "self", "none",
             "table"),
        Call("read", "DescribeTable", "dynamodb:DescribeTable", "self", "none", "table"),
        Call("read", "DescribeContinuousBackups", "dynamodb:DescribeContinuousBackups", "self",
             "none", "table"),
        Call("read", "DescribeTimeToLive", "dynamodb:DescribeTimeToLive", "self", "none", "table"),
        Call("read", "ListTagsOfResource", "dynamodb:ListTagsOfResource", "self", "none", "table"),
        Call("update", "UpdateTable (billing mode, encryption)", "dynamodb:UpdateTable", "self",
             "none", "table"),
        Call("update", "DescribeTable (wait)", "dynamodb:DescribeTable", "self", "none", "table"),
        Call("update", "UpdateTimeToLive", "dynamodb:UpdateTimeToLive", "self", "none", "table"),
        *_tag_updates("dynamodb", "table"),
        Call("delete", "DeleteTable", "dynamodb:DeleteTable", "self", "none", "table"),
        Call("delete", "DescribeTable (wait for deletion)", "dynamodb:DescribeTable", "self",
             "none", "table"),
    ),
}

# Calls of the provider itself, not of a resource: aws-sdk-go-base asks for the account id when
# the provider is configured. sts:GetCallerIdentity needs no permission.
PROVIDER_CALLS = (Call("configure", "GetCallerIdentity", "sts:GetCallerIdentity", "*", "none", "aws-docs"),)

# flowstacks' tags that say which namespace a resource belongs to.
NAMESPACE_TAG_KEYS = ("metaflow/branch", "metaflow/project")
