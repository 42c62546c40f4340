"""The ``platform`` stack's objects (:mod:`flowstacks.deploy.platform_stack` plans them)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from flowstacks.deploy.platform_stack import PlatformPlan
from flowstacks.doctor.prereqs import TABLE_HASH_KEY, TABLE_TTL_ATTRIBUTE

ARGO_EVENTS_API = "argoproj.io/v1alpha1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "flowstacks"}


class PlatformObjects(pulumi.ComponentResource):
    """The shared table, namespaces and Argo Events objects, each protected."""

    def __init__(self, name: str, plan: PlatformPlan, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flowstacks:platform:Objects", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, protect=True)
        self.tables = [aws.dynamodb.Table(
            f"table-{table}", name=table, billing_mode="PAY_PER_REQUEST", hash_key=TABLE_HASH_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=TABLE_HASH_KEY, type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=TABLE_TTL_ATTRIBUTE, enabled=True),
            opts=child) for table in plan.tables]
        self.namespaces = {ns: k8s.core.v1.Namespace(
            f"namespace-{ns}", metadata=k8s.meta.v1.ObjectMetaArgs(name=ns, labels=MANAGED_BY),
            opts=child) for ns in plan.namespaces}

        def in_namespace(ns: str) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=[self.namespaces[ns]]))

        self.buses = [CustomResource(
            f"eventbus-{ns}-{bus}", api_version=ARGO_EVENTS_API, kind="EventBus",
            metadata={"name": bus, "namespace": ns, "labels": MANAGED_BY},
            spec={"jetstream": {"version": "latest"}}, opts=in_namespace(ns))
            for ns, bus in plan.buses]
        self.sources = [CustomResource(
            f"eventsource-{s.namespace}-{s.name}", api_version=ARGO_EVENTS_API, kind="EventSource",
            metadata={"name": s.name, "namespace": s.namespace, "labels": MANAGED_BY},
            spec={"eventBusName": s.bus,
                  "service": {"ports": [{"port": s.port, "targetPort": s.port}]},
                  "webhook": {s.event: {"port": str(s.port), "endpoint": s.endpoint,
                                        "method": "POST"}}},
            opts=in_namespace(s.namespace)) for s in plan.sources]
        self.register_outputs({"tables": list(plan.tables), "namespaces": list(plan.namespaces)})
