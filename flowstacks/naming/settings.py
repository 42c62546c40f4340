"""The settings that change a namespace's names beyond project, branch and flow.

Every module that makes or checks a name takes them from here, so that the program, the deployer
role, ``flowstacks check`` and the CrossGuard pack see the same ones: the program exports them
as the stack output ``naming`` (:meth:`NamingSettings.exported`), the policy rules read them
back (:meth:`NamingSettings.from_exported`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# The keys of the stack output `naming` (and of the CrossGuard policy config of the rules that
# check names): snake_case like the other stack outputs.
PREFIX_KEY = "state_machine_prefix"
TOKEN_INDEX_KEY = "production_token_index"
USER_KEY = "metaflow_user"


@dataclass(frozen=True)
class NamingSettings:
    """``state_machine_prefix``: ``METAFLOW_SFN_STATE_MACHINE_PREFIX`` (``Aws.state_machine_prefix``
    in the config), put before Step Functions state machine and rule names
    (docs/metaflow-contract.md#names). ``production_token_index``: the production token
    candidate in force, ``flowstacks:productionTokenIndex`` (docs/metaflow-contract.md#tokens).
    ``metaflow_user``: the Metaflow user of a developer stack whose name cannot spell it
    (``flowstacks:metaflowUser``: stack ``user.alice-corp-com`` is namespace ``user.alice@corp.com``)."""

    state_machine_prefix: str | None = None
    production_token_index: int = 0
    metaflow_user: str | None = None

    def branch_name(self, stack: str) -> str:
        """The Metaflow branch of ``stack`` with these settings: the stack's name, except a developer
        stack with a recorded Metaflow user (flowstacks.naming.stacks.StackNamespace.branch_name)."""
        if self.metaflow_user and stack.startswith("user."):
            return f"user.{self.metaflow_user}"
        return stack

    def exported(self) -> dict[str, Any]:
        """The settings that differ from Metaflow's defaults ({} when none: the stack output
        ``naming`` is then left out, and manifests of stacks without such settings stay as
        they were)."""
        out: dict[str, Any] = {}
        if self.state_machine_prefix is not None:
            out[PREFIX_KEY] = self.state_machine_prefix
        if self.production_token_index:
            out[TOKEN_INDEX_KEY] = self.production_token_index
        if self.metaflow_user:
            out[USER_KEY] = self.metaflow_user
        return out

    @classmethod
    def from_exported(cls, data: Mapping[str, Any] | None) -> "NamingSettings":
        """The settings of an exported ``naming`` output (or a policy config); missing keys
        are Metaflow's defaults, unknown keys are ignored."""
        data = data or {}
        prefix = data.get(PREFIX_KEY)
        return cls(state_machine_prefix=None if prefix is None else str(prefix),
                   production_token_index=int(data.get(TOKEN_INDEX_KEY) or 0),
                   metaflow_user=str(data[USER_KEY]) if data.get(USER_KEY) else None)
