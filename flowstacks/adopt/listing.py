"""``flowstacks ls``: what each namespace deploys, offline, from the config and the flows (the Pulumi
program is not run): per stack its orchestrator, namespace, token and deployer role; per flow the
orchestrator objects, schedule, triggers and the client snippet that finds its runs.

Each stack also gets a ``fingerprint``: a digest of everything its synthesized output depends on (the
stack's context, the flows' code folders, the stack file, ``Pulumi.yaml``, ``infra/requirements.txt``,
the flowstacks and Metaflow versions). Equal fingerprints mean equal deployments, which is how CI picks
the stacks a pull request changes (``--base-project-dir``) without synthesizing any.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.iam.documents import role_name
from flowstacks.load.code_package import collect_flow_files
from flowstacks.load.project import ProjectDir
from flowstacks.load.stackfiles import metaflow_user, stack_file, token_index
from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.naming.events import resolve_upstream
from flowstacks.render.serialize import compact_json
from flowstacks.render.summary import client_snippet

PROJECT_FILES = ("Pulumi.yaml", "infra/requirements.txt")  # what else a deployment depends on


def _objects(ctx: StackContext, fd: FlowDeployment) -> dict[str, str]:
    """The orchestrator objects of one flow: the main one first, then its schedule/trigger objects."""
    flow = fd.flow
    scheduled = bool(flow.schedule and flow.schedule.aws_expression)
    triggered = bool(flow.triggers or flow.trigger_on_finish)
    if ctx.orchestrator == "step-functions":
        objects = {"state_machine": fd.state_machine_name}
        if scheduled:
            objects["eventbridge_rule"] = fd.eventbridge_rule_name
        return objects
    if ctx.orchestrator == "argo":
        objects = {"workflow_template": fd.argo_template_name}
        if scheduled:
            objects["cron_workflow"] = fd.names.argo.cron_workflow
        if triggered:
            objects["sensor"] = fd.argo_sensor_name
        return objects
    return {"dag_id": fd.airflow_dag_id or ""}


def flow_entry(ctx: StackContext, fd: FlowDeployment) -> dict[str, Any]:
    """One flow of a stack, as ``ls --json`` prints it."""
    flow = fd.flow
    schedule = None
    if flow.schedule and flow.schedule.aws_expression:
        schedule = {"cron": flow.schedule.aws_expression, "timezone": flow.schedule.timezone}
    triggers = [{"after": resolve_upstream(u, ctx.project_name, ctx.branch_name).event_name}
                for u in flow.trigger_on_finish]
    triggers += [{"event": t.resolved_name(ctx.project_name, ctx.branch_name)} for t in flow.triggers]
    objects = _objects(ctx, fd)
    return {
        "flow": flow.name,
        "file": flow.file,
        "object": next(iter(objects.values())),
        "objects": objects,
        "schedule": schedule,
        "triggers": triggers,
        "client": client_snippet(ctx, flow.name),
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:  # a source checkout without an install
        return "unknown"


def fingerprint(project: ProjectDir, ctx: StackContext) -> str:
    """A digest of everything ``ctx``'s synthesized output depends on, the same for two checkouts of
    the same content wherever they are on disk."""
    root = project.root
    digest = hashlib.sha256()
    data = ctx.model_dump(mode="json")
    for fd in data["flows"]:  # Config files are read from paths that depend on where the checkout is
        for config in fd["flow"]["configs"]:
            if config.get("source"):
                config["source"] = os.path.relpath(os.path.abspath(config["source"]), os.path.abspath(root))
    digest.update(compact_json(data).encode())
    for folder in sorted({str(Path(fd.flow.file).parent) for fd in ctx.flows}):
        for name, data in sorted(collect_flow_files(root / folder).items()):
            digest.update(f"\0{folder}/{name}\0".encode() + data)
    for rel in (*PROJECT_FILES, str(stack_file(Path("."), ctx.stack))):
        path = root / rel
        digest.update(f"\0{rel}\0".encode() + (path.read_bytes() if path.is_file() else b"-"))
    digest.update(f"\0flowstacks {_version('flowstacks')} metaflow {_version('metaflow')}".encode())
    return digest.hexdigest()


def stack_entry(project: ProjectDir, stack: str) -> dict[str, Any]:
    """One stack, as ``ls --json`` prints it."""
    ctx = project.stack_context(stack, token_index(project.root, stack),
                                metaflow_user(project.root, stack))
    aws = ctx.config.aws
    return {
        "stack": ctx.stack,
        "kind": ctx.kind,
        "project": ctx.project_name,
        "branch": ctx.branch_name,
        "orchestrator": ctx.orchestrator,
        "namespace": ctx.namespace,
        "production_token": ctx.production_token,
        "protect": ctx.protect,
        "region": aws.region,
        "deployer_role": f"arn:aws:iam::{aws.account_id}:role/{role_name(ctx, 'deployer')}",
        "fingerprint": fingerprint(project, ctx),
        "flows": [flow_entry(ctx, fd) for fd in ctx.flows],
    }


@dataclass
class Listing:
    project: str
    stacks: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"project": self.project, "stacks": self.stacks}


def _base_fingerprint(base: ProjectDir, stack: str) -> tuple[str | None, str]:
    """The stack's fingerprint in the base checkout, or None and why there is none."""
    try:
        ctx = base.stack_context(stack, token_index(base.root, stack),
                                 metaflow_user(base.root, stack))
    except FlowstacksError as exc:
        return None, f"not deployable in the base checkout ({exc.message})"
    return fingerprint(base, ctx), ""


def list_stacks(project_dir: Path, stacks: list[str], orchestrator: str | None = None,
                base_project_dir: Path | None = None) -> Listing:
    """Every stack of ``stacks`` with its flows; with ``base_project_dir``, each stack also says
    whether it ``changed`` compared with that checkout (and why)."""
    project = ProjectDir(Path(project_dir), orchestrator)
    entries = [stack_entry(project, s) for s in stacks]
    if base_project_dir is not None:
        base = ProjectDir(Path(base_project_dir), orchestrator)
        for entry in entries:
            before, why = _base_fingerprint(base, entry["stack"])
            entry["changed"] = before != entry["fingerprint"]
            entry["change"] = why or ("changed" if entry["changed"] else "unchanged")
    return Listing(project.project_name, entries)


def render_text(listing: Listing) -> str:
    """The human listing: a block per stack, a line per flow and its client snippet."""
    lines = [f"project {listing.project}"]
    for s in listing.stacks:
        change = f"  [{s['change']}]" if "change" in s else ""
        lines += ["", f"{s['stack']}  {s['orchestrator']}  {s['namespace']}{change}",
                  f"  deployer role {s['deployer_role']}"]
        for f in s["flows"]:
            when = []
            if f["schedule"]:
                tz = f" ({f['schedule']['timezone']})" if f["schedule"]["timezone"] else ""
                when.append(f"schedule {f['schedule']['cron']}{tz}")
            when += [f"after {t['after']}" if "after" in t else f"on event {t['event']}"
                     for t in f["triggers"]]
            lines.append(f"  {f['flow']}  {f['object']}" + (f"  ({'; '.join(when)})" if when else ""))
            lines.append(f"    {f['client']}")
    return "\n".join(lines) + "\n"
