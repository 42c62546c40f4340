"""Compare flowstacks' Argo objects with what Metaflow 2.19.39 compiles, point by point.

A *point* is one leaf of the flattened documents: lists of named things (templates, DAG tasks,
env vars, parameters) are keyed by name so that order does not hide or invent differences, and
``null`` fields of Metaflow's output count as absent (flowstacks never writes them). Each kept
difference has an id documented in tests/argo/DIFFERENCES.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.load.code_package import CodePackage
from flowstacks.render.argo import command as argo_command

NAMED_LISTS = {"templates", "tasks", "env", "parameters", "volumes", "volumeMounts",
               "dependencies", "exprs", "replicatedJobs", "containers"}
_PARAM_FILE = re.compile(r"set_parameters (\w{10}) (.*?)&& \. `pwd`/\1")

# Kept differences: (id, regex on the point path). Documented in DIFFERENCES.md.
KEPT: list[tuple[str, re.Pattern[str]]] = [
    ("D1", re.compile(r"annotations\.metaflow/deployment_timestamp$")),
    # metaflow_git.get_repository_info: git keys of the deployer's checkout (repo_url only
    # when it has a remote, as CI clones do)
    ("D2", re.compile(r"env\[METAFLOW_VERSION\]\.value\.(python_version|python_version_code|"
                      r"repo_url|branch_name|commit_sha|has_uncommitted_changes)$")),
    ("D3", re.compile(r"^metadata\.annotations\.(metaflow/project|metaflow/branch|"
                      r"flowstacks/stack)$")),
]

# D7: the service account of a resource template (a @parallel step's JobSet creator)
_RESOURCE_SA = re.compile(r"^(spec\.templates\[[^\]]+\])\.serviceAccountName$")


# A resource template's manifest is YAML text (a @parallel step's JobSet): compared field by field.
# Metaflow leaves the worker count unquoted so that the JobSet controller reads an integer once
# Argo has substituted it; as written, it is no YAML scalar, so it is quoted back to parse.
_UNQUOTED = re.compile(r"^(\s*replicas: )(\{\{=[^\n]*\}\})$", re.M)


def parse_manifest(text: str) -> Any:
    """The object of a resource template's ``manifest`` text."""
    import yaml

    return yaml.safe_load(_UNQUOTED.sub(lambda m: f"{m.group(1)}'{m.group(2)}'", text))


def strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def _key(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for k in ("name", "expr"):
            if k in item:
                return str(item[k])
    return str(index)


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaves of ``value`` by path; named lists keyed by name; JSON strings of env values and
    annotations expanded so that one changed field is one point."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{path}.{k}" if path else k))
    elif isinstance(value, list) and value and path.rsplit(".", 1)[-1] in NAMED_LISTS:
        for i, item in enumerate(value):
            out.update(flatten(item, f"{path}[{_key(item, i)}]"))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            out.update(flatten(item, f"{path}[{i}]"))
    elif isinstance(value, str) and path.endswith(".resource.manifest"):
        out.update(flatten(strip_nulls(parse_manifest(value)), path))
    elif isinstance(value, str) and value[:1] in "{[" and (
            ".env[" in path or "annotations." in path):
        try:
            parsed = json.loads(value)
        except ValueError:
            out[path] = value
        else:
            out.update(flatten(parsed, path) if parsed else {path: value})
    else:
        out[path] = value
    return out


def normalise_command(text: str, fixed_name: str) -> str:
    """Metaflow's parameters file name is random per deploy: replace it with ours."""
    return _PARAM_FILE.sub(lambda m: f"set_parameters {fixed_name} {m.group(2)}&& . `pwd`/{fixed_name}",
                           text)


@dataclass
class Comparison:
    points: int = 0
    equal: int = 0
    kept: dict[str, list[str]] = field(default_factory=dict)  # id -> paths
    unexpected: list[tuple[str, Any, Any]] = field(default_factory=list)

    def add(self, other: "Comparison") -> None:
        self.points += other.points
        self.equal += other.equal
        for k, v in other.kept.items():
            self.kept.setdefault(k, []).extend(v)
        self.unexpected += other.unexpected


def compare(ours: dict[str, Any], theirs: dict[str, Any], param_file: str) -> Comparison:
    theirs = strip_nulls(json.loads(json.dumps(theirs)))
    for t in theirs.get("spec", {}).get("templates", []):
        c = t.get("container")
        if c and "command" in c:
            c["command"] = [normalise_command(w, param_file) for w in c["command"]]
    a, b = flatten(ours), flatten(theirs)
    result = Comparison()
    for path in sorted(set(a) | set(b)):
        result.points += 1
        if a.get(path, "<absent>") == b.get(path, "<absent>"):
            result.equal += 1
            continue
        found = _RESOURCE_SA.match(path)
        if found and path not in b and f"{found.group(1)}.resource.action" in a:
            result.kept.setdefault("D7", []).append(path)  # only where Metaflow names none
            continue
        for kid, pattern in KEPT:
            if pattern.search(path):
                result.kept.setdefault(kid, []).append(path)
                break
        else:
            result.unexpected.append((path, a.get(path, "<absent>"), b.get(path, "<absent>")))
    return result


def oracle_context(ctx: StackContext, owner: str, deploy_env: dict[str, str],
                   endpoint: str) -> StackContext:
    """``ctx`` with the oracle's settings (namespace, service account, events, datastore, S3
    endpoint, deployer) so that only flowstacks' own choices can differ."""
    cfg = ctx.config
    k8s = cfg.kubernetes.model_copy(update={
        "namespace": deploy_env["METAFLOW_KUBERNETES_NAMESPACE"],
        "service_account": deploy_env["METAFLOW_KUBERNETES_SERVICE_ACCOUNT"],
        "argo_events_event": deploy_env["METAFLOW_ARGO_EVENTS_EVENT"],
        "argo_events_event_source": deploy_env["METAFLOW_ARGO_EVENTS_EVENT_SOURCE"],
        "argo_events_service_account": deploy_env["METAFLOW_ARGO_EVENTS_SERVICE_ACCOUNT"],
        "argo_events_event_bus": deploy_env["METAFLOW_ARGO_EVENTS_EVENT_BUS"],
        "argo_events_webhook_url": deploy_env["METAFLOW_ARGO_EVENTS_WEBHOOK_URL"],
        # Metaflow's default unless the oracle's config sets it (the example's is 'service')
        "argo_events_webhook_auth": deploy_env.get("METAFLOW_ARGO_EVENTS_WEBHOOK_AUTH", "none"),
    })
    aws = cfg.aws.model_copy(update={"datastore_root": deploy_env["METAFLOW_DATASTORE_SYSROOT_S3"],
                                     "s3_endpoint_url": endpoint})
    return ctx.model_copy(update={"owner": owner,
                                  "config": cfg.model_copy(update={"kubernetes": k8s, "aws": aws})})


def oracle_package(template: dict[str, Any], fd: FlowDeployment, datastore_root: str) -> CodePackage:
    """The code package Metaflow uploaded (its sha from the oracle's env), to render against."""
    for t in template["spec"]["templates"]:
        for e in (t.get("container") or {}).get("env") or []:
            if e["name"] == "METAFLOW_CODE_SHA":
                return CodePackage(sha=e["value"], flow_name=fd.flow.name,
                                   datastore_root=datastore_root)
    raise AssertionError("no METAFLOW_CODE_SHA in Metaflow's template")


def param_file(fd: FlowDeployment) -> str:
    return argo_command.parameter_file_name(fd.argo_template_name)
