"""The Configs of a flow resolved for one deployment, as Metaflow resolves them at deploy time
(docs/metaflow-contract.md#config): the file the flowstacks config gives, else the Config's
default file or value, parsed with its parser, then the flow's config decorators applied.

Called by :mod:`flowstacks.load.flows` within Metaflow's ``flow_context`` of the class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from flowstacks.errors import FlowstacksError
from flowstacks.load.flow_model import jsonable
from flowstacks.render.serialize import compact_json


class ConfigRead(NamedTuple):
    """One Config as resolved for a deployment (becomes a ``ConfigValue`` in the model)."""

    name: str
    value: Any
    plain: bool
    source: str | None


def read_config_value(param: Any, override: Path | None, flow_file: Path) -> tuple[Any, str | None]:
    """The raw value of one Config: override file, default file, or default value."""
    from metaflow.user_configs.config_options import ConfigInput

    plain = bool(param.kwargs.get("plain"))
    source: Path | None = override
    text: str | None = None
    if source is None and param._default_is_file:
        default = param.kwargs.get("default")
        if isinstance(default, str) and default.startswith('"'):
            default = json.loads(default)
        if callable(default):
            raise FlowstacksError(
                f"Config '{param.name}' has a deploy-time default; give its file in the config",
                where=str(flow_file),
            )
        source = (flow_file.parent / default) if default else None
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise FlowstacksError(
                f"configuration file '{source}' could not be read for '{param.name}': "
                f"{exc.strerror}", where=str(flow_file),
            ) from None
    else:
        default = param.kwargs.get("default")
        if default is None:
            if param.kwargs.get("required"):
                raise FlowstacksError(f"missing configuration for '{param.name}'", where=str(flow_file))
            return None, None
        if isinstance(default, Mapping):
            return jsonable(default), None
        text = default if isinstance(default, str) else compact_json(default)
    try:
        if param.parser:
            value = ConfigInput._call_parser(param.parser, text, plain)
        else:
            value = text if plain else json.loads(text)
    except (ValueError, TypeError) as exc:
        raise FlowstacksError(
            f"configuration value for '{param.name}' is not valid: {exc}",
            where=str(source or flow_file),
        ) from None
    return jsonable(value), str(source) if source is not None else None


def resolve_configs(cls: type, flow_file: Path, overrides: Mapping[str, Path]) -> list[ConfigRead]:
    from metaflow.flowspec import FlowStateItems
    from metaflow.user_configs.config_parameters import ConfigValue as MFConfigValue

    configs: list[ConfigRead] = []
    options: dict[str, Any] = {}
    for _, param in cls._get_parameters():
        if not param.IS_CONFIG_PARAMETER:
            continue
        value, source = read_config_value(param, overrides.get(param.name), flow_file)
        plain = bool(param.kwargs.get("plain"))
        cls._flow_state.self_data[FlowStateItems.CONFIGS][param.name] = (value, plain)
        key = param.name.replace("-", "_").lower()
        options[key] = value if value is None or plain else MFConfigValue(value)
        configs.append(ConfigRead(param.name, value, plain, source))
    unknown = set(overrides) - {c.name for c in configs}
    if unknown:
        raise FlowstacksError(
            f"the config gives a file for Config {sorted(unknown)} but {cls.__name__} declares "
            f"{sorted(c.name for c in configs) or 'no Config'}", where=str(flow_file),
        )
    cls._process_config_decorators(options)
    return configs

