"""Which input changes make Pulumi REPLACE a resource, for every resource type flowstacks creates.

Read from the providers' source, not guessed: pulumi-aws 7.51.1 (pinned in pyproject.toml) bridges
the Terraform AWS provider v6.x, whose schema marks the inputs that cannot change in place with
``ForceNew: true`` (the bridge turns each into a replace-on-change property); pulumi-kubernetes
replaces an object when ``metadata.name`` or ``metadata.namespace`` changes, plus a few per-kind
fields (a RoleBinding's ``roleRef``), and its type token fixes ``apiVersion`` and ``kind``.

Each property carries the file it comes from. ``SET`` lists the properties flowstacks sets today
(tests check they occur in the synthesized manifests); ``NOT_SET`` the other replace-on-change
inputs of the same types (tests check flowstacks sets none of them: a new one must move to
``SET``). The table and its sources are written up in ``docs/provider-replacements.md``.
Pure data and string logic: no pulumi import, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

TF_AWS = "hashicorp/terraform-provider-aws"
PULUMI_AWS = "pulumi/pulumi-aws"
PULUMI_K8S = "pulumi/pulumi-kubernetes"

# The files read (repository, path, commit of the version read).
TF_JOB_DEFINITION = (TF_AWS, "internal/service/batch/job_definition.go", "01606926a0c0")
TF_EVENT_RULE = (TF_AWS, "internal/service/events/rule.go", "0cdab4ae09a9")
TF_EVENT_TARGET = (TF_AWS, "internal/service/events/target.go", "0762c41e2027")
TF_IAM_ROLE = (TF_AWS, "internal/service/iam/role.go", "3277329285f5")
TF_IAM_ROLE_POLICY = (TF_AWS, "internal/service/iam/role_policy.go", "02f97af85f89")
TF_IAM_POLICY = (TF_AWS, "internal/service/iam/policy.go", "01ccd9a2d118")
TF_S3_OBJECT = (TF_AWS, "internal/service/s3/object.go", "033c721bf1ed")
TF_SFN_STATE_MACHINE = (TF_AWS, "internal/service/sfn/state_machine.go", "01f431114674")
TF_DYNAMODB_TABLE = (TF_AWS, "internal/service/dynamodb/table.go", "01335dd3cd3d")
TF_REGION_GUIDE = (TF_AWS, "website/docs/guides/enhanced-region-support.html.markdown",
                   "0cb788ce0d5a")
K8S_DIFF = (PULUMI_K8S, "provider/pkg/provider/diff.go", "94977969d641")
K8S_PROVIDER = (PULUMI_K8S, "provider/pkg/provider/provider.go", "94977969d641")


@dataclass(frozen=True)
class Replacing:
    """One input property whose change replaces the resource."""

    path: str  # the Pulumi input name (camelCase), dotted for nested properties
    source: tuple[str, str, str]  # (repository, file, commit read)
    why: str  # what in that file says so

    def cites(self) -> str:
        repo, path, commit = self.source
        return f"{repo} {path} @ {commit}"


@dataclass(frozen=True)
class TypeCatalog:
    """The replace-on-change inputs of one Pulumi resource type."""

    type: str
    upstream: str  # the Terraform resource or Kubernetes kind behind the type
    set: tuple[Replacing, ...]  # inputs flowstacks sets
    not_set: tuple[Replacing, ...] = ()  # inputs flowstacks does not set (yet)
    note: str = ""

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(r.path for r in self.set + self.not_set)


def _tf(path: str, source: tuple[str, str, str], field: str) -> Replacing:
    return Replacing(path, source, f"schema field `{field}` has ForceNew: true")


def _region(resource: str) -> Replacing:
    return Replacing("region", TF_REGION_GUIDE,
                     f"v6 adds a top-level `region` to {resource}: 'Changing the value of region "
                     "will force resource replacement'")


def _k8s_identity() -> tuple[Replacing, ...]:
    return (
        Replacing("metadata.name", K8S_PROVIDER,
                  "Diff: forceNewFields starts with .metadata.name ('changing the identity of "
                  "the resource always causes a replacement'); diff.go metadataForceNewProperties"),
        Replacing("metadata.namespace", K8S_PROVIDER,
                  "Diff: forceNewFields starts with .metadata.namespace; diff.go "
                  "metadataForceNewProperties"),
        Replacing("apiVersion", K8S_PROVIDER,
                  "gvkFromURN: group/version come from the type token, so another apiVersion is "
                  "another Pulumi type and URN (a create and a delete)"),
        Replacing("kind", K8S_PROVIDER,
                  "gvkFromURN: the kind is the type token's name, so another kind is another "
                  "Pulumi type and URN (a create and a delete)"),
    )


_K8S_NOTE = ("A named object is replaced delete-before-replace (provider.go Diff: the new object "
             "needs the old one's name), so a replacement has a moment without the object.")

CATALOG: dict[str, TypeCatalog] = {c.type: c for c in (
    TypeCatalog(
        "aws:batch/jobDefinition:JobDefinition", "aws_batch_job_definition",
        set=(_tf("name", TF_JOB_DEFINITION, "name"),),
        not_set=(_tf("retryStrategy.evaluateOnExits", TF_JOB_DEFINITION,
                     "retry_strategy.evaluate_on_exit"), _region("aws_batch_job_definition")),
        note=("Since Terraform AWS 5.44 (#35149; pulumi-aws 6.33) every other change is an update "
              "that registers a new revision (needsJobDefUpdate) and, with deregisterOnNewRevision "
              "(default true), makes the previous revision INACTIVE. Before, every input was "
              "ForceNew. flowstacks names the job definition and its Pulumi resource after a hash "
              "of its contents (metaflow_<sha224>, as Metaflow does), so a content change (image, "
              "job role) is another URN: a create and a delete, never an in-place change.")),
    TypeCatalog(
        "aws:cloudwatch/eventRule:EventRule", "aws_cloudwatch_event_rule",
        set=(_tf("name", TF_EVENT_RULE, "name"),),
        not_set=(_tf("namePrefix", TF_EVENT_RULE, "name_prefix"),
                 _tf("eventBusName", TF_EVENT_RULE, "event_bus_name"),
                 _region("aws_cloudwatch_event_rule"))),
    TypeCatalog(
        "aws:cloudwatch/eventTarget:EventTarget", "aws_cloudwatch_event_target",
        set=(_tf("rule", TF_EVENT_TARGET, "rule"), _tf("targetId", TF_EVENT_TARGET, "target_id")),
        not_set=(_tf("eventBusName", TF_EVENT_TARGET, "event_bus_name"),
                 _region("aws_cloudwatch_event_target"))),
    TypeCatalog(
        "aws:iam/role:Role", "aws_iam_role",
        set=(_tf("name", TF_IAM_ROLE, "name"),),
        not_set=(_tf("namePrefix", TF_IAM_ROLE, "name_prefix"), _tf("path", TF_IAM_ROLE, "path")),
        note="IAM is global: no `region` input (enhanced-region-support guide, Global services)."),
    TypeCatalog(
        "aws:iam/rolePolicy:RolePolicy", "aws_iam_role_policy",
        set=(_tf("name", TF_IAM_ROLE_POLICY, "name"), _tf("role", TF_IAM_ROLE_POLICY, "role")),
        not_set=(_tf("namePrefix", TF_IAM_ROLE_POLICY, "name_prefix"),),
        note="IAM is global: no `region` input."),
    TypeCatalog(
        "aws:iam/policy:Policy", "aws_iam_policy",
        set=(_tf("name", TF_IAM_POLICY, "name"), _tf("description", TF_IAM_POLICY, "description")),
        not_set=(_tf("namePrefix", TF_IAM_POLICY, "name_prefix"), _tf("path", TF_IAM_POLICY, "path")),
        note=("The namespace's permissions boundary. IAM is global: no `region` input. A changed "
              "`policy` is an update (CreatePolicyVersion, SetDefaultPolicyVersion).")),
    TypeCatalog(
        "aws:s3/bucketObjectv2:BucketObjectv2", "aws_s3_object",
        set=(_tf("bucket", TF_S3_OBJECT, "bucket"), _tf("key", TF_S3_OBJECT, "key")),
        not_set=(_region("aws_s3_object"),),
        note=("pulumi-aws provider/resources.go maps aws_s3_object to s3 BucketObjectv2 "
              "(IDFields bucket, key). Content changes (source, content, sourceHash, contentType, "
              "...) re-upload in place (hasObjectContentChanges). A code package keyed by its hash "
              "changes `key` on every code change: a replacement.")),
    TypeCatalog(
        "aws:sfn/stateMachine:StateMachine", "aws_sfn_state_machine",
        set=(_tf("name", TF_SFN_STATE_MACHINE, "name"), _tf("type", TF_SFN_STATE_MACHINE, "type")),
        not_set=(_tf("namePrefix", TF_SFN_STATE_MACHINE, "name_prefix"),
                 _region("aws_sfn_state_machine")),
        note="`definition` and `roleArn` change in place (UpdateStateMachine)."),
    TypeCatalog(
        "aws:dynamodb/table:Table", "aws_dynamodb_table",
        set=(_tf("name", TF_DYNAMODB_TABLE, "name"), _tf("hashKey", TF_DYNAMODB_TABLE, "hash_key")),
        not_set=(_tf("rangeKey", TF_DYNAMODB_TABLE, "range_key"),
                 _tf("localSecondaryIndexes", TF_DYNAMODB_TABLE, "local_secondary_index"),
                 _tf("restoreSourceName", TF_DYNAMODB_TABLE, "restore_source_name"),
                 _tf("restoreToLatestTime", TF_DYNAMODB_TABLE, "restore_to_latest_time"),
                 _tf("restoreDateTime", TF_DYNAMODB_TABLE, "restore_date_time"),
                 _region("aws_dynamodb_table")),
        note=("A Step Functions namespace's own foreach-state table (issue 16), named for the "
              "namespace: a rename or a new hash key replaces it, losing only the in-flight join "
              "state of running executions. `billingMode`, `serverSideEncryption`, `ttl` and "
              "tags change in place (UpdateTable, UpdateTimeToLive, TagResource).")),
    TypeCatalog("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "WorkflowTemplate (CRD)",
                set=_k8s_identity(), note=_K8S_NOTE + " argoproj.io is not in diff.go's forceNew "
                "table: `spec` changes are patches."),
    TypeCatalog("kubernetes:argoproj.io/v1alpha1:CronWorkflow", "CronWorkflow (CRD)",
                set=_k8s_identity(), note=_K8S_NOTE),
    TypeCatalog("kubernetes:argoproj.io/v1alpha1:Sensor", "Sensor (CRD)",
                set=_k8s_identity(), note=_K8S_NOTE),
    TypeCatalog("kubernetes:core/v1:ServiceAccount", "ServiceAccount",
                set=_k8s_identity(), note=_K8S_NOTE + " diff.go lists no ServiceAccount fields."),
    TypeCatalog("kubernetes:rbac.authorization.k8s.io/v1:Role", "Role",
                set=_k8s_identity(), note=_K8S_NOTE + " `rules` change in place."),
    TypeCatalog(
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "RoleBinding",
        set=_k8s_identity() + (Replacing(
            "roleRef", K8S_DIFF, "forceNew[rbac.authorization.k8s.io][v1][RoleBinding] = "
            "roleBinding = .roleRef (Kubernetes makes roleRef immutable)"),),
        note=_K8S_NOTE + " `subjects` change in place."),
)}


def touches(changed: str, prop: str) -> bool:
    """Whether a change at input path ``changed`` changes property ``prop``: the same path, a
    path inside it (``metadata.name.x``, ``roleRef.name``) or a path that contains it (the whole
    ``metadata`` added or removed). Paths are dotted, list items ``[i]``."""
    if changed == prop:
        return True
    if changed.startswith(prop) and changed[len(prop)] in ".[":
        return True
    return prop.startswith(changed) and prop[len(changed)] == "."


def replacing_paths(type_: str, changed: list[str]) -> list[str] | None:
    """The catalogued properties among ``changed`` input paths of a resource of ``type_`` (in
    catalog order); ``None`` when the type is not catalogued (the caller decides how careful to
    be)."""
    entry = CATALOG.get(type_)
    if entry is None:
        return None
    return [prop for prop in entry.paths if any(touches(c, prop) for c in changed)]


def reason(type_: str, prop: str) -> Replacing | None:
    """The catalog entry (with its source) that makes ``prop`` replace a ``type_``."""
    entry = CATALOG.get(type_)
    for item in (entry.set + entry.not_set) if entry else ():
        if item.path == prop:
            return item
    return None
