"""Resolve the platform of one stack: the flowstacks config first, the Metaflow config where it is
silent, flowstacks' defaults last; each value with its source (pure: the Metaflow config values
arrive as data, read by ``flowstacks/load/platform.py``).

Order, per setting of :data:`flowstacks.model.platform.SETTINGS`:

1. ``platform_overrides[<namespace class>].<field>``
2. ``platform.<field>``
3. the older field that sets it for every namespace (``aws.datastore_root``...), when written
4. what follows from the flowstacks config itself: a ``service_url`` set there means
   ``metadata='service'`` and tasks using that URL
5. the Metaflow config in effect (``METAFLOW_<KEY>``: environment, ``.metaflow/config.json``,
   ``$METAFLOW_HOME/config[_<profile>].json``), exactly as Metaflow's deployer reads it
6. flowstacks' default
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import ValidationError

from flowstacks.errors import FlowstacksError
from flowstacks.model.config import ProjectConfig
from flowstacks.model.platform import (
    DEFAULT_SOURCE, SETTINGS, NamespaceClass, Platform, ResolvedPlatform, Setting,
    namespace_datastore_root, stack_kubernetes_namespace,
)

# KEY (without METAFLOW_) -> (value, where it was read, e.g. "METAFLOW_SERVICE_URL (environment)")
MetaflowValues = Mapping[str, tuple[Any, str]]
AUTH_KEY_IGNORED = ("{source} is not deployed: tasks get the service auth key only from the "
                    "Pulumi secret flowstacks:serviceAuthKey "
                    "(pulumi config set --secret flowstacks:serviceAuthKey ...)")


TABLE_IGNORED = ("{source} ({table!r}) is not deployed: every Step Functions stack creates and "
                 "owns its own DynamoDB table, so namespaces cannot touch each other's foreach "
                 "state; set dynamodb_table_layout='shared' (with dynamodb_table) to use a "
                 "shared table instead")
OWN_TABLE_SOURCE = ("the stack's own table, named for its namespace "
                    "(dynamodb_table_layout 'stack', the default)")


def class_profile(config: ProjectConfig, kind: NamespaceClass) -> tuple[str | None, str | None]:
    """The Metaflow profile the flowstacks config names for a namespace class, and where."""
    override = config.platform_overrides.get(kind)
    if override is not None and override.metaflow_profile:
        return override.metaflow_profile, f"platform_overrides['{kind}'].metaflow_profile"
    if config.platform.metaflow_profile:
        return config.platform.metaflow_profile, "platform.metaflow_profile"
    return None, None


def _explicit(config: ProjectConfig, kind: NamespaceClass, setting: Setting
              ) -> tuple[Any, str] | None:
    override = config.platform_overrides.get(kind)
    if override is not None and getattr(override, setting.field) is not None:
        return getattr(override, setting.field), f"platform_overrides['{kind}'].{setting.field}"
    if getattr(config.platform, setting.field) is not None:
        return getattr(config.platform, setting.field), f"platform.{setting.field}"
    if setting.legacy:
        section, name = setting.legacy.split(".")
        model = getattr(config, section)
        if name in model.model_fields_set:
            return getattr(model, name), setting.legacy
    return None


def _from_metaflow(setting: Setting, metaflow: MetaflowValues) -> tuple[Any, str] | None:
    for key in setting.metaflow:
        found = metaflow.get(key)
        # An empty value counts as unset (Metaflow would deploy the empty string).
        if found is None or found[0] is None or found[0] == "":
            continue
        value, source = found
        try:
            checked = getattr(Platform(**{setting.field: str(value)}), setting.field)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise FlowstacksError(f"METAFLOW_{key} {value!r}: {msg}", where=source,
                                  hint=f"or set platform.{setting.field} in the flowstacks config"
                                  ) from None
        return checked, source
    return None


def resolve_platform(config: ProjectConfig, kind: NamespaceClass, metaflow: MetaflowValues,
                     profile: str | None = None, profile_source: str | None = None,
                     branch_name: str | None = None) -> tuple[ProjectConfig, ResolvedPlatform]:
    """The stack's effective config (``aws``/``kubernetes``/``airflow`` with this class's
    values) and its :class:`ResolvedPlatform`. ``metaflow``: the Metaflow config in effect for
    this class (``profile`` names its profile file, when one is used). ``branch_name``: the
    stack's Metaflow branch; with it, ``aws.datastore_root`` becomes the namespace's own root
    (:func:`namespace_datastore_root`, issue 16), without it the class root is kept."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        found = _explicit(config, kind, setting)
        if found is None:
            found = _derived(setting, values, sources)
        if found is None:
            found = _from_metaflow(setting, metaflow)
        if found is None:
            continue
        values[setting.target], sources[setting.target] = found
    for setting in SETTINGS:  # every setting gets a source, "default" ones too
        sources.setdefault(setting.target, DEFAULT_SOURCE)
    if profile:
        sources["metaflow_profile"] = profile_source or "METAFLOW_PROFILE"
    runtime = {t.split(".", 1)[1]: v for t, v in values.items() if t.startswith("runtime.")}
    if branch_name is not None:
        _kubernetes_namespaces(config, kind, branch_name, values, sources,
                               runtime.get("kubernetes_namespace_layout") or "class")
    _webhook_url(config, values, sources)
    class_root = values.get("aws.datastore_root", config.aws.datastore_root)
    runtime["datastore_class_root"] = class_root
    if branch_name is not None:
        values["aws.datastore_root"] = namespace_datastore_root(
            class_root, branch_name, runtime.get("datastore_layout") or "namespace")
    ignored = {}
    if (runtime.get("dynamodb_table_layout") or "stack") == "stack":
        # The stack names and creates its own table (load/project.py, issue 16); a table from
        # the Metaflow config would be shared with every namespace configured with it.
        found = sources.get("aws.dynamodb_table", DEFAULT_SOURCE)
        if found.startswith("METAFLOW_"):
            ignored["METAFLOW_SFN_DYNAMO_DB_TABLE"] = TABLE_IGNORED.format(
                source=found, table=values["aws.dynamodb_table"])
        values.pop("aws.dynamodb_table", None)
        sources["aws.dynamodb_table"] = OWN_TABLE_SOURCE
    if metaflow.get("SERVICE_AUTH_KEY", (None, ""))[0]:
        ignored["METAFLOW_SERVICE_AUTH_KEY"] = AUTH_KEY_IGNORED.format(
            source=metaflow["SERVICE_AUTH_KEY"][1])
    resolved = ResolvedPlatform(**runtime, metaflow_profile=profile, sources=sources,
                                ignored=ignored)
    if resolved.metadata == "service" and not resolved.task_service_url:
        raise FlowstacksError(
            "metadata 'service' needs the metadata service's URL",
            where=sources["runtime.metadata"],
            hint="set platform=Platform(service_url=...) (or METAFLOW_SERVICE_URL)")
    return _effective(config, values), resolved


def _derived(setting: Setting, values: dict[str, Any], sources: dict[str, str]
             ) -> tuple[Any, str] | None:
    """What a ``service_url`` written in the flowstacks config implies (step 4)."""
    url_source = sources.get("runtime.service_url", "")
    if not url_source.startswith("platform"):
        return None
    if setting.target == "runtime.metadata":
        return "service", url_source
    if setting.target == "runtime.service_internal_url":
        return None, f"{url_source} (tasks use it)"
    return None


def _effective(config: ProjectConfig, values: dict[str, Any]) -> ProjectConfig:
    updates: dict[str, dict[str, Any]] = {}
    for target, value in values.items():
        section, name = target.split(".", 1)
        if section != "runtime":
            updates.setdefault(section, {})[name] = value
    if not updates:
        return config
    # The effective config holds each value in both places, which must agree: a class's
    # override (or the namespace's datastore root) replaces platform.<field> too.
    platform = {}
    for setting in SETTINGS:
        if setting.legacy is None or getattr(config.platform, setting.field) is None:
            continue
        section, name = setting.legacy.split(".")
        if name in updates.get(section, {}):
            platform[setting.field] = updates[section][name]
    if platform:
        updates["platform"] = platform
    return config.model_copy(update={
        section: getattr(config, section).model_copy(update=fields)
        for section, fields in updates.items()})


def _kubernetes_namespaces(config: ProjectConfig, kind: NamespaceClass, branch_name: str,
                           values: dict[str, Any], sources: dict[str, str], layout: str) -> None:
    """The stack's Kubernetes namespaces (Argo's and Airflow's pods) after the layout."""
    for target, default in (("kubernetes.namespace", config.kubernetes.namespace),
                            ("airflow.namespace", config.airflow.namespace)):
        configured = values.get(target, default)
        specific = sources.get(target, "").startswith(f"platform_overrides['{kind}']")
        values[target] = stack_kubernetes_namespace(configured, kind, branch_name, layout,
                                                    specific)


# Argo Events' service of a webhook EventSource: ``<name>-eventsource-svc`` in its namespace
WEBHOOK_PORT = 12000
WEBHOOK_DERIVED = ("flowstacks default: the EventSource {source!r} in the sensors' namespace "
                   "{namespace!r}")


def _webhook_url(config: ProjectConfig, values: dict[str, Any], sources: dict[str, str]) -> None:
    """Unless something sets it, the URL tasks post events to is the webhook EventSource in the
    namespace where the stack's sensors listen: an EventSource publishes only to the bus of its own
    namespace (docs/metaflow-contract.md#platform-prerequisites), so any other default would
    leave every trigger silent."""
    target = "kubernetes.argo_events_webhook_url"
    if sources.get(target, DEFAULT_SOURCE) != DEFAULT_SOURCE:
        return
    k8s = config.kubernetes

    def value(name: str) -> Any:
        return values.get(f"kubernetes.{name}", getattr(k8s, name))

    namespace = value("argo_events_sensor_namespace") or value("namespace")
    source = value("argo_events_event_source")
    values[target] = (f"http://{source}-eventsource-svc.{namespace}:{WEBHOOK_PORT}/"
                      f"{value('argo_events_event')}")
    sources[target] = WEBHOOK_DERIVED.format(source=source, namespace=namespace)
