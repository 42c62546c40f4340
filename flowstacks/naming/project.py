"""Metaflow's ``@project`` rules: user name, CLI options, branch formation and validation.

Pure functions: everything Metaflow reads from the process (environment, config files, CLI) is an
argument here. Source of the facts: metaflow 2.19.39 ``plugins/project_decorator.py``,
``util.get_username``, ``metaflow_config_funcs.from_conf``, ``decorators.add_decorator_options``
(docs/metaflow-contract.md#user-resolution, #branches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from flowstacks.errors import MetaflowRuleError

# project_decorator.py: VALID_NAME_RE is searched for (any char outside [a-z0-9_] is an error).
VALID_NAME_RE = re.compile(r"[^a-z0-9_]")
# project_decorator.py: VALID_NAME_LEN, compared with ">" (128 itself is accepted).
VALID_NAME_LEN = 128
# util.get_username: candidates after METAFLOW_USER, in order.
USER_ENV_CHAIN = ("SUDO_USER", "USERNAME", "USER")
# decorators.add_decorator_options: every flow-decorator option gets envvar METAFLOW_FLOW_<OPTION>.
BRANCH_ENVVAR = "METAFLOW_FLOW_BRANCH"
PRODUCTION_ENVVAR = "METAFLOW_FLOW_PRODUCTION"
# metaflow._vendor.click 7.1.2 BoolParamType, which converts the production flag's envvar:
# lowercased, not stripped; an empty envvar counts as unset.
_CLICK_TRUE = frozenset({"1", "true", "t", "yes", "y"})
_CLICK_FALSE = frozenset({"0", "false", "f", "no", "n"})

MSG_NO_PROJECT_NAME = "@project needs a name. Try @project(name='some_name')"
MSG_BAD_PROJECT_NAME = (
    "The @project name must contain only lowercase alphanumeric characters and underscores."
)
MSG_LONG_PROJECT_NAME = "The @project name must be shorter than 128 characters."
MSG_BAD_BRANCH_NAME = (
    "The branch name must contain only lowercase alphanumeric characters and underscores."
)
MSG_LONG_BRANCH_NAME = "Branch name is too long. The maximum is 128 characters."
MSG_CONFLICT = (
    "You cannot pass {op} as both a command-line argument and an attribute of the @project decorator."
)
MSG_UNKNOWN_USER = (
    "Metaflow could not determine your user name based on environment variables ($USERNAME etc.)"
)


def resolve_username(
    env: Mapping[str, str],
    local_config: Mapping[str, Any] | None = None,
    global_config: Mapping[str, Any] | None = None,
) -> str | None:
    """The user name as ``metaflow.util.get_username`` computes it, or None.

    ``METAFLOW_USER`` comes from ``from_conf``: the env var if it is set at all (even empty), else
    ``.metaflow/config.json`` (``local_config``), else ``$METAFLOW_HOME/config.json``
    (``global_config``). Then SUDO_USER, USERNAME, USER. The first truthy value that is not
    ``root`` wins.
    """
    if "METAFLOW_USER" in env:
        conf_user: Any = env["METAFLOW_USER"]
    elif local_config and "METAFLOW_USER" in local_config:
        conf_user = local_config["METAFLOW_USER"]
    elif global_config and "METAFLOW_USER" in global_config:
        conf_user = global_config["METAFLOW_USER"]
    else:
        conf_user = None
    for candidate in [conf_user, *(env.get(name) for name in USER_ENV_CHAIN)]:
        if candidate and candidate != "root":
            return candidate
    return None


def resolve_cli_options(
    branch: str | None, production: bool, env: Mapping[str, str]
) -> tuple[str | None, bool]:
    """The ``--branch``/``--production`` values Metaflow's CLI ends up with.

    An explicit ``--branch`` (even ``''``) beats ``METAFLOW_FLOW_BRANCH``; click ignores an empty
    envvar. ``--production`` given is True; otherwise ``METAFLOW_FLOW_PRODUCTION`` is parsed as
    Metaflow's vendored click 7.1.2 parses a boolean (an unknown word is an error).
    """
    if branch is None:
        env_branch = env.get(BRANCH_ENVVAR)
        branch = env_branch if env_branch else None
    if not production and env.get(PRODUCTION_ENVVAR):
        word = env[PRODUCTION_ENVVAR].lower()
        if word in _CLICK_TRUE:
            production = True
        elif word not in _CLICK_FALSE:
            raise MetaflowRuleError(
                f"Invalid value for '--production': {env[PRODUCTION_ENVVAR]} is not a valid boolean",
                headline="Usage error",
                where=PRODUCTION_ENVVAR,
            )
    return branch, production


def validate_project_name(project: str | None) -> None:
    """Metaflow's checks on the project name, in Metaflow's order (docs/metaflow-contract.md#branches)."""
    if not project:
        raise MetaflowRuleError(MSG_NO_PROJECT_NAME)
    if VALID_NAME_RE.search(project):
        raise MetaflowRuleError(MSG_BAD_PROJECT_NAME)
    if len(project) > VALID_NAME_LEN:
        raise MetaflowRuleError(MSG_LONG_PROJECT_NAME)


def validate_branch_name(branch: str | None) -> None:
    """Metaflow's checks on a given branch; a falsy branch is not checked (docs/metaflow-contract.md#branches)."""
    if not branch:
        return
    if VALID_NAME_RE.search(branch):
        raise MetaflowRuleError(MSG_BAD_BRANCH_NAME)
    if len(branch) > VALID_NAME_LEN:
        raise MetaflowRuleError(MSG_LONG_BRANCH_NAME)


def format_branch_name(
    project: str | None, production: bool, given_branch: str | None, user: str | None,
    owner: str | None = None,
) -> str:
    """``branch_name`` as ``format_name`` forms it, after validating project and branch.

    ``owner`` is ``$METAFLOW_OWNER`` (None when unset): it replaces the user only in
    ``user.<x>``. A None user gives ``user.None``, as Metaflow's own function does.
    """
    validate_project_name(project)
    validate_branch_name(given_branch)
    if given_branch:
        return f"prod.{given_branch}" if production else f"test.{given_branch}"
    if production:
        return "prod"
    return f"user.{owner if owner is not None else user}"


@dataclass(frozen=True)
class ProjectNamespace:
    """What ``@project`` puts in ``current`` for one flow deployed with given flags."""

    project_name: str
    branch_name: str
    flow_name: str
    is_production: bool
    is_user_branch: bool
    # The CLI values Metaflow re-passes to every task (get_top_level_options).
    cli_branch: str | None
    cli_production: bool

    @property
    def project_flow_name(self) -> str:
        return f"{self.project_name}.{self.branch_name}.{self.flow_name}"


def resolve_namespace(
    flow_name: str,
    project_name: str | None,
    decorator_attributes: Mapping[str, Any],
    cli_branch: str | None,
    cli_production: bool,
    user: str | None,
    owner: str | None = None,
) -> ProjectNamespace:
    """Resolve ``@project`` as ``ProjectDecorator.flow_init`` does (docs/metaflow-contract.md#branches).

    ``decorator_attributes`` holds only the attributes the user wrote in ``@project(...)``
    (``branch``/``production``); ``cli_branch``/``cli_production`` are the values after
    :func:`resolve_cli_options`.
    """
    defaults = {"branch": None, "production": False}
    cli = {"branch": cli_branch, "production": cli_production}
    for op in ("production", "branch"):  # Metaflow's options dict order
        if (
            op in decorator_attributes
            and cli[op] != defaults[op]
            and decorator_attributes[op] != cli[op]
        ):
            raise MetaflowRuleError(MSG_CONFLICT.format(op=op))
    branch = decorator_attributes["branch"] if "branch" in decorator_attributes else cli_branch
    production = (
        decorator_attributes["production"] if "production" in decorator_attributes else cli_production
    )
    branch_name = format_branch_name(project_name, bool(production), branch, user, owner)
    return ProjectNamespace(
        project_name=project_name,  # type: ignore[arg-type]  # validated above
        branch_name=branch_name,
        flow_name=flow_name,
        is_production=bool(production),
        is_user_branch=branch is None and not production,
        cli_branch=cli_branch,
        cli_production=cli_production,
    )
