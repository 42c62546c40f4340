"""The example values a stack must not be deployed with (issue 15): flowstacks' defaults and the
example project name an AWS account (``123456789012``, the account AWS's documentation uses), an
EKS OIDC provider (``.../id/EXAMPLE``) and a CI identity (``repo:example-org/example-repo:...``) that
are nobody's. ``flowstacks synth`` renders them (an offline plan needs some value) and says so in
one line; ``pulumi up`` (the program outside a preview) refuses a stack that still uses any,
naming each field and where it is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowstacks.errors import FlowstacksError
from flowstacks.model.config import ProjectConfig
from flowstacks.model.platform import DEFAULT_SOURCE, ResolvedPlatform

PLACEHOLDER_ACCOUNT = "123456789012"
PLACEHOLDER_OIDC_SUFFIX = "/id/EXAMPLE"
PLACEHOLDER_SUBJECT_PREFIX = "repo:example-org/example-repo:"
# Orchestrators whose task pods assume their role through the cluster's OIDC provider (IRSA).
IRSA_ORCHESTRATORS = ("argo", "airflow")


@dataclass(frozen=True)
class Placeholder:
    field: str  # the effective setting (aws.account_id, kubernetes.oidc_provider_arn, ...)
    value: str
    where: str  # where the value comes from: the config field (with its file) or the default

    def render(self) -> str:
        return f"{self.field} = {self.value!r} ({self.where})"


def _where(source: str, config_file: str, field: str) -> str:
    if source == DEFAULT_SOURCE:
        return f"flowstacks' default; set {field} in {config_file}"
    if source.startswith(("platform", "aws.", "kubernetes.", "deployer.")):
        return f"set by {source} in {config_file}"
    return f"set by {source}"


def find_placeholders(config: ProjectConfig, platform: ResolvedPlatform, orchestrator: str,
                      config_file: str) -> list[Placeholder]:
    """The example values among what a stack of ``orchestrator`` deploys with: ``config`` and
    ``platform`` as :meth:`flowstacks.load.project.ProjectDir.stack_platform` gives them."""
    found = []
    sources = platform.sources
    if config.aws.account_id == PLACEHOLDER_ACCOUNT:
        found.append(Placeholder("aws.account_id", config.aws.account_id, _where(
            sources.get("aws.account_id", DEFAULT_SOURCE), config_file, "platform.account_id")))
    oidc = config.kubernetes.oidc_provider_arn
    if orchestrator in IRSA_ORCHESTRATORS and oidc.endswith(PLACEHOLDER_OIDC_SUFFIX):
        found.append(Placeholder("kubernetes.oidc_provider_arn", oidc, _where(
            sources.get("kubernetes.oidc_provider_arn", DEFAULT_SOURCE), config_file,
            "platform.oidc_provider_arn")))
    deployer = config.deployer
    set_here = deployer.model_fields_set
    if f":{PLACEHOLDER_ACCOUNT}:" in deployer.oidc_provider_arn:
        found.append(Placeholder("deployer.oidc_provider_arn", deployer.oidc_provider_arn, _where(
            "deployer.oidc_provider_arn" if "oidc_provider_arn" in set_here else DEFAULT_SOURCE,
            config_file, "deployer=Deployer(oidc_provider_arn=...)")))
    if deployer.subject_template.startswith(PLACEHOLDER_SUBJECT_PREFIX):
        found.append(Placeholder("deployer.subject_template", deployer.subject_template, _where(
            "deployer.subject_template" if "subject_template" in set_here else DEFAULT_SOURCE,
            config_file, "deployer=Deployer(subject_template=...)")))
    return found


def refuse_placeholders(stack: str, found: list[Placeholder]) -> None:
    """Stop a real deployment that still uses example values, naming all of them at once."""
    if found:
        raise FlowstacksError(
            "refusing to deploy example values: " + "; ".join(p.render() for p in found),
            where=f"stack '{stack}'",
            hint="set the real account, cluster OIDC provider and CI identity in the config; "
            "`flowstacks synth` and `pulumi preview` still run with them")


def placeholder_note(found: dict[str, list[Placeholder]]) -> str | None:
    """The one line ``flowstacks synth`` prints when its output uses example values (per field,
    the stacks that use it)."""
    fields: dict[str, list[str]] = {}
    for stack, items in found.items():
        for item in items:
            fields.setdefault(item.field, []).append(stack)
    if not fields:
        return None
    listed = ", ".join(f"{field} ({', '.join(stacks)})" if len(stacks) < len(found) else field
                       for field, stacks in fields.items())
    return (f"note: the output uses example values that `pulumi up` refuses: {listed}; "
            "set the real ones in the config")
