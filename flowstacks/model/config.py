"""The flowstacks config: project, branch matrix, orchestrators, Config files, platform settings.

A project declares one :class:`ProjectConfig` as ``CONFIG`` in ``flowstacks_config.py`` at the project root
(what ``flowstacks init`` writes) or in ``flowspecs/flowstacks_config.py``. Without a config every flow of
``flowspecs/`` deploys with the defaults below (zero-config).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowstacks.errors import MetaflowRuleError
from flowstacks.model.platform import SETTINGS, NamespaceClass, Platform
from flowstacks.naming.project import validate_project_name
from flowstacks.naming.stacks import StackNamespace, parse_stack

Orchestrator = Literal["step-functions", "argo", "airflow"]
ORCHESTRATORS: tuple[str, ...] = ("step-functions", "argo", "airflow")

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_S3_URL_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")


class Model(BaseModel):
    """Frozen, and unknown fields are errors (a typo in the config must not pass silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Compute(Model):
    """Defaults for every step; ``@resources``/``@batch``/``@kubernetes`` win (Metaflow's own
    defaults: 1 CPU, 4096 MB, no GPU)."""

    cpu: float = Field(1, gt=0)
    memory: int = Field(4096, gt=0, description="MB")
    gpu: int = Field(0, ge=0)
    disk: int = Field(10240, gt=0, description="MB, Kubernetes ephemeral storage")
    image: str = "python:3.11"


class Aws(Model):
    """AWS settings shared by all backends (datastore, account) and the Step Functions backend."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    datastore_root: str = "s3://metaflow-datastore/metaflow"
    batch_job_queue: str = "metaflow-job-queue"
    dynamodb_table: str = Field(
        "metaflow-sfn-state", description="the foreach-state table of a stack's state machines: "
        "in a stack's effective config its own table (named for its namespace), or with "
        "dynamodb_table_layout 'shared' the shared one; set it only with that opt-in")
    state_machine_prefix: str | None = Field(
        None, description="METAFLOW_SFN_STATE_MACHINE_PREFIX: prepended as PREFIX_<name>")
    event_bus: str = "default"
    fargate_execution_role: str | None = None
    batch_container_role: str | None = Field(
        None, description="an existing task role ARN; by default flowstacks creates one per namespace")
    batch_platform: Literal["EC2", "SPOT", "FARGATE", "FARGATE_SPOT"] = Field(
        "EC2", description="platform of the queue's compute environment (Metaflow asks Batch; "
        "flowstacks renders offline): FARGATE job definitions need fargate_execution_role")
    s3_endpoint_url: str | None = Field(
        None, description="METAFLOW_S3_ENDPOINT_URL passed to tasks (S3-compatible stores, tests)")

    @field_validator("account_id")
    @classmethod
    def _account(cls, v: str) -> str:
        if not _ACCOUNT_RE.match(v):
            raise ValueError("must be 12 digits")
        return v

    @field_validator("datastore_root")
    @classmethod
    def _datastore(cls, v: str) -> str:
        if not _S3_URL_RE.match(v):
            raise ValueError("must be an s3://bucket/prefix URL")
        return v.rstrip("/")

    @property
    def datastore_bucket(self) -> str:
        return self.datastore_root[len("s3://"):].split("/", 1)[0]

    @property
    def datastore_prefix(self) -> str:
        rest = self.datastore_root[len("s3://"):].split("/", 1)
        return rest[1] if len(rest) > 1 else ""

    @property
    def batch_job_queue_arn(self) -> str:
        if self.batch_job_queue.startswith("arn:"):
            return self.batch_job_queue
        return f"arn:aws:batch:{self.region}:{self.account_id}:job-queue/{self.batch_job_queue}"


class Kubernetes(Model):
    """Kubernetes / Argo settings."""

    namespace: str = "metaflow"
    context: str | None = Field(
        None, description="the kubeconfig context the stack's Kubernetes provider deploys with "
        "(default: the kubeconfig's current context)")
    service_account: str | None = Field(None, description="default: one per stack, named for it")
    oidc_provider_arn: str = (
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE")
    argo_events_event: str = "metaflow-event"
    argo_events_event_source: str = "argo-events-webhook"
    argo_events_service_account: str = "operate-workflow-sa"
    argo_events_webhook_url: str = "http://argo-events-webhook-eventsource-svc.argo-events:12000/metaflow-event"
    argo_events_sensor_namespace: str | None = None
    argo_events_event_bus: str = Field("default", description="METAFLOW_ARGO_EVENTS_EVENT_BUS")
    argo_events_webhook_auth: str = Field("none", description="METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH")
    argo_version: str | None = Field(
        None, pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$",
        description="Argo Workflows version the cluster runs (e.g. '3.5'): before 3.6 a "
        "CronWorkflow gets the single `schedule` field (what Metaflow writes by default), from "
        "3.6 on (and when unset) the `schedules` list that Argo 4 requires")


class Airflow(Model):
    """Airflow (MWAA) settings: where DAG files go and how pods run."""

    dags_bucket: str = "airflow-dags"
    dags_prefix: str = "dags/"
    kubernetes_conn_id: str | None = None
    namespace: str = "airflow"
    metadata: Literal["local", "service"] = Field(
        "local", description="deprecated: use platform=Platform(metadata=...), which every "
        "backend follows")


class Deployer(Model):
    """Who may run ``pulumi up`` for a stack: the CI identity its deployer role trusts."""

    oidc_provider_arn: str = (
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
    audience: str = "sts.amazonaws.com"
    subject_template: str = Field(
        "repo:example-org/example-repo:environment:{stack}",
        description="the OIDC subject allowed for a stack; {stack} and {project} are filled in")

    @field_validator("oidc_provider_arn")
    @classmethod
    def _oidc(cls, v: str) -> str:
        if ":oidc-provider/" not in v:
            raise ValueError("must be an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/<issuer>)")
        return v


class StackSpec(Model):
    """One namespace of the branch matrix (``prod``, ``prod.<b>``, ``test.<b>``)."""

    name: str
    orchestrator: Orchestrator | None = Field(None, description="overrides the namespace class")
    configs: dict[str, str] = Field(
        default_factory=dict,
        description="Config name -> file (relative to the flows folder) for every flow declaring it")
    flow_configs: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="flow class -> {Config name -> file}")
    flows: list[str] | None = Field(None, description="deploy only these flows here")
    protect: bool | None = None

    @field_validator("name")
    @classmethod
    def _stack_name(cls, v: str) -> str:
        try:
            ns = parse_stack(v)
        except MetaflowRuleError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None
        if ns.kind == "user":
            raise ValueError("user.<name> stacks are per developer and need no entry in the matrix")
        return v

    @property
    def namespace(self) -> StackNamespace:
        return parse_stack(self.name)


class OrchestratorChoice(Model):
    """Which backend each namespace class uses."""

    user: Orchestrator = "argo"
    test: Orchestrator = "argo"
    prod: Orchestrator = "step-functions"


class ProjectConfig(Model):
    """The whole flowstacks config of one Metaflow project."""

    project: str | None = Field(None, description="@project name; default: the flows' own")
    flows_dir: str = Field("flowspecs", description="the folder of the flow files, relative to the "
                           "project root (POSIX, inside the project)")
    flows: list[str] | None = Field(None, description="flow class names to deploy; default all")
    owner: str = Field("flowstacks", description="METAFLOW_OWNER of non-user stacks")
    orchestrators: OrchestratorChoice = OrchestratorChoice()
    stacks: list[StackSpec] = Field(default_factory=lambda: [StackSpec(name="prod")])
    configs: dict[str, str] = Field(default_factory=dict,
                                    description="Config name -> file for every stack")
    compute: Compute = Compute()
    aws: Aws = Aws()
    kubernetes: Kubernetes = Kubernetes()
    airflow: Airflow = Airflow()
    deployer: Deployer = Deployer()
    protect_prod: bool = True
    review_stacks: bool = Field(
        False, description="also accept test.<b> stacks that are not in the matrix: the per-branch "
        "stacks of CI (`flowstacks stack for-git-branch`), deployed with the test defaults")

    @field_validator("flows_dir")
    @classmethod
    def _flows_dir(cls, v: str) -> str:
        norm = v.replace("\\", "/")
        parts = norm.split("/")
        if not v or norm.startswith("/") or ":" in v or ".." in parts:
            raise ValueError("must be a folder inside the project, relative to its root (e.g. 'pipelines')")
        return "/".join(p for p in parts if p not in ("", ".")) or "."

    platform: Platform = Field(
        default_factory=Platform,
        description="the Metaflow platform of every namespace (metadata service, secrets, KMS, "
        "datastore, queue, cluster); unset fields come from the Metaflow config in effect")
    platform_overrides: dict[NamespaceClass, Platform] = Field(
        default_factory=dict,
        description="per namespace class (prod, test, user): what differs from platform")
    platform_stack: bool = Field(
        False, description="the opt-in 'platform' stack: creates the Kubernetes namespaces, the "
        "Argo Events bus and webhook source and any shared DynamoDB table (dynamodb_table_layout "
        "'shared') the namespaces use")

    @field_validator("project")
    @classmethod
    def _project(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                validate_project_name(v)
            except MetaflowRuleError as exc:
                raise ValueError(exc.message) from None
        return v

    @model_validator(mode="after")
    def _unique_stacks(self) -> "ProjectConfig":
        names = [s.name for s in self.stacks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stacks listed twice: {', '.join(dupes)}")
        return self

    def accepts(self, stack: str) -> bool:
        """Whether a non-user ``stack`` may deploy: in the matrix, or a review stack."""
        return self.stack(stack) is not None or (
            self.review_stacks and parse_stack(stack).kind == "test")

    @model_validator(mode="after")
    def _platform_or_legacy(self) -> "ProjectConfig":
        """``platform.X`` and the older field that sets the same thing for every namespace
        (``aws.datastore_root``...) may not disagree: one of them would be ignored."""
        for setting in SETTINGS:
            mine = getattr(self.platform, setting.field)
            if setting.legacy is None or mine is None:
                continue
            section, name = setting.legacy.split(".")
            legacy = getattr(self, section)
            if name in legacy.model_fields_set and getattr(legacy, name) != mine:
                raise ValueError(
                    f"platform.{setting.field} ({mine!r}) and {setting.legacy} "
                    f"({getattr(legacy, name)!r}) disagree: set it in platform only")
        return self

    @model_validator(mode="after")
    def _shared_table_opt_in(self) -> "ProjectConfig":
        """A DynamoDB table named in the config is used only by namespace classes that opt in to
        sharing one (``dynamodb_table_layout='shared'``): by default every Step Functions stack
        creates its own (issue 16), and a name that silently stopped mattering would mislead."""
        named: dict[str, str] = {}  # where a table is named -> the table
        if self.platform.dynamodb_table is not None:
            named["platform.dynamodb_table"] = self.platform.dynamodb_table
        if "dynamodb_table" in self.aws.model_fields_set:
            named["aws.dynamodb_table"] = self.aws.dynamodb_table
        for kind, override in sorted(self.platform_overrides.items()):
            if override.dynamodb_table is not None:
                named[f"platform_overrides['{kind}'].dynamodb_table"] = override.dynamodb_table
        shared = set()  # the tables of the classes that opt in to sharing one
        for kind in ("prod", "test", "user"):
            override = self.platform_overrides.get(kind)
            layout = ((override.dynamodb_table_layout if override else None)
                      or self.platform.dynamodb_table_layout or "stack")
            if layout == "shared":
                shared.add(next((t for t in (override.dynamodb_table if override else None,
                                             self.platform.dynamodb_table,
                                             named.get("aws.dynamodb_table")) if t), None))
        # by value: a stack's effective config repeats its class's table in aws.dynamodb_table
        unused = [f"{where} ({table!r})" for where, table in named.items() if table not in shared]
        if unused:
            raise ValueError(
                f"{', '.join(unused)}: every Step Functions stack now creates and owns its own "
                "DynamoDB table (a shared one lets namespaces read and write each other's "
                "foreach state); remove the table name, or keep sharing it with "
                "dynamodb_table_layout='shared' in the same Platform")
        return self

    def stack(self, name: str) -> StackSpec | None:
        return next((s for s in self.stacks if s.name == name), None)

    def orchestrator_for(self, ns: StackNamespace) -> str:
        """The backend of a stack: its own choice, else its namespace class's."""
        spec = self.stack(ns.stack)
        if spec and spec.orchestrator:
            return spec.orchestrator
        return getattr(self.orchestrators, ns.kind)

    def protect(self, ns: StackNamespace) -> bool:
        """Whether a stack's resources are protected: its own choice, else prod stacks."""
        spec = self.stack(ns.stack)
        if spec and spec.protect is not None:
            return spec.protect
        return self.protect_prod and ns.kind == "prod"

    def config_files(self, stack: str, flow: str) -> dict[str, str]:
        """Config name -> file for one flow in one stack (stack-wide, then per flow, win last)."""
        files = dict(self.configs)
        spec = self.stack(stack)
        if spec:
            files.update(spec.configs)
            files.update(spec.flow_configs.get(flow, {}))
        return files
