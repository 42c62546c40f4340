"""Names each Metaflow deployer gives a ``@project`` flow (docs/metaflow-contract.md#names), and
production tokens (docs/metaflow-contract.md#tokens).

One function per target constraint; every limit and pattern is a named constant with its source
in metaflow 2.19.39.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import string
import zlib
from dataclasses import dataclass

from flowstacks.errors import MetaflowRuleError

# --- hashing -------------------------------------------------------------------------------

def b32sha1(text: str) -> str:
    """``base64.b32encode(sha1(text.encode('utf-8')))``: the hash under every Metaflow name."""
    return base64.b32encode(hashlib.sha1(text.encode("utf-8")).digest()).decode("ascii")


# --- AWS Step Functions (step_functions_cli.resolve_state_machine_name) ----------------------
SFN_HASH_THRESHOLD = 60  # names longer than this are cut to 60 + "-" + 16 hash chars (77)
SFN_HASH_LEN = 16
# event_bridge_client.format: EventBridge rule names are limited to 64 characters.
EVENTBRIDGE_RULE_LIMIT = 64
EVENTBRIDGE_KEEP = 47
EVENTBRIDGE_HASH_LEN = 16


def sfn_state_machine_name(project_flow_name: str, prefix: str | None = None) -> str:
    """State machine name: optional ``PREFIX_``, then hashing above 60 characters."""
    name = project_flow_name
    if prefix is not None and not name.startswith(prefix):
        name = f"{prefix}_{name}"
    if len(name) > SFN_HASH_THRESHOLD:
        name = f"{name[:SFN_HASH_THRESHOLD]}-{b32sha1(name)[:SFN_HASH_LEN].lower()}"
    return name


def eventbridge_rule_name(state_machine_name: str) -> str:
    """EventBridge rule name for a state machine: hashed again when over 64 characters."""
    if len(state_machine_name) > EVENTBRIDGE_RULE_LIMIT:
        digest = b32sha1(state_machine_name)[:EVENTBRIDGE_HASH_LEN].lower()
        return f"{state_machine_name[:EVENTBRIDGE_KEEP]}-{digest}"
    return state_machine_name


# --- Argo Workflows (argo_workflows_cli.resolve_workflow_name_v2, sanitize_for_argo) ----------
ARGO_NAME_LIMIT = 45
ARGO_MIN_PART = 7
ARGO_HASH_LEN = 5
# argo_workflows_cli.VALID_NAME: what Argo accepts without sanitising.
ARGO_VALID_NAME = re.compile(r"^[a-z]([a-z0-9\.\-]*[a-z0-9])?$")
_ARGO_LEADING = re.compile(r"^[^A-Za-z0-9]+")
_ARGO_AROUND_DOT = re.compile(r"[^a-z0-9]*\.[^a-z0-9]*")


def sanitize_for_argo(text: str) -> str:
    """Strip leading non-alphanumerics, drop ``_ @ +``, lowercase, collapse around dots."""
    out = _ARGO_LEADING.sub("", text).replace("_", "").replace("@", "").replace("+", "").lower()
    return _ARGO_AROUND_DOT.sub(".", out)


def _head_tail(text: str, budget: int) -> str:
    if len(text) <= budget:
        return text
    head = budget // 2
    return text[:head] + text[-(budget - head):]


def argo_workflow_template_name(project: str, branch_name: str, flow_name: str) -> str:
    """WorkflowTemplate name (v2 budget algorithm). Can reach 47 characters (docs/metaflow-contract.md#names)."""
    name = f"{project}.{branch_name}.{flow_name}"
    if len(name) > ARGO_NAME_LIMIT:
        digest = b32sha1(name)[:ARGO_HASH_LEN].lower()
        parts = [project, branch_name, flow_name]
        total = sum(len(p) for p in parts)
        remaining = (ARGO_NAME_LIMIT - 6) - 3 * ARGO_MIN_PART
        extras = [int(remaining * len(p) / total) for p in parts]
        while sum(extras) < remaining:
            extras[extras.index(min(extras))] += 1
        budgets = [ARGO_MIN_PART + e for e in extras]
        short = "%s.%s.%s" % (
            _head_tail(project, budgets[0]),
            branch_name[: budgets[1]],
            _head_tail(flow_name, budgets[2]),
        )
        name = f"{sanitize_for_argo(short)}-{digest}"
    if not ARGO_VALID_NAME.search(name):
        name = sanitize_for_argo(name)
    return name


def argo_sensor_name(template_name: str) -> str:
    """ArgoWorkflows._sensor_name: Argo Events sensors cannot have dots."""
    return template_name.replace(".", "-")


def argo_cron_workflow_name(template_name: str) -> str:
    """argo_client.schedule_workflow_template: the CronWorkflow takes the template's name."""
    return template_name


# --- Airflow (airflow_cli.resolve_dag_name) --------------------------------------------------
AIRFLOW_INVALID_CHAR = re.compile(r"[^a-zA-Z0-9_\-\.]")
# Airflow's own models: dag_id is String(ID_LEN), ID_LEN = 250. Metaflow does not check it.
AIRFLOW_ID_LEN = 250


def airflow_dag_id(project_flow_name: str) -> str:
    """dag_id = project_flow_name verbatim; Metaflow's error if it has a character Airflow refuses."""
    if AIRFLOW_INVALID_CHAR.search(project_flow_name):
        raise MetaflowRuleError(
            "Name '%s' contains invalid characters. Please construct a name using regex %s"
            % (project_flow_name, AIRFLOW_INVALID_CHAR.pattern)
        )
    return project_flow_name


# --- production tokens (plugins/aws/step_functions/production_token.py) ----------------------
TOKEN_PREFIX_HASH_LEN = 16
TOKEN_CANDIDATES = 10000
MSG_TOKEN_SEQUENCE = (
    "--generate-new-token option is not supported after using --new-token. "
    "Use --new-token to make a new namespace."
)


def token_prefix(project: str, branch_name: str) -> str:
    """``mfprj-`` + 16 hash characters of ``<project>.<branch_name>``, lowercased (docs/metaflow-contract.md#tokens)."""
    return ("mfprj-" + b32sha1(f"{project}.{branch_name}")[:TOKEN_PREFIX_HASH_LEN]).lower()


def production_token(prefix: str, index: int = 0) -> str:
    """Candidate ``index`` of Metaflow's deterministic token sequence.

    Metaflow seeds the global ``random`` with adler32 of ``<prefix>-<i>-``; a private
    ``random.Random`` with the same seed draws the same letters without touching global state.
    """
    if not 0 <= index < TOKEN_CANDIDATES:
        raise ValueError(f"token index must be in 0..{TOKEN_CANDIDATES - 1}, got {index}")
    stem = f"{prefix}-{index}-"
    rng = random.Random(zlib.adler32(stem.encode("utf-8")))
    return stem + "".join(rng.sample(string.ascii_lowercase, 4))


@dataclass(frozen=True)
class NamespaceToken:
    """The production token of a namespace: its prefix, the candidate in force and its value."""

    prefix: str
    index: int
    token: str


def namespace_token(project: str, branch_name: str, index: int = 0) -> NamespaceToken:
    """Candidate ``index`` of the token sequence of ``<project>.<branch_name>``: computed once
    per namespace and shared by all its flows (every flow of a project branch has the same)."""
    prefix = token_prefix(project, branch_name)
    return NamespaceToken(prefix, index, production_token(prefix, index))


def token_index(prefix: str, token: str) -> int | None:
    """Position of ``token`` in the sequence of ``prefix``, or None if it is not one of it."""
    match = re.fullmatch(re.escape(prefix) + r"-(\d+)-[a-z]{4}", token)
    if not match:
        return None
    index = int(match.group(1))
    if index >= TOKEN_CANDIDATES or str(index) != match.group(1):
        return None
    return index if production_token(prefix, index) == token else None


def next_production_token(prefix: str, previous: str) -> str:
    """What ``--generate-new-token`` gives after ``previous`` (Metaflow's error if off-sequence)."""
    index = token_index(prefix, previous)
    if index is None or index + 1 >= TOKEN_CANDIDATES:
        raise MetaflowRuleError(MSG_TOKEN_SEQUENCE)
    return production_token(prefix, index + 1)
