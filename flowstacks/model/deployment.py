"""What one stack deploys, as plain data: the input of every renderer and component.

Built by :func:`flowstacks.load.project.stack_context` from the config, the flows and the stack name.
"""

from __future__ import annotations

from flowstacks.model.config import ProjectConfig
from flowstacks.model.flow import Flow, Frozen
from flowstacks.naming.names_model import DeployNames
from flowstacks.naming.namespace import sfn_state_table_name
from flowstacks.naming.settings import NamingSettings
from flowstacks.model.platform import ResolvedPlatform
from flowstacks.naming.stacks import NamespaceKind


SECRET_PLACEHOLDER = "__FLOWSTACKS_SECRET_{}__"


def secret_placeholder(name: str) -> str:
    """What renderers write where a secret goes; reviewers' artifacts keep it, the deployed
    objects get the value (as a Pulumi secret)."""
    return SECRET_PLACEHOLDER.format(name)


class FlowDeployment(Frozen):
    """One flow in one namespace, with every name Metaflow would give it
    (docs/metaflow-contract.md#names, #tokens)."""

    flow: Flow
    project_name: str
    branch_name: str
    is_production: bool
    is_user_branch: bool
    # CLI values Metaflow re-passes to each task as --branch/--production
    # (docs/metaflow-contract.md#task-environment).
    cli_branch: str | None
    cli_production: bool
    names: DeployNames  # made by flowstacks.naming.deploy_names

    @property
    def project_flow_name(self) -> str:
        return f"{self.project_name}.{self.branch_name}.{self.flow.name}"

    @property
    def state_machine_name(self) -> str:
        return self.names.step_functions.state_machine

    @property
    def eventbridge_rule_name(self) -> str:
        return self.names.step_functions.eventbridge_rule

    @property
    def argo_template_name(self) -> str:
        return self.names.argo.workflow_template

    @property
    def argo_sensor_name(self) -> str:
        return self.names.argo.sensor

    @property
    def airflow_dag_id(self) -> str | None:
        return self.names.airflow.dag_id

    def top_level_args(self) -> list[str]:
        """``--production``/``--branch B`` as separate argv words, exactly as Metaflow's
        ``dict_to_cli_options`` passes ``get_top_level_options()`` (options order: production,
        then branch; False/None omitted; values shell-quoted by the caller as Metaflow does)."""
        args = []
        if self.cli_production:
            args.append("--production")
        if self.cli_branch is not None:
            args += ["--branch", self.cli_branch]
        return args


class StackContext(Frozen):
    """One stack = one Metaflow namespace and everything deployed into it."""

    stack: str
    kind: NamespaceKind
    project_name: str
    branch_name: str
    orchestrator: str
    owner: str  # METAFLOW_OWNER in tasks
    token_prefix: str
    token_index: int
    production_token: str
    protect: bool
    config: ProjectConfig
    flows: tuple[FlowDeployment, ...]
    # METAFLOW_SERVICE_HEADERS in every task. With a secret service auth key it holds
    # secret_placeholder("serviceAuthKey"), which only components replace, as a Pulumi secret.
    service_headers: str = "{}"
    # The stack's metadata service, secrets backend, encryption and cluster wiring beyond
    # config.aws/kubernetes/airflow (which already hold this stack's values), with the source
    # of every setting (flowstacks/model/platform.py).
    platform: ResolvedPlatform = ResolvedPlatform()

    @property
    def tags(self) -> dict[str, str]:
        """Tags on every role and taggable resource."""
        return {
            "metaflow/production_token": self.production_token,
            "metaflow/project": self.project_name,
            "metaflow/branch": self.branch_name,
            "flowstacks/stack": self.stack,
        }

    @property
    def dynamodb_table(self) -> str:
        """The foreach-state table of the stack's Step Functions tasks: with
        dynamodb_table_layout 'stack' (the default) the namespace's own, which the stack creates
        (:func:`flowstacks.naming.namespace.sfn_state_table_name`, issue 16); with 'shared' the
        configured one. Derived here rather than written into ``config.aws``, which holds only
        what the project configured."""
        if self.platform.owns_dynamodb_table:
            return sfn_state_table_name(self.project_name, self.branch_name,
                                        self.config.aws.state_machine_prefix)
        return self.config.aws.dynamodb_table

    @property
    def namespace(self) -> str:
        """The Metaflow client namespace of every deployed run (docs/metaflow-contract.md#namespace)."""
        return f"production:{self.production_token}"

    @property
    def metaflow_user(self) -> str | None:
        """The Metaflow user a developer stack deploys as when its name cannot spell it (recorded as
        ``flowstacks:metaflowUser``: stack ``user.alice-corp-com``, branch ``user.alice@corp.com``);
        None when the branch is the stack's name."""
        if self.kind == "user" and self.branch_name != self.stack:
            return self.branch_name.removeprefix("user.")
        return None

    @property
    def naming(self) -> NamingSettings:
        """The settings this stack's names were made with (exported as the output ``naming``)."""
        return NamingSettings(self.config.aws.state_machine_prefix, self.token_index,
                              self.metaflow_user)

    def flow(self, name: str) -> FlowDeployment:
        return next(f for f in self.flows if f.flow.name == name)
