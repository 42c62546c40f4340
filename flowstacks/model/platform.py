"""The Metaflow platform a namespace deploys to: metadata service, secrets, encryption, datastore,
queues, cluster wiring (issue 15).

:class:`Platform` is what a project writes (``ProjectConfig.platform`` for every namespace,
``ProjectConfig.platform_overrides[<class>]`` for one namespace class); every field is optional
and ``None`` means "not set here". :class:`ResolvedPlatform` is what one stack ends up with, and
from where each value came (``flowstacks/model/platform_resolve.py`` resolves it; the Metaflow
config values it falls back to are read by ``flowstacks/load/platform.py``,
docs/metaflow-contract.md#platform-settings). Pure.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NamespaceClass = Literal["prod", "test", "user"]
Metadata = Literal["local", "service"]
# How a stack's datastore root follows from its namespace class's root (issue 16):
# "namespace": <class root>/<branch name> (every Metaflow namespace writes under its own root);
# "flat": the class root itself, as Metaflow's own deployers use it (namespaces share objects).
DatastoreLayout = Literal["namespace", "flat"]
DEFAULT_DATASTORE_LAYOUT: DatastoreLayout = "namespace"
# Which Kubernetes namespace a stack's pods, templates and service account live in (issue 16):
# "class": prod in the configured one, test and user in "<configured>-test"/"<configured>-user"
# (unless platform_overrides[<class>] names the class's own); "namespace": one per Metaflow
# namespace, "<configured>-<branch as a DNS label>"; "shared": the configured one for all.
KubernetesLayout = Literal["class", "namespace", "shared"]
DEFAULT_KUBERNETES_LAYOUT: KubernetesLayout = "class"
# Where a Step Functions stack keeps Metaflow's foreach state (issue 16): "stack": a DynamoDB
# table the stack creates and owns, named for its namespace
# (flowstacks.naming.namespace.sfn_state_table_name); "shared": the configured dynamodb_table,
# created outside the stack (the opt-in platform stack can), which every namespace configured
# with it shares (their tasks can read and write each other's items: Metaflow keys them by a
# Batch job id that names no namespace).
DynamoDBTableLayout = Literal["stack", "shared"]
DEFAULT_DYNAMODB_TABLE_LAYOUT: DynamoDBTableLayout = "stack"

_ACCOUNT_RE = re.compile(r"^\d{12}$")
S3_URL_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
_HTTP_RE = re.compile(r"^https?://[^\s/]+")
# kms:Decrypt and kms:GenerateDataKey are authorised on the key itself: an alias ARN would
# match nothing, so only key ARNs are accepted.
_KMS_KEY_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# The values S3 takes for x-amz-server-side-encryption (what Metaflow passes as
# ServerSideEncryption, plugins/datatools/s3/s3op.py).
SSE_VALUES = ("AES256", "aws:kms", "aws:kms:dsse")
# METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH (metaflow_config.py, default "none"; argo_events.py sends
# SERVICE_HEADERS only for "service").
WEBHOOK_AUTH_MODES = ("none", "service")


class Platform(BaseModel):
    """Where and how the tasks of a namespace run. Unset fields fall back, in order, to
    ``ProjectConfig.platform``, the older ``aws``/``kubernetes``/``airflow`` fields, the Metaflow
    config in effect (``METAFLOW_*`` environment variables, ``$METAFLOW_HOME/config[_<profile>].json``)
    and flowstacks' defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metaflow_profile: str | None = Field(
        None, description="the Metaflow profile (config_<profile>.json) whose values fill the "
        "unset fields; default: METAFLOW_PROFILE")
    # -- AWS account --------------------------------------------------------------------------
    region: str | None = None
    account_id: str | None = None
    # -- metadata service (METAFLOW_DEFAULT_METADATA, METAFLOW_SERVICE_URL) ----------------------
    metadata: Metadata | None = Field(
        None, description="--metadata of every task; default: 'service' when service_url is "
        "set in this config, else METAFLOW_DEFAULT_METADATA, else 'local'")
    service_url: str | None = Field(None, description="METAFLOW_SERVICE_URL (the auth key is the "
                                    "Pulumi secret flowstacks:serviceAuthKey)")
    service_internal_url: str | None = Field(
        None, description="METAFLOW_SERVICE_INTERNAL_URL: the URL tasks use; default service_url")
    # -- @secrets (METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE) ---------------------------------------
    secrets_backend: str | None = Field(
        None, description="METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE, e.g. 'aws-secrets-manager'")
    secrets_region: str | None = Field(
        None, description="METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION")
    # -- encryption -----------------------------------------------------------------------------
    s3_server_side_encryption: str | None = Field(
        None, description="METAFLOW_S3_SERVER_SIDE_ENCRYPTION: AES256, aws:kms or aws:kms:dsse")
    kms_key_arn: str | None = Field(
        None, description="the KMS key of the datastore bucket: task roles and the deployer may "
        "kms:Decrypt and kms:GenerateDataKey with it (and no other key)")
    # -- AWS resources --------------------------------------------------------------------------
    datastore_root: str | None = Field(
        None, description="METAFLOW_DATASTORE_SYSROOT_S3 of the namespace class; with "
        "datastore_layout 'namespace' (the default) each stack's tasks use <root>/<branch name>")
    datastore_layout: DatastoreLayout | None = Field(
        None, description="'namespace' (default): every Metaflow namespace reads and writes under "
        "its own <root>/<branch name>; 'flat': all namespaces of the class share the root, as "
        "Metaflow's own deployers do (no datastore isolation between them)")
    read_prod_datastore: bool | None = Field(
        None, description="test/user task roles may read (never write) prod's objects of the "
        "project's flows (evaluating against prod models); default off")
    batch_job_queue: str | None = Field(None, description="METAFLOW_BATCH_JOB_QUEUE")
    dynamodb_table: str | None = Field(
        None, description="METAFLOW_SFN_DYNAMO_DB_TABLE, only with dynamodb_table_layout "
        "'shared': an existing table the namespaces of the class share")
    dynamodb_table_layout: DynamoDBTableLayout | None = Field(
        None, description="'stack' (default): every Step Functions stack creates and owns its "
        "own foreach-state table, named for its namespace; 'shared': the namespaces use "
        "dynamodb_table (or METAFLOW_SFN_DYNAMO_DB_TABLE), created outside the stack, and can "
        "read and write each other's foreach state")
    # -- Kubernetes / Argo ------------------------------------------------------------------------
    kubernetes_namespace: str | None = Field(
        None, description="METAFLOW_KUBERNETES_NAMESPACE: the pods' namespace (Argo and Airflow)")
    kubernetes_context: str | None = Field(
        None, description="the kubeconfig context Pulumi deploys the stack's Kubernetes objects "
        "with (its explicit Kubernetes provider); default: the kubeconfig's current context")
    kubernetes_namespace_layout: KubernetesLayout | None = Field(
        None, description="'class' (default): prod's pods apart from test's and user's "
        "(<namespace>-test, <namespace>-user unless platform_overrides names a class's own); "
        "'namespace': one Kubernetes namespace per Metaflow namespace; 'shared': all in one")
    kubernetes_service_account: str | None = Field(
        None, description="the pods' service account; default one per stack, named for it "
        "(never taken from the Metaflow config: it carries the namespace's IAM role)")
    oidc_provider_arn: str | None = Field(None, description="the cluster's IAM OIDC provider")
    argo_events_event: str | None = Field(None, description="METAFLOW_ARGO_EVENTS_EVENT")
    argo_events_event_bus: str | None = Field(None, description="METAFLOW_ARGO_EVENTS_EVENT_BUS")
    argo_events_event_source: str | None = Field(
        None, description="METAFLOW_ARGO_EVENTS_EVENT_SOURCE")
    argo_events_service_account: str | None = Field(
        None, description="METAFLOW_ARGO_EVENTS_SERVICE_ACCOUNT")
    argo_events_webhook_url: str | None = Field(
        None, description="the URL tasks publish events to: METAFLOW_ARGO_EVENTS_INTERNAL_WEBHOOK_URL, "
        "else METAFLOW_ARGO_EVENTS_WEBHOOK_URL")
    argo_events_webhook_auth: str | None = Field(
        None, description="METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH: 'none' (Metaflow's default: any "
        "pod that reaches the webhook can start this namespace's triggered flows) or 'service' "
        "(tasks send METAFLOW_SERVICE_HEADERS, the service auth key, with every event; the "
        "webhook must be behind a gateway that checks it)")
    argo_events_sensor_namespace: str | None = Field(
        None, description="METAFLOW_ARGO_EVENTS_SENSOR_NAMESPACE")
    # -- Airflow: how the pod operator reaches the cluster ---------------------------------------
    airflow_kubernetes_conn_id: str | None = Field(
        None, description="METAFLOW_AIRFLOW_KUBERNETES_CONN_ID")
    airflow_kubeconfig_file: str | None = Field(
        None, description="METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_FILE")
    airflow_kubeconfig_context: str | None = Field(
        None, description="METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT")
    airflow_in_cluster: bool | None = Field(
        None, description="in_cluster of every pod operator when no connection, file or context "
        "is set (default: left to the provider, which tries in-cluster first)")

    @field_validator("account_id")
    @classmethod
    def _account(cls, v: str | None) -> str | None:
        if v is not None and not _ACCOUNT_RE.match(v):
            raise ValueError("must be 12 digits")
        return v

    @field_validator("service_url", "service_internal_url", "argo_events_webhook_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not _HTTP_RE.match(v):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("datastore_root")
    @classmethod
    def _datastore(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not S3_URL_RE.match(v):
            raise ValueError("must be an s3://bucket/prefix URL")
        return v.rstrip("/")

    @field_validator("argo_events_webhook_auth")
    @classmethod
    def _webhook_auth(cls, v: str | None) -> str | None:
        # plugins/argo/argo_events.py: "service" adds SERVICE_HEADERS; anything else sends none
        if v is not None and v not in WEBHOOK_AUTH_MODES:
            raise ValueError(f"must be one of {', '.join(WEBHOOK_AUTH_MODES)} (Metaflow's modes)")
        return v

    @field_validator("kms_key_arn")
    @classmethod
    def _kms(cls, v: str | None) -> str | None:
        if v is not None and not _KMS_KEY_RE.match(v):
            raise ValueError("must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), "
                             "not an alias")
        return v

    @field_validator("s3_server_side_encryption")
    @classmethod
    def _sse(cls, v: str | None) -> str | None:
        if v is not None and v not in SSE_VALUES:
            raise ValueError(f"must be one of {', '.join(SSE_VALUES)}")
        return v

    @field_validator("kubernetes_namespace", "argo_events_sensor_namespace")
    @classmethod
    def _k8s_namespace(cls, v: str | None) -> str | None:
        if v is not None and not _DNS_LABEL_RE.match(v):
            raise ValueError("must be a Kubernetes namespace name (DNS-1123 label)")
        return v

    @field_validator("metaflow_profile", "secrets_backend", "secrets_region", "batch_job_queue",
                     "dynamodb_table", "region")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v


def namespace_datastore_root(class_root: str, branch_name: str,
                             layout: DatastoreLayout = DEFAULT_DATASTORE_LAYOUT) -> str:
    """The datastore root of one Metaflow namespace (``--datastore-root`` and
    ``METAFLOW_DATASTORE_SYSROOT_S3`` of its tasks, the home of its code packages):
    ``<class root>/<branch name>`` with the 'namespace' layout (``prod``, ``prod.staging``,
    ``test.feature_x``, ``user.alice``: S3 keys of one never start with another's root plus
    ``/``), the class root with 'flat'."""
    return class_root if layout == "flat" else f"{class_root.rstrip('/')}/{branch_name}"


def stack_kubernetes_namespace(configured: str, kind: str, branch_name: str,
                               layout: KubernetesLayout, class_specific: bool) -> str:
    """The Kubernetes namespace of one stack (see :data:`KubernetesLayout`). A branch name is
    not always a DNS label (``user.John.Doe``): it is lowercased, other characters become
    ``-``, and a changed name gets 6 hex digits of its sha1 so two branches never meet."""
    if layout == "shared" or (layout == "class" and (kind == "prod" or class_specific)):
        return configured
    if layout == "class":
        return f"{configured}-{kind}"
    label = re.sub(r"[^a-z0-9-]", "-", branch_name.lower())
    if label != branch_name:
        label += "-" + hashlib.sha1(branch_name.encode()).hexdigest()[:6]
    name = f"{configured}-{label}"
    if len(name) > 63:
        raise ValueError(f"Kubernetes namespace {name!r} is longer than 63 characters")
    return name


def prod_datastore_roots(prod_class_root: str, layout: DatastoreLayout) -> tuple[str, ...]:
    """Where prod's namespaces (``prod``, ``prod.<b>``) write, as IAM resource globs."""
    if layout == "flat":
        return (prod_class_root,)
    return (f"{prod_class_root}/prod", f"{prod_class_root}/prod.*")


@dataclass(frozen=True)
class Setting:
    """One setting of a stack: the :class:`Platform` field that sets it, where the value lives
    in the stack's effective config (``aws.datastore_root``, or ``runtime.<name>`` for a value
    only :class:`ResolvedPlatform` holds), the older config field that set it for every
    namespace, and the Metaflow config keys (without ``METAFLOW_``) read, first set wins."""

    field: str
    target: str
    legacy: str | None = None
    metaflow: tuple[str, ...] = ()


# Metaflow keys: metaflow/metaflow_config.py (2.19.39), read with from_conf.
SETTINGS: tuple[Setting, ...] = (
    Setting("region", "aws.region", "aws.region"),
    Setting("account_id", "aws.account_id", "aws.account_id"),
    Setting("datastore_root", "aws.datastore_root", "aws.datastore_root", ("DATASTORE_SYSROOT_S3",)),
    Setting("batch_job_queue", "aws.batch_job_queue", "aws.batch_job_queue", ("BATCH_JOB_QUEUE",)),
    Setting("dynamodb_table", "aws.dynamodb_table", "aws.dynamodb_table", ("SFN_DYNAMO_DB_TABLE",)),
    # Metaflow runs Argo and Airflow pods in METAFLOW_KUBERNETES_NAMESPACE; flowstacks keeps two
    # fields (kubernetes.namespace for Argo, airflow.namespace for Airflow's pods).
    Setting("kubernetes_namespace", "kubernetes.namespace", "kubernetes.namespace",
            ("KUBERNETES_NAMESPACE",)),
    Setting("kubernetes_namespace", "airflow.namespace", "airflow.namespace",
            ("KUBERNETES_NAMESPACE",)),
    Setting("kubernetes_context", "kubernetes.context", "kubernetes.context"),
    Setting("kubernetes_service_account", "kubernetes.service_account", "kubernetes.service_account"),
    Setting("oidc_provider_arn", "kubernetes.oidc_provider_arn", "kubernetes.oidc_provider_arn"),
    Setting("argo_events_event", "kubernetes.argo_events_event", "kubernetes.argo_events_event",
            ("ARGO_EVENTS_EVENT",)),
    Setting("argo_events_event_bus", "kubernetes.argo_events_event_bus",
            "kubernetes.argo_events_event_bus", ("ARGO_EVENTS_EVENT_BUS",)),
    Setting("argo_events_event_source", "kubernetes.argo_events_event_source",
            "kubernetes.argo_events_event_source", ("ARGO_EVENTS_EVENT_SOURCE",)),
    Setting("argo_events_service_account", "kubernetes.argo_events_service_account",
            "kubernetes.argo_events_service_account", ("ARGO_EVENTS_SERVICE_ACCOUNT",)),
    # argo_workflows.py gives tasks ARGO_EVENTS_INTERNAL_WEBHOOK_URL (default: WEBHOOK_URL).
    Setting("argo_events_webhook_url", "kubernetes.argo_events_webhook_url",
            "kubernetes.argo_events_webhook_url",
            ("ARGO_EVENTS_INTERNAL_WEBHOOK_URL", "ARGO_EVENTS_WEBHOOK_URL")),
    Setting("argo_events_webhook_auth", "kubernetes.argo_events_webhook_auth",
            "kubernetes.argo_events_webhook_auth", ("ARGO_EVENTS_WEBHOOK_AUTH",)),
    Setting("argo_events_sensor_namespace", "kubernetes.argo_events_sensor_namespace",
            "kubernetes.argo_events_sensor_namespace", ("ARGO_EVENTS_SENSOR_NAMESPACE",)),
    Setting("airflow_kubernetes_conn_id", "airflow.kubernetes_conn_id", "airflow.kubernetes_conn_id",
            ("AIRFLOW_KUBERNETES_CONN_ID",)),
    # service_url first: a URL written in the flowstacks config decides the two after it.
    Setting("service_url", "runtime.service_url", None, ("SERVICE_URL",)),
    Setting("service_internal_url", "runtime.service_internal_url", None, ("SERVICE_INTERNAL_URL",)),
    Setting("metadata", "runtime.metadata", "airflow.metadata", ("DEFAULT_METADATA",)),
    Setting("secrets_backend", "runtime.secrets_backend", None, ("DEFAULT_SECRETS_BACKEND_TYPE",)),
    Setting("secrets_region", "runtime.secrets_region", None,
            ("AWS_SECRETS_MANAGER_DEFAULT_REGION",)),
    Setting("s3_server_side_encryption", "runtime.s3_server_side_encryption", None,
            ("S3_SERVER_SIDE_ENCRYPTION",)),
    Setting("kms_key_arn", "runtime.kms_key_arn"),
    Setting("airflow_kubeconfig_file", "runtime.airflow_kubeconfig_file", None,
            ("AIRFLOW_KUBERNETES_KUBECONFIG_FILE",)),
    Setting("airflow_kubeconfig_context", "runtime.airflow_kubeconfig_context", None,
            ("AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT",)),
    Setting("airflow_in_cluster", "runtime.airflow_in_cluster"),
    Setting("datastore_layout", "runtime.datastore_layout"),
    Setting("kubernetes_namespace_layout", "runtime.kubernetes_namespace_layout"),
    Setting("dynamodb_table_layout", "runtime.dynamodb_table_layout"),
    Setting("read_prod_datastore", "runtime.read_prod_datastore"),
)
# Every Metaflow key a stack may read (load/platform.py reads exactly these).
METAFLOW_KEYS: tuple[str, ...] = tuple(dict.fromkeys(
    k for s in SETTINGS for k in s.metaflow)) + ("SERVICE_AUTH_KEY",)

# Metaflow config keys only Step Functions deployments use.
SFN_ONLY_KEYS = ("METAFLOW_SFN_DYNAMO_DB_TABLE",)

# Where a value came from when nothing set it.
DEFAULT_SOURCE = "flowstacks default"


class ResolvedPlatform(BaseModel):
    """The settings of one stack that only the task runtime needs (the others are written into
    the stack's effective ``aws``/``kubernetes``/``airflow`` config), plus where every setting
    of :data:`SETTINGS` came from (``sources``: target -> source), for ``flowstacks doctor``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metadata: Metadata = "local"
    service_url: str | None = None
    service_internal_url: str | None = None
    secrets_backend: str | None = None
    secrets_region: str | None = None
    s3_server_side_encryption: str | None = None
    kms_key_arn: str | None = None
    airflow_kubeconfig_file: str | None = None
    airflow_kubeconfig_context: str | None = None
    airflow_in_cluster: bool | None = None
    metaflow_profile: str | None = None
    datastore_layout: DatastoreLayout = DEFAULT_DATASTORE_LAYOUT
    kubernetes_namespace_layout: KubernetesLayout = DEFAULT_KUBERNETES_LAYOUT
    dynamodb_table_layout: DynamoDBTableLayout = DEFAULT_DYNAMODB_TABLE_LAYOUT
    # The namespace class's configured root; the stack's own is config.aws.datastore_root.
    datastore_class_root: str | None = None
    read_prod_datastore: bool = False
    # With read_prod_datastore on a test/user stack: the roots prod's namespaces write under
    # (globs: "<prod class root>/prod", "<prod class root>/prod.*"), read-only for its tasks.
    prod_datastore_roots: tuple[str, ...] = ()
    sources: dict[str, str] = Field(default_factory=dict)
    # Metaflow config keys flowstacks saw but does not deploy (e.g. a plain-text auth key),
    # with the reason (a sentence naming where the key was found).
    ignored: dict[str, str] = Field(default_factory=dict)

    @property
    def task_service_url(self) -> str | None:
        """``METAFLOW_SERVICE_URL`` of every task: Metaflow passes SERVICE_INTERNAL_URL, which
        defaults to SERVICE_URL (metaflow_config.py)."""
        return self.service_internal_url or self.service_url

    @property
    def metadata_chosen(self) -> bool:
        """True when the flowstacks config itself chose the metadata provider."""
        source = self.sources.get("runtime.metadata", DEFAULT_SOURCE)
        return not (source == DEFAULT_SOURCE or source.startswith("METAFLOW_"))

    @property
    def owns_dynamodb_table(self) -> bool:
        """Whether a Step Functions stack creates its own foreach-state table (layout 'stack')."""
        return self.dynamodb_table_layout == "stack"

    def warnings(self, stack: str, orchestrator: str | None = None) -> list[str]:
        """What ``flowstacks synth`` warns about for ``stack`` (deployed with ``orchestrator``:
        what only another backend uses is not worth a warning)."""
        out = []
        if self.metadata == "local" and not self.metadata_chosen:
            out.append(
                f"stack '{stack}': no Metaflow metadata service is configured, so tasks run with "
                "--metadata=local and their runs are invisible to the Metaflow client outside the "
                "task; set platform=Platform(service_url=...) (or METAFLOW_SERVICE_URL and "
                "METAFLOW_DEFAULT_METADATA=service), or Platform(metadata='local') if that is "
                "intended")
        for key, why in sorted(self.ignored.items()):
            if key in SFN_ONLY_KEYS and orchestrator not in (None, "step-functions"):
                continue
            out.append(f"stack '{stack}': {why}")
        return out
