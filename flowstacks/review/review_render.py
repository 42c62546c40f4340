"""Text and Markdown of a deployment review (``flowstacks diff STACK --base-project-dir DIR``):
each resource with the action ``pulumi up`` would take, what forces a replacement, and, first in
the Markdown and last in the text, what blocks the deployment and the commands that resolve it."""

from __future__ import annotations

from flowstacks.review.changes import SYMBOL, ResourceChange
from flowstacks.review.replacements import touches
from flowstacks.review.diff import MARKDOWN_LIMIT, TEXT_PATHS, StackDiff, _change


def _summary(d: StackDiff) -> str:
    counts = d.plan.counts() if d.plan else {}
    return ", ".join(f"{n} {a}" for a, n in counts.items() if n) or "no change"


def _resource_lines(c: ResourceChange, max_paths: int | None) -> list[str]:
    """The resource, then why it is replaced, then its changed inputs (replacing ones first)."""
    lines = [f"{SYMBOL[c.action]} {c.action} {c.label()}"]
    if c.action == "replace":
        lines.append(f"    {c.why()}")
    first = [p for p in c.paths if any(touches(p[0], r) for r in c.replacing)]
    ordered = first + [p for p in c.paths if p not in first]
    shown = ordered if max_paths is None else ordered[:max_paths]
    lines += [f"    {p}: {_change(o, n)}" for p, o, n in shown]
    if len(shown) < len(ordered):
        lines.append(f"    ({len(ordered) - len(shown)} more changed inputs)")
    return lines


def render_review_text(d: StackDiff) -> str:
    """The review as text: one block per flow, the blocking report last (what a terminal shows
    nearest the prompt)."""
    where = f" (deployed: {d.base_label})" if d.base_label else ""
    if d.empty:
        return f"{d.head}: no change{where}\n"
    lines = [f"{d.head}: what `pulumi up -s {d.head}` would change{where}: {_summary(d)}"]
    for c in d.flows.values():
        if c.empty:
            continue
        lines.append(f"  {c.flow}:")
        lines += [f"    ! {n}" for n in c.notes]
        for r in c.resources:
            lines += [f"    {line}" for line in _resource_lines(r, TEXT_PATHS)]
    report = d.plan.blocked_report() if d.plan else []
    if report:
        lines += [""] + report
    return "\n".join(lines) + "\n"


def _fit(lines: list[str], budget: int) -> list[str]:
    """``lines`` within ``budget`` characters: the changes listed are cut, never the commands."""
    if sum(len(line) + 1 for line in lines) <= budget:
        return lines

    def listed(line: str) -> bool:  # a change or its detail, as opposed to a heading or command
        return line.startswith("  ") and not line.startswith("  pulumi ")

    room = budget - sum(len(line) + 1 for line in lines if not listed(line)) - 80
    out, cut = [], 0
    for line in lines:
        if listed(line) and (cut or room < len(line) + 1):
            cut += 1
            continue
        room -= len(line) + 1 if listed(line) else 0
        out.append(line)
    first_heading = next((i for i, line in enumerate(out) if not listed(line)), len(out))
    return out[:first_heading] + [f"  ({cut} more lines: run `flowstacks diff` locally)"] \
        + out[first_heading:]


def render_review_markdown(d: StackDiff, limit: int = MARKDOWN_LIMIT) -> str:
    """The review as a pull-request comment: the blocking report, a table of actions per flow,
    then each flow's resources folded; at most ``limit`` characters."""
    title = f"### flowstacks: deploying `{d.head}`"
    if d.empty:
        return f"{title}\n\nNo change.\n"
    head = [title, "", f"`pulumi up -s {d.head}` would make: {_summary(d)}."]
    report = d.plan.blocked_report() if d.plan else []
    if sum(len(line) + 1 for line in report) > limit // 2:  # keep room for the table
        report = d.plan.blocked_report(detail=False) if d.plan else []
    if report:
        head += ["", f"> **{report[0]}**", "", "```text", *_fit(report[1:], limit // 2), "```"]
    head += ["", "| flow | create | update | replace | delete | notes |",
             "|---|---|---|---|---|---|"]
    for c in d.flows.values():
        if c.empty:
            continue
        n = {a: sum(r.action == a for r in c.resources) for a in SYMBOL}
        head.append(f"| {c.flow} | {n['create']} | {n['update']} | {n['replace']} | "
                    f"{n['delete']} | {'<br>'.join(c.notes) or '-'} |")
    body = []
    for c in d.flows.values():
        if c.empty or not c.resources:
            continue
        body += ["", f"<details><summary>{c.flow}</summary>", "", "```diff"]
        for r in c.resources:
            body += _resource_lines(r, None)
        body += ["```", "", "</details>"]
    text = "\n".join(head) + "\n"
    footer = "\n\n_Details cut at {n} characters; run `flowstacks diff` locally for all of it._\n"
    if len(text) + len(footer) + 20 > limit:  # only with a huge number of commands
        return text[: limit - len(footer) - 30] + "\n```\n" + footer.format(n=limit)
    for i, line in enumerate(body):
        if len(text) + len(line) + 1 + len(footer) + 20 > limit:
            inside = body[:i].count("```diff") > body[:i].count("```")  # a block left open
            return (text + "```\n\n</details>" if inside else text) + footer.format(n=limit)
        text += line + "\n"
    return text
