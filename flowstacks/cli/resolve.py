"""``flowstacks names``: what Metaflow would call one flow file for given flags (no pulumi)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.load.metaflow_env import MetaflowEnv
from flowstacks.model.names import DeployNames
from flowstacks.naming import NamingSettings, deploy_names
from flowstacks.naming.project import (
    MSG_UNKNOWN_USER, ProjectNamespace, resolve_cli_options, resolve_namespace, resolve_username,
)


def names_for_file(flow_file: Path, branch: str | None, production: bool, mfenv: MetaflowEnv,
                   configs: dict[str, Path] | None = None) -> DeployNames:
    """Read ``flow_file`` with Metaflow and resolve its names as Metaflow's CLI would
    (docs/metaflow-contract.md#user-resolution, #branches, #names)."""
    from flowstacks.load.flows import read_project

    if not flow_file.is_file():
        raise FlowstacksError("no such flow file", where=str(flow_file))
    name, project = read_project(flow_file, flow_file.parent, configs or {})
    if project is None:
        raise FlowstacksError("has no @project decorator", where=str(flow_file))
    return deploy_names(resolve(name, project[0], project[1], branch, production, mfenv),
                        naming_settings(mfenv))


def naming_settings(mfenv: MetaflowEnv) -> NamingSettings:
    """The naming settings of Metaflow's config in effect (the deployer's machine)."""
    return NamingSettings(state_machine_prefix=mfenv.from_conf("SFN_STATE_MACHINE_PREFIX"))


def resolve(flow_name: str, project_name: str | None, attributes: dict[str, Any],
            branch: str | None, production: bool, mfenv: MetaflowEnv) -> ProjectNamespace:
    """The namespace Metaflow's CLI resolves for these flags in this environment
    (docs/metaflow-contract.md#user-resolution, #branches)."""
    user = resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config)
    # cli.py prints resolve_identity() at start: without a production token in the env, an
    # unknown user stops every command before @project is looked at.
    if user is None and not mfenv.env.get("METAFLOW_PRODUCTION_TOKEN"):
        raise MetaflowRuleError(MSG_UNKNOWN_USER, headline="Unknown user")
    cli_branch, cli_production = resolve_cli_options(branch, production, mfenv.env)
    return resolve_namespace(flow_name, project_name, attributes, cli_branch, cli_production, user,
                             mfenv.env.get("METAFLOW_OWNER"))
