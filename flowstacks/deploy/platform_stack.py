"""The opt-in ``platform`` stack: the shared objects Metaflow deployments need and that a Metaflow
namespace must not own (every namespace uses them; destroying a branch stack must not remove them).

``ProjectConfig(platform_stack=True)`` turns it on; ``pulumi up -s platform`` (or
``flowstacks synth --stack platform``) then creates, for every stack of the matrix and for
developer (``user.*``) stacks, from their resolved platform settings:

- a DynamoDB table that Step Functions namespaces share, only for namespace classes that opt in
  with ``dynamodb_table_layout='shared'`` (hash key ``pathspec``, TTL on ``ttl``:
  :mod:`flowstacks.doctor.prereqs`); by default every Step Functions stack creates and owns its
  own table (issue 16), so there is none to create here,
- the Kubernetes namespaces the Argo and Airflow pods run in,
- Argo Events: the EventBus each sensor listens on and the webhook EventSource that publishes
  Metaflow's events to it, in the sensor's namespace (an EventSource publishes only to a bus of
  its own namespace).

It deploys to the account and region of the ``prod`` namespace class; what another class needs in
another account or region is listed in the output ``elsewhere`` and not created. Everything it
creates is protected: these objects hold every namespace's run state.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from flowstacks.errors import FlowstacksError
from flowstacks.load.project import ProjectDir
from flowstacks.model.config import Kubernetes
from flowstacks.naming.stacks import PLATFORM_STACK

# a user.* stack stands for every developer stack (only the class matters for settings)
_USER_STAND_IN = "user.platform"


@dataclass(frozen=True, order=True)
class EventSourceSpec:
    namespace: str
    name: str
    bus: str
    event: str
    port: int
    endpoint: str


@dataclass(frozen=True)
class PlatformPlan:
    region: str
    account_id: str
    tables: tuple[str, ...]
    namespaces: tuple[str, ...]
    buses: tuple[tuple[str, str], ...]  # (namespace, bus)
    sources: tuple[EventSourceSpec, ...]
    elsewhere: tuple[str, ...]  # what stacks need in another account or region
    kubernetes_context: str | None = None  # the prod class's cluster


def require_enabled(project: ProjectDir) -> None:
    if not project.config.platform_stack:
        raise FlowstacksError(
            f"the '{PLATFORM_STACK}' stack is opt-in", where=f"{project.config_file}",
            hint="set platform_stack=True in the ProjectConfig to let flowstacks create the "
            "Kubernetes namespaces, Argo Events objects and any shared DynamoDB table")


def _webhook(url: str, where: str) -> tuple[int, str]:
    parsed = urlparse(url)
    if not parsed.path or parsed.path == "/":
        raise FlowstacksError(f"webhook URL {url!r} has no path (the EventSource's endpoint)",
                              where=where)
    return parsed.port or (443 if parsed.scheme == "https" else 80), parsed.path


def webhook_mismatch(k8s: Kubernetes) -> str | None:
    """Why tasks' events would not reach the sensors, or None: Argo Events names an EventSource's
    service ``<source>-eventsource-svc`` in the EventSource's namespace, and an EventSource
    publishes only to a bus of its own namespace, so the URL tasks post to must be that service
    in the sensor's namespace."""
    sensor_ns = k8s.argo_events_sensor_namespace or k8s.namespace
    host = urlparse(k8s.argo_events_webhook_url).hostname or ""
    service, _, rest = host.partition(".")
    url_ns = rest.split(".", 1)[0] if rest else None
    expected = f"{k8s.argo_events_event_source}-eventsource-svc"
    if service == expected and url_ns in (sensor_ns, None):
        return None
    if service != expected and not service.endswith("-eventsource-svc"):
        return None  # an ingress or another proxy in front: nothing to compare
    return (f"tasks post events to {k8s.argo_events_webhook_url} (service {service} in "
            f"namespace {url_ns}), but the sensors listen in namespace '{sensor_ns}' on the bus "
            f"of EventSource '{k8s.argo_events_event_source}' there: the events never arrive")


def plan_platform(project: ProjectDir) -> PlatformPlan:
    """What the platform stack creates for ``project`` (pure: settings only, no synthesis)."""
    require_enabled(project)
    base_config = project.stack_platform("prod")[0]
    base = base_config.aws
    tables, namespaces, buses, sources, elsewhere = set(), set(), set(), set(), set()
    for stack in [*project.stacks(), _USER_STAND_IN]:
        config, platform = project.stack_platform(stack)
        orchestrator = project.orchestrator(stack)
        label = "user.* stacks" if stack == _USER_STAND_IN else f"stack '{stack}'"
        if orchestrator == "step-functions":
            if platform.owns_dynamodb_table:
                continue  # the stack creates its own table (issue 16)
            aws = config.aws
            if (aws.account_id, aws.region) != (base.account_id, base.region):
                elsewhere.add(f"DynamoDB table {aws.dynamodb_table} in {aws.account_id}/"
                              f"{aws.region} ({label})")
            else:
                tables.add(aws.dynamodb_table)
        elif orchestrator == "airflow":
            namespaces.add(config.airflow.namespace)
        else:
            k8s = config.kubernetes
            mismatch = webhook_mismatch(k8s)
            if mismatch:
                raise FlowstacksError(mismatch, where=f"{project.config_file}: kubernetes."
                                      f"argo_events_webhook_url ({label})",
                                      hint="point it at http://<event source>-eventsource-svc."
                                      "<sensor namespace>:<port>/<event>, or set "
                                      "argo_events_sensor_namespace to the URL's namespace")
            namespaces.add(k8s.namespace)
            sensor_ns = k8s.argo_events_sensor_namespace or k8s.namespace
            namespaces.add(sensor_ns)
            buses.add((sensor_ns, k8s.argo_events_event_bus))
            port, endpoint = _webhook(k8s.argo_events_webhook_url,
                                      f"kubernetes.argo_events_webhook_url ({label})")
            sources.add(EventSourceSpec(sensor_ns, k8s.argo_events_event_source,
                                        k8s.argo_events_event_bus, k8s.argo_events_event,
                                        port, endpoint))
    _one_source_per_name(sources)
    return PlatformPlan(base.region, base.account_id, tuple(sorted(tables)),
                        tuple(sorted(namespaces)), tuple(sorted(buses)), tuple(sorted(sources)),
                        tuple(sorted(elsewhere)), base_config.kubernetes.context)


def _one_source_per_name(sources: set[EventSourceSpec]) -> None:
    seen: dict[tuple[str, str], EventSourceSpec] = {}
    for spec in sorted(sources):
        other = seen.setdefault((spec.namespace, spec.name), spec)
        if other != spec:
            raise FlowstacksError(
                f"two namespace classes want EventSource '{spec.name}' in namespace "
                f"'{spec.namespace}' with different settings ({other} vs {spec})",
                where="kubernetes.argo_events_*", hint="give them one event, bus and webhook URL")
