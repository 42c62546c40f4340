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
    # where the two files are (None: not found), to say where a value came from
    local_path: str | None = None
    global_path: str | None = None

    def from_conf(self, name: str) -> Any:
        """``METAFLOW_<name>``: env, then ``.metaflow/config.json``, then the global config."""
        found = self.lookup(name)
        return found[0] if found else None

    def lookup(self, name: str) -> tuple[Any, str] | None:
        """``METAFLOW_<name>`` as :meth:`from_conf` finds it, with where it was found."""
        key = f"METAFLOW_{name}"
        if key in self.env:
            return self.env[key], f"{key} (environment)"
        if key in self.local_config:
            return self.local_config[key], f"{key} in {self.local_path}"
        if key in self.global_config:
            return self.global_config[key], f"{key} in {self.global_path}"
        return None


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FlowstacksError(f"cannot read Metaflow config: {exc}", where=str(path)) from None


def global_config_path(env: Mapping[str, str], profile: str | None = None) -> Path:
    """``$METAFLOW_HOME/config.json``, or ``config_<profile>.json`` (``profile`` defaults to
    ``METAFLOW_PROFILE``), as ``metaflow_config_funcs.init_config`` names it."""
    home = Path(os.path.expanduser(env.get("METAFLOW_HOME", "~/.metaflowconfig")))
    profile = profile or env.get("METAFLOW_PROFILE")
    return home / (f"config_{profile}.json" if profile else "config.json")


def global_config(env: Mapping[str, str], profile: str | None = None) -> dict[str, Any]:
    """``$METAFLOW_HOME/config.json`` (or ``config_<profile>.json``; ``profile`` defaults to
    ``METAFLOW_PROFILE``). A named profile without its file is an error, as in Metaflow."""
    path = global_config_path(env, profile)
    profile = profile or env.get("METAFLOW_PROFILE")
    if path.exists():
        return _load_json(path)
    if profile:
        raise FlowstacksError(f"Unable to locate METAFLOW_PROFILE '{profile}' in '{path.parent}'")
    return {}


def local_config_path(cwd: Path) -> Path | None:
    """``.metaflow/config.json`` of the nearest ``.metaflow`` folder at or above ``cwd``."""
    current = cwd.resolve()
    while True:
        folder = current / LOCAL_CONFIG_DIR
        if folder.is_dir():
            path = folder / LOCAL_CONFIG_FILE
            return path if path.exists() else None
        if current.parent == current:
            return None
        current = current.parent


def local_config(cwd: Path) -> dict[str, Any]:
    """``.metaflow/config.json`` of the nearest ``.metaflow`` folder at or above ``cwd``."""
    path = local_config_path(cwd)
    return _load_json(path) if path else {}


def read_metaflow_env(cwd: Path | None = None, env: Mapping[str, str] | None = None,
                      profile: str | None = None) -> MetaflowEnv:
    """What Metaflow would read in ``cwd`` with ``env``; ``profile`` replaces
    ``METAFLOW_PROFILE`` (a namespace class's own profile)."""
    env = dict(os.environ if env is None else env)
    local = local_config_path(cwd or Path.cwd())
    glob = global_config_path(env, profile)
    return MetaflowEnv(env=env, local_config=_load_json(local) if local else {},
                       global_config=global_config(env, profile),
                       local_path=str(local) if local else None,
                       global_path=str(glob) if glob.exists() else None)
