"""Read what Metaflow reads from the process: env vars and its config files (impure).

The naming layer is pure and takes these values as arguments; this module is the one place that
collects them, the way ``metaflow_config_funcs.from_conf`` does (docs/metaflow-contract.md#user-resolution).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from flowstacks.errors import FlowstacksError

LOCAL_CONFIG_DIR = ".metaflow"  # metaflow_config.DATASTORE_LOCAL_DIR
LOCAL_CONFIG_FILE = "config.json"  # metaflow_config.LOCAL_CONFIG_FILE


@dataclass(frozen=True)
class MetaflowEnv:
    """The process environment and Metaflow's two config files."""

    env: Mapping[str, str]
    local_config: Mapping[str, Any] = field(default_factory=dict)
    global_config: Mapping[str, Any] = field(default_factory=dict)

    def from_conf(self, name: str) -> Any:
        """``METAFLOW_<name>``: env, then ``.metaflow/config.json``, then the global config."""
        key = f"METAFLOW_{name}"
        if key in self.env:
            return self.env[key]
        if key in self.local_config:
            return self.local_config[key]
        return self.global_config.get(key)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FlowstacksError(f"cannot read Metaflow config: {exc}", where=str(path)) from None


def global_config(env: Mapping[str, str]) -> dict[str, Any]:
    """``$METAFLOW_HOME/config.json`` (or ``config_<METAFLOW_PROFILE>.json``)."""
    home = Path(os.path.expanduser(env.get("METAFLOW_HOME", "~/.metaflowconfig")))
    profile = env.get("METAFLOW_PROFILE")
    path = home / (f"config_{profile}.json" if profile else "config.json")
    if path.exists():
        return _load_json(path)
    if profile:
        raise FlowstacksError(f"Unable to locate METAFLOW_PROFILE '{profile}' in '{home}'")
    return {}


def local_config(cwd: Path) -> dict[str, Any]:
    """``.metaflow/config.json`` of the nearest ``.metaflow`` folder at or above ``cwd``."""
    current = cwd.resolve()
    while True:
        folder = current / LOCAL_CONFIG_DIR
        if folder.is_dir():
            path = folder / LOCAL_CONFIG_FILE
            return _load_json(path) if path.exists() else {}
        if current.parent == current:
            return {}
        current = current.parent


def read_metaflow_env(cwd: Path | None = None, env: Mapping[str, str] | None = None) -> MetaflowEnv:
    env = dict(os.environ if env is None else env)
    return MetaflowEnv(env=env, local_config=local_config(cwd or Path.cwd()),
                       global_config=global_config(env))
