"""What must already exist for a stack to run, derived from what the stack deploys (pure).

``flowstacks doctor`` synthesizes the stack offline and reads its manifest: every S3 bucket an
object is written to, every Batch job queue a state machine calls and the DynamoDB table it
calls when the namespace shares one (``dynamodb_table_layout='shared'``; by default the stack
creates its own, which is then no prerequisite), every
EventBridge bus a rule listens on, every Kubernetes namespace an object lives in, every Argo
Events bus and event source a sensor waits on, every OIDC provider a role trusts. What the
manifest cannot show (the secrets ``@secrets`` reads, the metadata service tasks report to, the
KMS key, the Airflow connection) comes from the stack's resolved platform settings. Each
prerequisite names the setting it came from, so a wrong value can be traced to where it is set.

The requirements of each kind (key schema, versions) are Metaflow's, with their sources in
docs/metaflow-contract.md#platform-prerequisites.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from flowstacks.iam.secrets import secret_grants
from flowstacks.model.deployment import StackContext
from flowstacks.model.platform import SETTINGS
from flowstacks.render.argo import creates_jobsets
from flowstacks.render.argo.jobset import API_VERSION as JOBSET_API_VERSION

# Kinds of prerequisite, in the order doctor lists them.
KINDS = (
    "s3-bucket", "kms-key", "metadata-service", "secret", "dynamodb-table", "batch-job-queue",
    "event-bus", "iam-role", "oidc-provider", "kubernetes-namespace", "argo-workflows",
    "jobset-controller",
    "argo-events-bus", "argo-events-source", "airflow-connection",
)
# What the opt-in `platform` stack can create (flowstacks/deploy/platform_stack.py).
PLATFORM_KINDS = frozenset({"dynamodb-table", "kubernetes-namespace", "argo-events-bus",
                            "argo-events-source"})
# metaflow/plugins/aws/step_functions/dynamo_db_client.py: items keyed by "pathspec" (a string),
# expiring through the "ttl" attribute; Metaflow leaves the table to the infrastructure
# (metaflow-tools' CloudFormation/Terraform create it with that schema); flowstacks' stacks create
# their own with it (flowstacks/deploy/components/sfn_table.py).
TABLE_HASH_KEY = "pathspec"
TABLE_TTL_ATTRIBUTE = "ttl"


@dataclass(frozen=True)
class Prerequisite:
    kind: str
    name: str
    needs: str  # what must hold for it
    used_by: tuple[str, ...]  # the deployed objects (or settings) that use it
    source: str  # where its value is configured
    details: Mapping[str, Any] = field(default_factory=dict)  # what --live checks against

    @property
    def platform_stack(self) -> bool:
        return self.kind in PLATFORM_KINDS


@dataclass(frozen=True)
class SettingRow:
    target: str  # e.g. aws.region, runtime.service_url
    value: Any
    source: str


def _relevant(target: str, orchestrator: str) -> bool:
    """Whether a setting affects a stack of ``orchestrator`` (Kubernetes settings: Argo, and the
    IRSA provider for Airflow too; Airflow's own: Airflow)."""
    if target.startswith("airflow.") or target.startswith("runtime.airflow_"):
        return orchestrator == "airflow"
    if target in ("aws.batch_job_queue", "aws.dynamodb_table", "runtime.dynamodb_table_layout"):
        return orchestrator == "step-functions"
    if target.startswith("kubernetes."):
        return orchestrator == "argo" or (
            orchestrator == "airflow" and target in ("kubernetes.service_account",
                                                     "kubernetes.oidc_provider_arn"))
    return True


def settings(ctx: StackContext) -> list[SettingRow]:
    """Every platform setting that affects the stack, its value and where it came from."""
    rows, seen = [], set()
    for setting in SETTINGS:
        if setting.target in seen or not _relevant(setting.target, ctx.orchestrator):
            continue
        seen.add(setting.target)
        section, name = setting.target.split(".", 1)
        holder = ctx.platform if section == "runtime" else getattr(ctx.config, section)
        # the table the tasks use: the namespace's own unless the class shares a configured one
        value = ctx.dynamodb_table if setting.target == "aws.dynamodb_table" else getattr(holder, name)
        rows.append(SettingRow(setting.target, value, ctx.platform.sources.get(setting.target, "")))
    if ctx.platform.metaflow_profile:
        rows.append(SettingRow("metaflow_profile", ctx.platform.metaflow_profile,
                               ctx.platform.sources.get("metaflow_profile", "")))
    return rows


class _Collector:
    """Prerequisites keyed by (kind, name); each use adds to ``used_by``."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Prerequisite] = {}

    def add(self, kind: str, name: str, needs: str, used_by: str, source: str,
            **details: Any) -> None:
        key = (kind, name)
        old = self.items.get(key)
        if old is None:
            self.items[key] = Prerequisite(kind, name, needs, (used_by,), source, details)
        elif used_by not in old.used_by:
            self.items[key] = Prerequisite(kind, name, old.needs, old.used_by + (used_by,),
                                           old.source, old.details)

    def sorted(self) -> list[Prerequisite]:
        order = {k: i for i, k in enumerate(KINDS)}
        return sorted(self.items.values(), key=lambda p: (order[p.kind], p.name))


def _src(ctx: StackContext, target: str) -> str:
    return ctx.platform.sources.get(target, "flowstacks default")


def _states(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every state of an ASL definition, nested branches and iterators included."""
    for state in definition.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key])


def _federated(document: Any) -> Iterator[str]:
    doc = json.loads(document) if isinstance(document, str) else document
    for stmt in (doc or {}).get("Statement", []):
        fed = (stmt.get("Principal") or {}).get("Federated")
        for arn in [fed] if isinstance(fed, str) else (fed or []):
            yield arn


# the setting that places the stack's Kubernetes objects
_NAMESPACE_SETTING = {"argo": "kubernetes.namespace", "airflow": "airflow.namespace",
                      "step-functions": "kubernetes.namespace"}


def _from_manifest(ctx: StackContext, manifest: Mapping[str, Any], out: _Collector) -> None:
    aws = ctx.config.aws
    # what the stack creates itself is no prerequisite: its own foreach-state table (issue 16)
    created_tables = {r["inputs"].get("name") for r in manifest["resources"]
                      if r["type"] == "aws:dynamodb/table:Table"}
    for res in manifest["resources"]:
        kind, inputs, name = res["type"], res.get("inputs") or {}, res["name"]
        if kind.startswith("aws:s3/bucketObject"):
            bucket = inputs.get("bucket")
            if isinstance(bucket, str):
                dags = bucket == ctx.config.airflow.dags_bucket and ctx.orchestrator == "airflow"
                out.add("s3-bucket", bucket, "exists; the deployer may write the stack's objects"
                        + ("; MWAA reads its DAG files" if dags else
                           "; tasks read and write the datastore"),
                        "the stack's S3 objects (code packages, DAG files, uploaded files)",
                        "airflow.dags_bucket" if dags else _src(ctx, "aws.datastore_root"))
        elif kind == "aws:sfn/stateMachine:StateMachine":
            definition = json.loads(inputs["definition"])
            for state in _states(definition):
                params = state.get("Parameters") or {}
                resource = str(state.get("Resource", ""))
                if "JobQueue" in params:
                    out.add("batch-job-queue", params["JobQueue"], "state ENABLED, status VALID, "
                            "with a compute environment that can run the job definitions' "
                            "images", f"state machine {inputs.get('name', name)}",
                            _src(ctx, "aws.batch_job_queue"))
                if (":dynamodb:" in resource and "TableName" in params
                        and params["TableName"] not in created_tables):
                    out.add("dynamodb-table", params["TableName"],
                            f"hash key '{TABLE_HASH_KEY}' (string), TTL on '{TABLE_TTL_ATTRIBUTE}'",
                            f"state machine {inputs.get('name', name)}",
                            _src(ctx, "aws.dynamodb_table"))
        elif kind == "aws:cloudwatch/eventRule:EventRule":
            bus = inputs.get("eventBusName") or "default"
            if bus != "default":
                out.add("event-bus", bus, "exists in the stack's account and region",
                        f"EventBridge rule {inputs.get('name', name)}", "aws.event_bus")
        elif kind == "aws:iam/role:Role":
            for arn in _federated(inputs.get("assumeRolePolicy")):
                out.add("oidc-provider", arn, "registered in IAM (the identity provider of the "
                        "cluster or the CI)", f"IAM role {inputs.get('name', name)}",
                        "kubernetes.oidc_provider_arn" if "eks" in arn else "deployer.oidc_provider_arn")
        elif kind.startswith("kubernetes:"):
            meta = inputs.get("metadata") or {}
            ns = meta.get("namespace")
            what = f"{inputs.get('kind', kind.rsplit(':', 1)[-1])} {meta.get('name', name)}"
            if ns:
                out.add("kubernetes-namespace", ns, "exists; the deployer may create and "
                        "update objects in it", what, _src(ctx, _NAMESPACE_SETTING[ctx.orchestrator]))
            spec = inputs.get("spec") or {}
            kube = inputs.get("kind")
            if kube in ("WorkflowTemplate", "CronWorkflow"):
                out.add("argo-workflows", ns or "", _argo_needs(manifest), what,
                        "the Argo Workflows controller of the cluster")
            if kube == "WorkflowTemplate" and creates_jobsets(inputs):
                # the stack's Role lets the task service account create and read the JobSets
                out.add("jobset-controller", ns or "", "the JobSet controller and its CRD "
                        f"({JOBSET_API_VERSION}) installed in the cluster", what,
                        "@parallel steps (a JobSet per gang)")
            if kube == "Sensor":
                bus = spec.get("eventBusName", "default")
                out.add("argo-events-bus", bus, f"EventBus '{bus}' in namespace '{ns}'", what,
                        _src(ctx, "kubernetes.argo_events_event_bus"), namespace=ns)
                for dep in spec.get("dependencies", []):
                    source = dep.get("eventSourceName")
                    if source:
                        out.add("argo-events-source", source,
                                f"a webhook EventSource '{source}' in namespace '{ns}' publishing "
                                f"event '{dep.get('eventName')}' to bus '{bus}', reachable at "
                                f"{ctx.config.kubernetes.argo_events_webhook_url}", what,
                                _src(ctx, "kubernetes.argo_events_event_source"),
                                namespace=ns, event=dep.get("eventName"), bus=bus)


def _argo_needs(manifest: Mapping[str, Any]) -> str:
    plural = any("schedules" in ((r.get("inputs") or {}).get("spec") or {})
                 for r in manifest["resources"] if r["type"].endswith(":CronWorkflow"))
    return ("a controller watching this namespace" +
            (", version 3.6 or later (CronWorkflow spec.schedules)" if plural else ""))


def _from_platform(ctx: StackContext, out: _Collector) -> None:
    platform = ctx.platform
    if platform.metadata == "service" and platform.task_service_url:
        out.add("metadata-service", platform.task_service_url,
                "answers /ping; tasks and the Metaflow client reach it",
                "every task (--metadata=service)", _src(ctx, "runtime.service_url"))
    if platform.kms_key_arn:
        out.add("kms-key", platform.kms_key_arn, "enabled; the datastore bucket's key",
                "task roles, deployer (kms:Decrypt, kms:GenerateDataKey)",
                _src(ctx, "runtime.kms_key_arn"))
    grants = secret_grants(ctx)
    for arn in grants.secrets:
        out.add("secret", arn, "exists in Secrets Manager (its ARN ends in 6 random "
                "characters, matched by -??????)", "@secrets of the flows",
                _src(ctx, "runtime.secrets_backend"))
    for arn in grants.roles:
        out.add("iam-role", arn, "exists and trusts the namespace's task role",
                "@secrets(role=...)", "the flow's @secrets decorator")
    aws = ctx.config.aws
    for field_name in ("batch_container_role", "fargate_execution_role"):
        arn = getattr(aws, field_name)
        if arn and ctx.orchestrator == "step-functions":
            out.add("iam-role", arn, "exists; placed in the job definitions",
                    "job definitions", f"aws.{field_name}")
    if ctx.orchestrator == "airflow":
        air = ctx.config.airflow
        out.add("kubernetes-namespace", air.namespace, "exists; the Airflow workers may create "
                "pods in it", "every KubernetesPodOperator", _src(ctx, "airflow.namespace"))
        how = (f"connection '{air.kubernetes_conn_id}'" if air.kubernetes_conn_id else
               f"kubeconfig {platform.airflow_kubeconfig_file}" if platform.airflow_kubeconfig_file
               else "in-cluster credentials (no connection, kubeconfig or context is set)")
        out.add("airflow-connection", air.kubernetes_conn_id or "(in cluster)",
                f"Airflow 3 with apache-airflow-providers-cncf-kubernetes reaches the cluster "
                f"through {how}", "every KubernetesPodOperator",
                _src(ctx, "airflow.kubernetes_conn_id"))


def problems(ctx: StackContext) -> list[str]:
    """What in the stack's settings would keep its deployment from working, found offline."""
    from flowstacks.deploy.platform_stack import webhook_mismatch

    out = []
    if ctx.orchestrator == "argo":  # every Argo run publishes its end event to the webhook
        mismatch = webhook_mismatch(ctx.config.kubernetes)
        if mismatch:
            out.append(f"kubernetes.argo_events_webhook_url: {mismatch}")
    return out


def prerequisites(ctx: StackContext, manifest: Mapping[str, Any]) -> list[Prerequisite]:
    """What must exist before ``pulumi up -s <stack>`` and the stack's first run."""
    out = _Collector()
    _from_manifest(ctx, manifest, out)
    _from_platform(ctx, out)
    return out.sorted()
