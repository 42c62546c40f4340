"""``flowstacks diff BASE HEAD``: what HEAD's stack changes compared with BASE's, per flow.

Both stacks are synthesized; every name, token and namespace string that differs only because the
namespaces differ is replaced by a placeholder (``<SM:TrainFlow>``, ``<TOKEN>``...), so that only
real changes show: steps added, resources changed, a schedule moved, IAM widened, a flow deleted.

With one stack on both sides (``flowstacks diff STACK --base-project-dir DIR``: DIR is what is
deployed, the current folder what will be) the diff is a deployment review: each resource is
marked create, update, replace or delete (:mod:`flowstacks.review.changes`) and a replacement or
deletion of a protected resource is reported as blocking.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstacks.model.deployment import StackContext
from flowstacks.naming.events import resolve_upstream, sensor_dependency_name
from flowstacks.policy.rules import Resource, policy_documents, statements
from flowstacks.render.serialize import compact_json
from flowstacks.review.changes import ChangePlan, ResourceChange, changed_paths, classify

MARKDOWN_LIMIT = 60_000
PACKAGE_SHA = re.compile(r"-[0-9a-f]{16}$")  # deploy.components.code_package.package_resource_name
STACK_WIDE = "(stack)"
TEXT_PATHS = 12  # changed inputs shown per resource in a deployment review's text output


def replacements(ctx: StackContext) -> list[tuple[str, str]]:
    """Namespace-specific strings and their placeholders, longest first."""
    pairs: dict[str, str] = {}
    for fd in ctx.flows:
        f = fd.flow.name
        for value, tag in ((fd.state_machine_name, "SM"), (fd.eventbridge_rule_name, "RULE"),
                           (fd.argo_template_name, "ARGO"), (fd.argo_sensor_name, "SENSOR"),
                           (fd.airflow_dag_id, "DAG"), (fd.project_flow_name, "PFN")):
            if value:
                pairs.setdefault(value, f"<{tag}:{f}>")
        flags = " ".join(fd.top_level_args())
        if flags:
            pairs.setdefault(flags, "<NAMESPACE_FLAGS>")
        for up in fd.flow.trigger_on_finish:
            event = resolve_upstream(up, ctx.project_name, ctx.branch_name).event_name
            pairs.setdefault(sensor_dependency_name(event), f"<DEP:{up.flow}>")
    pairs[ctx.production_token] = "<TOKEN>"
    pairs[ctx.token_prefix] = "<TOKEN_PREFIX>"
    pairs[f"{ctx.project_name}.{ctx.branch_name}"] = "<PROJECT.BRANCH>"
    pairs[f"'{ctx.branch_name}'"] = "'<BRANCH>'"
    pairs[f"environment:{ctx.stack}"] = "environment:<BRANCH>"
    if ctx.stack != "prod":  # "prod" alone is too common a word to replace blindly
        pairs[ctx.branch_name] = "<BRANCH>"
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def normalize(value: Any, pairs: list[tuple[str, str]], branch: str = "") -> Any:
    """Replace namespace strings everywhere; JSON held in strings is parsed to compare structure.
    A value that is exactly the branch name (``prod`` included) becomes ``<BRANCH>``."""
    if isinstance(value, dict):
        return {normalize(k, pairs, branch): normalize(v, pairs, branch) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, pairs, branch) for v in value]
    if isinstance(value, str):
        if value == branch:
            return "<BRANCH>"
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and len(stripped) > 1:
            try:
                return normalize(json.loads(stripped), pairs, branch)
            except ValueError:
                pass
        for old, new in pairs:
            value = value.replace(old, new)
        return value
    return value


def flow_of(key: str, flows: list[str]) -> str:
    """The flow a resource belongs to, by its name: the placeholders a normalized name carries,
    or the flow name itself (``TrainFlow``, ``TrainFlow-code-package``,
    ``example_project.prod.TrainFlow-template``)."""
    name = key.split(" ", 1)[-1]
    hits = [f for f in flows if f":{f}>" in name or name == f or name.startswith(f"{f}-")
            or f".{f}" in name]
    return hits[0] if len(hits) == 1 else STACK_WIDE


def iam_actions(res_type: str, inputs: dict[str, Any]) -> set[str]:
    docs = policy_documents(Resource(res_type, "", inputs))
    return {a for _, d in docs for st in statements(d) if st.get("Effect") == "Allow"
            for a in ([st["Action"]] if isinstance(st.get("Action"), str) else st.get("Action") or [])}


@dataclass
class FlowChange:
    flow: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    resources: list[ResourceChange] = field(default_factory=list)  # deployment review only

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.notes or self.resources)


@dataclass
class StackDiff:
    base: str
    head: str
    flows: dict[str, FlowChange]
    plan: ChangePlan | None = None  # set when both sides are the same stack
    base_label: str = ""  # where BASE came from (a deployment review's header)

    @property
    def empty(self) -> bool:
        return all(c.empty for c in self.flows.values())


def _keyed(manifest: dict[str, Any], ctx: StackContext) -> dict[str, dict[str, Any]]:
    pairs = replacements(ctx)
    out = {}
    for r in manifest["resources"]:
        name = normalize(r["name"], pairs, ctx.branch_name)
        if r.get("retainOnDelete"):  # a code package: named by its sha, compared as the flow's package
            name = PACKAGE_SHA.sub("-<SHA>", name)
        key = f"{r['type']} {name}"
        out[key] = {"type": r["type"], "inputs": normalize(r.get("inputs") or {}, pairs, ctx.branch_name),
                    "protect": r.get("protect", False)}
    return out


def _config_values(flow: Any) -> list[tuple[Any, ...]]:
    """What a flow's Configs hold, not where the files are (two checkouts differ there)."""
    return [(c.name, c.value, c.plain) for c in flow.configs]


def flow_notes(base: StackContext, head: StackContext) -> dict[str, list[str]]:
    """Changes read from the flows themselves (what a reviewer asks first)."""
    notes: dict[str, list[str]] = {}
    b = {f.flow.name: f.flow for f in base.flows}
    h = {f.flow.name: f.flow for f in head.flows}
    for name in sorted(set(b) | set(h)):
        n = notes.setdefault(name, [])
        if name not in h:
            n.append(f"flow removed: HEAD would DELETE its {base.orchestrator} objects")
            continue
        if name not in b:
            n.append("flow added")
            continue
        bs, hs = [s.name for s in b[name].steps], [s.name for s in h[name].steps]
        n += [f"step added: {s}" for s in hs if s not in bs]
        n += [f"step removed: {s}" for s in bs if s not in hs]
        bsched = b[name].schedule.aws_expression if b[name].schedule else None
        hsched = h[name].schedule.aws_expression if h[name].schedule else None
        if bsched != hsched:
            n.append(f"schedule changed: {bsched} -> {hsched}")
        if _config_values(b[name]) != _config_values(h[name]):
            n.append("Config values differ")
    if base.orchestrator != head.orchestrator:
        notes.setdefault(STACK_WIDE, []).append(
            f"orchestrator changes: {base.orchestrator} -> {head.orchestrator}")
    return notes


def diff_manifests(base_manifest: dict[str, Any], head_manifest: dict[str, Any],
                   base: StackContext, head: StackContext) -> StackDiff:
    b = _keyed(base_manifest, base)
    h = _keyed(head_manifest, head)
    flows = sorted({f.flow.name for f in base.flows} | {f.flow.name for f in head.flows})
    changes: dict[str, FlowChange] = {}

    def change(key: str) -> FlowChange:
        name = flow_of(key, flows)
        return changes.setdefault(name, FlowChange(name))

    for key in sorted(set(h) - set(b)):
        change(key).added.append(key)
    for key in sorted(set(b) - set(h)):
        c = change(key)
        c.removed.append(key + (" (protected: deletion will fail until unprotected)"
                                if b[key]["protect"] else ""))
    for key in sorted(set(b) & set(h)):
        paths = changed_paths(b[key]["inputs"], h[key]["inputs"])
        if paths:
            change(key).changed[key] = paths
        widened = iam_actions(h[key]["type"], h[key]["inputs"]) - iam_actions(b[key]["type"], b[key]["inputs"])
        if widened:
            change(key).notes.append(f"IAM widened on {key}: {sorted(widened)}")
    for name, notes in flow_notes(base, head).items():
        if notes:
            changes.setdefault(name, FlowChange(name)).notes[:0] = notes
    return StackDiff(base.stack, head.stack, dict(sorted(changes.items())))


def review_manifests(base_manifest: dict[str, Any], head_manifest: dict[str, Any],
                     base: StackContext, head: StackContext, base_label: str = "") -> StackDiff:
    """A deployment review of one stack: each resource's action, grouped by flow, with the
    flows' own changes as notes."""
    plan = classify(base_manifest, head_manifest)
    flows = sorted({f.flow.name for f in base.flows} | {f.flow.name for f in head.flows})
    changes: dict[str, FlowChange] = {}
    for c in plan.changes:
        name = flow_of(f"{c.type} {c.name}", flows)
        changes.setdefault(name, FlowChange(name)).resources.append(c)
    for name, notes in flow_notes(base, head).items():
        if notes:
            changes.setdefault(name, FlowChange(name)).notes[:0] = notes
    return StackDiff(base.stack, head.stack, dict(sorted(changes.items())), plan, base_label)


def _short(value: Any, limit: int = 160) -> str:
    text = compact_json(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _change(old: Any, new: Any, context: int = 60) -> str:
    """``old -> new``; for two long strings, a window around the first difference."""
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 2 * context:
        i = next((k for k, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        start = max(0, i - context // 2)
        return (f"…{old[start:start + context]}… -> …{new[start:start + context]}… "
                f"(first difference at character {i})")
    return f"{_short(old)} -> {_short(new)}"


def render_text(d: StackDiff) -> str:
    """The diff as text, one block per flow."""
    if d.plan is not None:
        from flowstacks.review.review_render import render_review_text

        return render_review_text(d)
    if d.empty:
        return f"{d.head} vs {d.base}: no change\n"
    lines = [f"{d.head} vs {d.base}:"]
    for c in d.flows.values():
        if c.empty:
            continue
        lines.append(f"  {c.flow}:")
        lines += [f"    ! {n}" for n in c.notes]
        lines += [f"    + {k}" for k in c.added]
        lines += [f"    - {k}" for k in c.removed]
        for key, paths in c.changed.items():
            lines.append(f"    ~ {key}")
            lines += [f"        {p}: {_change(o, n)}" for p, o, n in paths]
    return "\n".join(lines) + "\n"


def render_markdown(d: StackDiff, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary table first, details folded, at most ``limit`` chars."""
    if d.plan is not None:
        from flowstacks.review.review_render import render_review_markdown

        return render_review_markdown(d, limit)
    if d.empty:
        return f"### flowstacks: `{d.head}` vs `{d.base}`\n\nNo change.\n"
    head = [f"### flowstacks: `{d.head}` vs `{d.base}`", "",
            "| flow | added | removed | changed | notes |", "|---|---|---|---|---|"]
    for c in d.flows.values():
        if not c.empty:
            head.append(f"| {c.flow} | {len(c.added)} | {len(c.removed)} | {len(c.changed)} | "
                        f"{'<br>'.join(c.notes) or '-'} |")
    body = []
    for c in d.flows.values():
        if c.empty:
            continue
        body += ["", f"<details><summary>{c.flow}</summary>", "", "```diff"]
        body += [f"+ {k}" for k in c.added] + [f"- {k}" for k in c.removed]
        for key, paths in c.changed.items():
            body.append(f"! {key}")
            body += [f"    {p}: {_change(o, n)}" for p, o, n in paths]
        body += ["```", "", "</details>"]
    text = "\n".join(head) + "\n"
    footer = "\n\n_Details cut at {n} characters; run `flowstacks diff` locally for all of it._\n"
    for i, line in enumerate(body):
        if len(text) + len(line) + 1 + len(footer) + 20 > limit:
            cut = text + "\n```\n\n</details>" if "```diff" in "\n".join(body[:i]) else text
            return cut + footer.format(n=limit)
        text += line + "\n"
    return text


def diff_stacks(project_dir: Path, base: str, head: str, orchestrator: str | None = None,
                base_project_dir: Path | None = None) -> StackDiff:
    """Synthesize both stacks (same orchestrator override) and compare them. ``base_project_dir``
    (e.g. a checkout of main) makes BASE come from another version of the project, so that a
    flow deleted from the config shows as a deletion before it happens. The same stack on both
    sides is a deployment review (:func:`review_manifests`): what ``pulumi up`` would do."""
    from flowstacks.load.project import ProjectDir
    from flowstacks.load.stackfiles import metaflow_user, token_index
    from flowstacks.synth.engine import synth_stack

    sides = {}
    for side, stack, folder in (("base", base, base_project_dir or project_dir),
                                ("head", head, project_dir)):
        ctx = ProjectDir(folder, orchestrator).stack_context(stack, token_index(folder, stack),
                                                               metaflow_user(folder, stack))
        sides[side] = (synth_stack(folder, stack, orchestrator).manifest(), ctx)
    if base == head:
        return review_manifests(sides["base"][0], sides["head"][0], sides["base"][1],
                                sides["head"][1], str(base_project_dir or project_dir))
    return diff_manifests(sides["base"][0], sides["head"][0], sides["base"][1], sides["head"][1])
