"""The explicit providers of a stack: every cloud resource is created with them, never with Pulumi's
default providers.

Without them the default AWS provider deploys wherever ``aws:region`` / ``AWS_REGION`` and the
credentials at hand point, while ARNs, IAM documents and trust policies are built for the
config's region and account: a deploy with the wrong credentials would create a namespace whose
roles name another account. The AWS provider pins the region and ``allowedAccountIds`` (the
Terraform AWS provider checks the caller's account before any change, ``allowed_account_ids``),
so a deploy to the wrong account fails before it changes anything. The Kubernetes provider
(stacks that create Kubernetes objects: Argo, and Airflow's task service account) pins the
kubeconfig context and the default namespace.

The providers reach every resource through the outermost components' ``providers`` option:
children inherit them from their parent (``pulumi.Resource._get_providers``).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from flowstacks.model.deployment import StackContext

# The providers' logical names: part of their URNs, which every resource's provider reference
# names (renaming one would make Pulumi replace every resource created with it).
AWS_PROVIDER = "aws"
KUBERNETES_PROVIDER = "kubernetes"
# Orchestrators whose stacks create Kubernetes objects, and the namespace of their objects.
KUBERNETES_ORCHESTRATORS = ("argo", "airflow")


def kubernetes_namespace(ctx: StackContext) -> str:
    """The namespace of the stack's Kubernetes objects: Argo's (``kubernetes.namespace``) or that
    of Airflow's task pods (``airflow.namespace``)."""
    return ctx.config.airflow.namespace if ctx.orchestrator == "airflow" else ctx.config.kubernetes.namespace


def providers(region: str, account_id: str, kubernetes_context: str | None = None,
              kubernetes_namespace: str | None = None, kubernetes: bool = False
              ) -> list[pulumi.ProviderResource]:
    """The AWS provider pinned to ``region`` and ``account_id`` and, with ``kubernetes``, the
    Kubernetes provider of ``kubernetes_context`` (default namespace ``kubernetes_namespace``)."""
    made: list[pulumi.ProviderResource] = [aws.Provider(
        AWS_PROVIDER, region=region, allowed_account_ids=[account_id])]
    if kubernetes:
        made.append(k8s.Provider(KUBERNETES_PROVIDER, context=kubernetes_context,
                                 namespace=kubernetes_namespace))
    return made


def stack_providers(ctx: StackContext) -> list[pulumi.ProviderResource]:
    """The AWS provider of the stack (region, allowed account) and, for a stack with Kubernetes
    objects, its Kubernetes provider (context, namespace)."""
    settings = ctx.config.aws
    return providers(settings.region, settings.account_id, ctx.config.kubernetes.context,
                     kubernetes_namespace(ctx), ctx.orchestrator in KUBERNETES_ORCHESTRATORS)
