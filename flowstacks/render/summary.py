"""``OUT/<stack>/SUMMARY.md``: what a stack deploys, for reviewers (GitHub renders the Mermaid)."""

from __future__ import annotations

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow
from flowstacks.naming.events import resolve_upstream
from flowstacks.render.artifact import Artifact


def client_snippet(ctx: StackContext, flow: str) -> str:
    """One line of Python that finds this flow's deployed runs with the Metaflow client (a stack
    output, and what ``flowstacks ls`` prints)."""
    return (f"from metaflow import Flow, namespace; namespace({ctx.namespace!r}); "
            f"runs = list(Flow({flow!r}).runs('project_branch:{ctx.branch_name}'))")


def object_name(ctx: StackContext, fd: FlowDeployment) -> str:
    if ctx.orchestrator == "step-functions":
        return fd.state_machine_name
    if ctx.orchestrator == "argo":
        return fd.argo_template_name
    return fd.airflow_dag_id or "-"


def schedule_text(flow: Flow) -> str:
    if not flow.schedule or not flow.schedule.aws_expression:
        return "-"
    return f"`{flow.schedule.aws_expression}`" + (
        f" ({flow.schedule.timezone})" if flow.schedule.timezone else "")


def triggers_text(ctx: StackContext, flow: Flow) -> str:
    parts = [f"after `{resolve_upstream(u, ctx.project_name, ctx.branch_name).event_name}`"
             for u in flow.trigger_on_finish]
    parts += [f"event `{t.resolved_name(ctx.project_name, ctx.branch_name)}`" for t in flow.triggers]
    return "<br>".join(parts) or "-"


def mermaid(flow: Flow) -> str:
    """The flow graph: foreach edges are labelled, joins drawn as such. Node ids are prefixed
    (``end`` is a Mermaid keyword)."""
    lines = ["```mermaid", "graph TD"]
    for step in flow.steps:
        node = f"s_{step.name}"
        if step.name in ("start", "end") or step.type in ("start", "end"):
            shape = f"{node}([{step.name}])"
        elif step.type == "join":
            shape = f"{node}{{{{{step.name}}}}}"
        else:
            shape = f"{node}[{step.name}]"
        lines.append(f"  {shape}")
    for step in flow.steps:
        for nxt in step.next:
            label = ""
            if step.type == "foreach":  # a foreach without a variable: num_parallel (@parallel)
                label = (f"|foreach {step.foreach_param}|" if step.foreach_param is not None
                         else "|num_parallel|")
            lines.append(f"  s_{step.name} -->{label} s_{nxt}")
    lines.append("```")
    return "\n".join(lines)


def render_summary(ctx: StackContext, roles: list[str]) -> Artifact:
    """A Markdown page: namespace facts, a table of flows, the roles, one graph per flow."""
    head = [
        f"# Stack `{ctx.stack}`",
        "",
        f"- Metaflow project `{ctx.project_name}`, branch `{ctx.branch_name}`, "
        f"orchestrator **{ctx.orchestrator}**",
        f"- namespace of every run: `{ctx.namespace}`",
        f"- resources protected from deletion: {'yes' if ctx.protect else 'no'}",
        "",
        "| flow | orchestrator object | steps | schedule | triggers |",
        "|---|---|---|---|---|",
    ]
    rows = [
        f"| {fd.flow.name} | `{object_name(ctx, fd)}` | {len(fd.flow.steps)} | "
        f"{schedule_text(fd.flow)} | {triggers_text(ctx, fd.flow)} |"
        for fd in ctx.flows
    ]
    role_lines = ["", "## IAM roles", ""] + [f"- `{r}` (`iam/{r}.json`)" for r in sorted(roles)]
    graphs = []
    for fd in ctx.flows:
        graphs += ["", f"## {fd.flow.name}", "", mermaid(fd.flow)]
    return Artifact("SUMMARY.md", "\n".join(head + rows + role_lines + graphs) + "\n")
