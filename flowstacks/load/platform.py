"""The platform of one stack: the flowstacks config, then the Metaflow config in effect (impure:
reads the environment and Metaflow's config files, nothing else).

Metaflow's deployer reads each ``METAFLOW_<KEY>`` with ``metaflow_config_funcs.from_conf``:
the environment variable, else ``.metaflow/config.json`` (the nearest one at or above the
working folder), else ``$METAFLOW_HOME/config.json`` or ``config_<METAFLOW_PROFILE>.json``.
flowstacks reads the same keys the same way, from the project's ``flowspecs/`` folder (where the
flows are run from), with the namespace class's own ``metaflow_profile`` in place of
``METAFLOW_PROFILE`` when the config names one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from flowstacks.errors import FlowstacksError
from flowstacks.load.flows import CONFIG_MODULE
from flowstacks.load.metaflow_env import read_metaflow_env
from flowstacks.model.config import ProjectConfig
from flowstacks.model.platform import METAFLOW_KEYS, ResolvedPlatform, prod_datastore_roots
from flowstacks.model.platform_resolve import class_profile, resolve_platform
from flowstacks.naming.stacks import parse_stack


def metaflow_values(flows_dir: Path, env: Mapping[str, str], profile: str | None
                    ) -> dict[str, tuple[Any, str]]:
    """Every Metaflow key a stack may use, with where it was found (absent keys left out);
    ``.metaflow/config.json`` is looked for from the flows' folder up."""
    mfenv = read_metaflow_env(flows_dir, env, profile)
    found = {}
    for key in METAFLOW_KEYS:
        hit = mfenv.lookup(key)
        if hit is not None:
            found[key] = hit
    return found


def stack_platform(config: ProjectConfig, stack: str, project_dir: Path,
                   env: Mapping[str, str] | None = None, *, flows_dir: Path | None = None,
                   config_file: str | None = None) -> tuple[ProjectConfig, ResolvedPlatform]:
    """``stack``'s effective config and resolved platform (:func:`resolve_platform`), with the
    Metaflow config of this process (``env``: the environment to read instead of os.environ).
    ``flows_dir``: where the flows run from (default ``<project_dir>/flowspecs``);
    ``config_file``: the config's path, named in errors about its fields."""
    env = dict(os.environ if env is None else env)
    ns = parse_stack(stack)
    flows_dir = flows_dir or Path(project_dir) / "flowspecs"
    try:
        effective, resolved = _resolve(config, ns.kind, flows_dir, env, ns.branch_name)
        if ns.kind != "prod" and resolved.read_prod_datastore:
            # read-only access to what prod's namespaces wrote: prod's class root and layout
            _, prod = _resolve(config, "prod", flows_dir, env, None)
            resolved = resolved.model_copy(update={"prod_datastore_roots": prod_datastore_roots(
                prod.datastore_class_root, prod.datastore_layout)})
        return effective, resolved
    except FlowstacksError as exc:
        if exc.where and not exc.where.startswith("METAFLOW_"):  # a field of the config file
            exc.where = f"{config_file or 'flowspecs/' + CONFIG_MODULE}: {exc.where}"
        raise


def _resolve(config: ProjectConfig, kind, flows_dir: Path, env: Mapping[str, str],
             branch_name: str | None) -> tuple[ProjectConfig, ResolvedPlatform]:
    profile, source = class_profile(config, kind)
    if profile is None and env.get("METAFLOW_PROFILE"):
        profile, source = env["METAFLOW_PROFILE"], "METAFLOW_PROFILE (environment)"
    values = metaflow_values(flows_dir, env, profile)
    return resolve_platform(config, kind, values, profile, source, branch_name)


def platform_warnings(platforms: Mapping[str, ResolvedPlatform],
                      orchestrators: Mapping[str, str] | None = None) -> list[str]:
    """What ``flowstacks synth`` warns about for each stack -> its platform (e.g. runs the
    Metaflow client cannot see: no metadata service configured); ``orchestrators``: each
    stack's backend, when known."""
    return [w for stack, platform in platforms.items()
            for w in platform.warnings(stack, (orchestrators or {}).get(stack))]
