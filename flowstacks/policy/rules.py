"""Policy rules as plain functions (no pulumi import): used by the CrossGuard pack
(``infra/policypack/__main__.py``, ``pulumi preview --policy-pack infra/policypack``) and offline by
``flowstacks check`` on a synthesized ``manifest.json``.

A rule takes one resource (Pulumi type token, logical name, inputs as the provider receives them)
and the stack it belongs to, and returns violation messages. Each rule names its fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal

from flowstacks.naming.namespace import PROJECT_NAME, sfn_name_in_namespace, sfn_table_in_namespace
from flowstacks.naming.stacks import PLATFORM_STACK
from flowstacks.naming.settings import PREFIX_KEY, NamingSettings

Level = Literal["mandatory", "advisory", "disabled"]

# Actions that AWS only authorises on Resource "*" (no resource-level permissions), per the
# service authorization reference; a "*" resource is necessary for them and nothing else.
STAR_RESOURCE_ACTIONS = frozenset({
    "batch:DescribeJobs", "batch:DescribeJobDefinitions", "batch:DescribeJobQueues",
    "batch:DescribeComputeEnvironments", "batch:ListJobs",
    "states:ListStateMachines", "states:ListActivities", "states:ValidateStateMachineDefinition",
    "events:ListRules", "iam:ListRoles", "sts:GetCallerIdentity",
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
})
# Pulumi AWS types that take ``tags``.
TAGGABLE = frozenset({
    "aws:iam/role:Role", "aws:iam/policy:Policy", "aws:sfn/stateMachine:StateMachine",
    "aws:batch/jobDefinition:JobDefinition", "aws:cloudwatch/eventRule:EventRule",
    "aws:cloudwatch/eventBus:EventBus", "aws:s3/bucketObjectv2:BucketObjectv2",
    "aws:dynamodb/table:Table",
})
REQUIRED_TAGS = ("metaflow/production_token", "metaflow/project", "metaflow/branch", "flowstacks/stack")
ARGO_KINDS = ("WorkflowTemplate", "CronWorkflow", "Sensor")
_STATES_ARN = re.compile(r"^arn:aws:states:[^:]*:[^:]*:(stateMachine|execution):([^:]+)")


class Unknown:
    """A value present in the inputs but not known here: an output the engine computes later
    (a first ``pulumi preview``), or a secret the offline manifest shows as ``"[secret]"``.
    A check that needs it finds nothing; the checks that do not need it still run."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping; an unknown (or absent) one has no known keys."""
    return value if isinstance(value, dict) else {}


def _seq(value: Any) -> list[Any]:
    """``value`` if it is a list; an unknown (or absent) one has no known items."""
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    """``value`` if it is a known string."""
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class StackInfo:
    """The stack a resource belongs to and the naming settings its names were made with: the
    stack output ``naming`` of a manifest, or the policy config and the stack's config under
    CrossGuard (:mod:`flowstacks.policy.crossguard`). The Metaflow branch is the stack's name,
    except for a developer stack with a recorded Metaflow user (``user.alice-corp-com`` deploys
    ``user.alice@corp.com``)."""

    stack: str
    naming: NamingSettings = field(default_factory=NamingSettings)

    @property
    def branch_name(self) -> str:
        return self.naming.branch_name(self.stack)


# --- helpers ---------------------------------------------------------------------------------

def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def policy_documents(res: Resource) -> list[tuple[str, dict[str, Any]]]:
    """IAM policy documents a resource carries, with where they sit."""
    docs = []
    if res.type == "aws:iam/role:Role":
        for i, inline in enumerate(_seq(res.inputs.get("inlinePolicies"))):
            docs.append((f"inlinePolicies[{i}]", _json(_obj(inline).get("policy"))))
    elif res.type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        docs.append(("policy", _json(res.inputs.get("policy"))))
    return [(where, doc) for where, doc in docs if isinstance(doc, dict)]


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    sts = doc.get("Statement") or []
    return [sts] if isinstance(sts, dict) else list(sts)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    # an unknown item (or list) grants nothing that can be known: only known strings are checked
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def name_in_namespace(name: str, stack: StackInfo) -> bool:
    """Whether a Step Functions name (state machine, EventBridge rule, or the name part of an
    ARN pattern) belongs to the stack's namespace; :mod:`flowstacks.naming.namespace` knows how."""
    return sfn_name_in_namespace(name, stack.branch_name, stack.naming.state_machine_prefix)


def _outside(name: str, stack: StackInfo) -> str:
    """The fix of a name outside the namespace; a name that starts like ``<PREFIX>_<project>.``
    may only lack the stack's state machine prefix."""
    fix = f"fix: a '{stack.stack}' stack may only create or touch names of namespace '{stack.branch_name}'"
    head = name.partition(".")[0]
    if "_" in head and not PROJECT_NAME.fullmatch(head) and not stack.naming.state_machine_prefix:
        fix += (f" (if its state machines have a prefix, give the rules its '{PREFIX_KEY}': the "
                "stack output 'naming' for `flowstacks check`, the policy config under CrossGuard)")
    return fix


# --- rules -----------------------------------------------------------------------------------

def no_wildcard_iam(res: Resource, stack: StackInfo) -> list[str]:
    """No ``*`` action (nor ``service:*``), no ``Resource: "*"`` unless the action needs it."""
    out = []
    for where, doc in policy_documents(res):
        for st in statements(doc):
            if st.get("Effect") != "Allow":
                continue
            actions = _as_list(st.get("Action"))
            for action in actions:
                if action == "*" or action.endswith(":*"):
                    out.append(f"{where}: statement {st.get('Sid', '')!r} allows action {action!r}; "
                               "fix: list the actions the rendered states need")
            if "*" in _as_list(st.get("Resource")):
                needless = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
                if needless:
                    out.append(f"{where}: statement {st.get('Sid', '')!r} grants {needless} on "
                               "Resource '*'; fix: name the ARNs of this namespace")
            if "NotAction" in st or "NotResource" in st:
                out.append(f"{where}: statement {st.get('Sid', '')!r} uses NotAction/NotResource; "
                           "fix: allow-list actions and resources")
    return out


def namespace_tags(res: Resource, stack: StackInfo) -> list[str]:
    """Every taggable AWS resource carries the namespace tags, with this stack's values (the
    opt-in ``platform`` stack is no namespace: its shared objects carry none)."""
    if res.type not in TAGGABLE or stack.stack == PLATFORM_STACK:
        return []
    tags = res.inputs.get("tags") or {}
    if not isinstance(tags, dict):
        return []  # unknown tags: present, but which cannot be known
    # an unknown tag value is present (not missing) and cannot be compared
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    tags = {k: v for k, v in tags.items() if isinstance(v, str)}
    out = []
    if missing:
        out.append(f"missing tags {missing}; fix: pass StackContext.tags to the resource")
    if tags.get("metaflow/branch") and tags["metaflow/branch"] != stack.branch_name:
        fix = "fix: a stack deploys only its own namespace"
        if stack.stack.startswith("user."):
            fix += (" (a developer stack deploys as its Metaflow user; if it is not the one the stack "
                    "name spells, give the rules its 'metaflow_user': the stack config "
                    "flowstacks:metaflowUser, the stack output 'naming' for `flowstacks check`)")
        out.append(f"tag metaflow/branch={tags['metaflow/branch']!r} in stack '{stack.stack}'; {fix}")
    if tags.get("flowstacks/stack") and tags["flowstacks/stack"] != stack.stack:
        out.append(f"tag flowstacks/stack={tags['flowstacks/stack']!r} in stack '{stack.stack}'")
    return out


def names_in_namespace(res: Resource, stack: StackInfo) -> list[str]:
    """Orchestrator objects and the ARNs IAM grants on belong to this stack's namespace."""
    out = []
    fix = f"fix: a '{stack.stack}' stack may only create or touch names of namespace '{stack.branch_name}'"
    if res.type in ("aws:sfn/stateMachine:StateMachine", "aws:cloudwatch/eventRule:EventRule"):
        name = res.inputs.get("name") or ""
        if isinstance(name, str) and not name_in_namespace(name, stack):
            out.append(f"name {name!r} is outside namespace '{stack.branch_name}'; "
                       f"{_outside(name, stack)}")
    if res.type == "aws:dynamodb/table:Table" and stack.stack != PLATFORM_STACK:
        # a namespace's stack creates only its own foreach-state table (issue 16)
        name = res.inputs.get("name")
        prefix = stack.naming.state_machine_prefix
        if isinstance(name, str) and not sfn_table_in_namespace(name, stack.branch_name, prefix):
            out.append(f"DynamoDB table {name!r} is not the foreach-state table of namespace "
                       f"'{stack.branch_name}' ([PREFIX_]<project>.{stack.branch_name}.sfn-state); "
                       f"{_outside(name, stack)}")
    if res.type == "kubernetes:apiextensions.k8s.io/v1:CustomResource" or (
            res.type.startswith("kubernetes:argoproj.io/")):
        meta = res.inputs.get("metadata") or {}
        annotations = _obj(meta).get("annotations") or {}
        # unknown metadata or annotations: the branch cannot be known, so it is not reported
        if (res.inputs.get("kind") in ARGO_KINDS and isinstance(meta, dict)
                and isinstance(annotations, dict)):
            # Metaflow's own annotation, or the namespace tag flowstacks puts on every object
            branch = annotations.get("metaflow/branch_name") or annotations.get("metaflow/branch")
            if branch is not UNKNOWN and branch != stack.branch_name:
                out.append(f"{res.inputs.get('kind')} {meta.get('name')!r} has "
                           f"metaflow/branch_name={branch!r}; {fix}")
    for where, doc in policy_documents(res):
        for st in statements(doc):
            for arn in _as_list(st.get("Resource")):
                m = _STATES_ARN.match(arn)
                if m and m.group(2) != "*" and not name_in_namespace(m.group(2), stack):
                    out.append(f"{where}: grants on {arn}, outside namespace '{stack.branch_name}'; "
                               f"{_outside(m.group(2), stack)}")
    return out


def targets_own_namespace(res: Resource, stack: StackInfo) -> list[str]:
    """Schedule and trigger rules start only this namespace's state machines / templates."""
    out = []
    if res.type == "aws:cloudwatch/eventTarget:EventTarget":
        m = _STATES_ARN.match(_str(res.inputs.get("arn")) or "")
        if m and not name_in_namespace(m.group(2), stack):
            out.append(f"targets {res.inputs.get('arn')}, outside namespace '{stack.branch_name}'; "
                       "fix: trigger rules may only start state machines of their own stack")
    if res.inputs.get("kind") == "Sensor":
        for trig in _seq(_obj(res.inputs.get("spec")).get("triggers")):
            source = _obj(_obj(_obj(_obj(trig).get("template")).get("argoWorkflow")).get("source"))
            spec = _obj(_obj(source.get("resource")).get("spec"))
            meta = _obj(_obj(source.get("resource")).get("metadata"))
            ref = _obj(spec.get("workflowTemplateRef")).get("name")
            branch = _obj(meta.get("annotations")).get("metaflow/branch_name")
            if ref and isinstance(branch, str) and branch != stack.branch_name:
                out.append(f"sensor starts {ref!r} of branch {branch!r}; fix: sensors may only "
                           "submit templates of their own stack")
    return out


# Metaflow's default runtime limit (DEFAULT_RUNTIME_LIMIT, 5 days): what a step without @timeout gets.
DEFAULT_TIMEOUT_SECONDS = 432000
_INTERNAL_TEMPLATES = ("capture-error", "error-msg", "exit-hook")


def _sfn_tasks(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, st in _obj(states).items():
        if st.get("Type") == "Task" and "batch:submitJob" in str(st.get("Resource")):
            out.append((name, st.get("Parameters") or {}))
        for branch in st.get("Branches") or []:
            out += _sfn_tasks(branch.get("States") or {})
        for key in ("Iterator", "ItemProcessor"):
            if isinstance(st.get(key), dict):
                out += _sfn_tasks(st[key].get("States") or {})
    return out


def step_settings(res: Resource) -> list[tuple[str, int, int | None]]:
    """(step, retries, timeout seconds) of each step a state machine or WorkflowTemplate runs."""
    if res.type == "aws:sfn/stateMachine:StateMachine":
        definition = _obj(_json(res.inputs.get("definition")))
        return [(name, int((p.get("RetryStrategy") or {}).get("Attempts", 1)) - 1,
                 (p.get("Timeout") or {}).get("AttemptDurationSeconds"))
                for name, p in _sfn_tasks(definition.get("States") or {})]
    if res.inputs.get("kind") == "WorkflowTemplate":
        # an unknown limit or deadline counts as set: only a known gap is reported
        return [(t["name"], _retries(t.get("retryStrategy")),
                 t.get("activeDeadlineSeconds"))
                for t in _seq(_obj(res.inputs.get("spec")).get("templates"))
                if isinstance(t, dict) and "container" in t and isinstance(t.get("name"), str)
                and not t["name"].startswith(_INTERNAL_TEMPLATES)]
    return []


def _retries(strategy: Any) -> int:
    """The retries of an Argo retryStrategy; an unknown one is taken as retrying (nothing
    known to report)."""
    limit = UNKNOWN if strategy is UNKNOWN else _obj(strategy).get("limit", 0)
    return 1 if limit is UNKNOWN else int(limit)


def steps_without_retry(res: Resource, stack: StackInfo) -> list[str]:
    """Advisory: a step that fails once fails the run."""
    bare = sorted({name.lstrip("#*") for name, retries, _ in step_settings(res) if retries <= 0})
    return [f"steps without @retry: {', '.join(bare)}; fix: add @retry to steps that touch the "
            "network or spot capacity"] if bare else []


def flow_without_timeout(res: Resource, stack: StackInfo) -> list[str]:
    """Advisory: no step sets @timeout, so a stuck task runs for Metaflow's 5-day default."""
    steps = step_settings(res)
    if steps and all(t in (None, DEFAULT_TIMEOUT_SECONDS) for _, _, t in steps):
        return ["no step has @timeout (each may run 5 days); fix: add @timeout to long steps"]
    return []


PROVIDER_TYPE_PREFIX = "pulumi:providers:"  # the stack's explicit providers (no cloud object)


def is_provider(resource_type: str) -> bool:
    """Whether the resource is a provider (``pulumi:providers:aws``): its inputs are provider
    settings, not a cloud object the rules are about."""
    return resource_type.startswith(PROVIDER_TYPE_PREFIX)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: Level
    check: Callable[[Resource, StackInfo], list[str]]
    reads_names: bool = False  # needs the stack's naming settings (StackInfo.naming)


RULES: tuple[Rule, ...] = (
    Rule("no-wildcard-iam", "No IAM statement with a '*' action or an unnecessary '*' resource.",
         "mandatory", no_wildcard_iam),
    Rule("namespace-tags", "Every role and taggable resource carries the namespace tags.",
         "mandatory", namespace_tags, reads_names=True),
    Rule("names-in-namespace", "Every resource name and granted ARN belongs to the stack's namespace.",
         "mandatory", names_in_namespace, reads_names=True),
    Rule("targets-own-namespace", "Schedule and trigger rules target only their own namespace.",
         "mandatory", targets_own_namespace, reads_names=True),
    Rule("steps-without-retry", "Steps should have @retry.", "advisory", steps_without_retry),
    Rule("flow-without-timeout", "Flows should bound their steps with @timeout.", "advisory",
         flow_without_timeout),
)


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level
    resource_type: str
    resource_name: str
    message: str

    def render(self) -> str:
        return f"[{self.level}] {self.rule}: {self.resource_type} '{self.resource_name}': {self.message}"


def evaluate(resources: Iterable[Resource], stack: StackInfo,
             levels: dict[str, Level] | None = None, rules: Iterable[Rule] = RULES) -> list[Violation]:
    """Run every enabled rule on every resource; ``levels`` overrides a rule's enforcement."""
    levels = levels or {}
    found = []
    for res in resources:
        if is_provider(res.type):
            continue
        for rule in rules:
            level = levels.get(rule.name, rule.level)
            if level == "disabled":
                continue
            for message in rule.check(res, stack):
                found.append(Violation(rule.name, level, res.type, res.name, message))
    return found
