"""What the Argo backend refuses before any object exists: what ``KubernetesDecorator.step_init``
refuses (Metaflow's messages), and names Kubernetes would refuse (docs/metaflow-contract.md#names)."""

from __future__ import annotations

import re

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.deployment import FlowDeployment
from flowstacks.render.metaflow_runtime import MIN_RUNTIME_LIMIT

# Kubernetes object names (DNS-1123 subdomain, apimachinery validation.IsDNS1123Subdomain).
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_SUBDOMAIN_MAX = 253
# Argo Workflows: a CronWorkflow name leaves room for its 11-character run suffix.
CRON_WORKFLOW_NAME_MAX = 52


def check_kubernetes_name(name: str, kind: str, fd: FlowDeployment, limit: int) -> None:
    """Metaflow emits names Kubernetes refuses (a user ``john doe`` keeps its space);
    flowstacks stops before any object exists."""
    if len(name) > limit or not DNS1123_SUBDOMAIN.match(name):
        raise FlowstacksError(
            f"the Argo {kind} name {name!r} (from {fd.project_flow_name!r}) is not a valid "
            f"Kubernetes name: lowercase letters, digits, '-' and '.', at most {limit} characters",
            where=f"{fd.flow.file} ({fd.flow.name})",
            hint="user names end up in user.<name> namespaces; use a stack name such as "
                 "user.john_doe (Metaflow keeps spaces, '/' and non-ASCII letters)")


def check_steps(fd: FlowDeployment) -> None:
    """What ``KubernetesDecorator.step_init`` refuses when Metaflow attaches ``@kubernetes``."""
    for step in fd.flow.steps:
        where = f"{fd.flow.file} ({fd.flow.name}.{step.name})"
        if step.decorator("batch"):
            raise MetaflowRuleError(
                f"Step *{step.name}* is marked for execution both on AWS Batch and Kubernetes. "
                "Please use one or the other.", where=where,
                hint="deploy this flow with --orchestrator step-functions, or drop @batch")
        timeout = step.timeout_seconds
        if timeout is not None and timeout < MIN_RUNTIME_LIMIT:
            raise MetaflowRuleError(
                f"The timeout for step *{step.name}* should be at least 60 seconds for "
                "execution on Kubernetes.", where=where)
