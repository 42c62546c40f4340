"""What Metaflow's Step Functions deployer refuses, refused with its own messages
(docs/metaflow-contract.md#step-functions)."""

from __future__ import annotations

from flowstacks.errors import FlowstacksError, MetaflowRuleError, Problems
from flowstacks.model.flow import Flow, Step
from flowstacks.render.metaflow_runtime import MIN_RUNTIME_LIMIT
from flowstacks.render.sfn.schedule import CronError, eventbridge_cron


def where(flow: Flow, step: Step | None = None) -> str:
    return f"{flow.file} ({flow.name}.{step.name})" if step else f"{flow.file} ({flow.name})"


KUBERNETES_ON_SFN = (
    "Step *{step}* is marked for execution on Kubernetes, but Step Functions runs every step as "
    "an AWS Batch job: the task would fail at run time with \"Step *{step}* is marked for "
    "execution both on AWS Batch and Kubernetes. Please use one or the other.\"")


def schedule_expression(flow: Flow) -> str | None:
    """The rule's ``cron(...)`` body: Metaflow's expression in EventBridge's 6-field form
    (:mod:`.schedule`), or a refusal naming the flow."""
    if not flow.schedule:
        return None
    expression = flow.schedule.aws_expression
    if expression and flow.schedule.cron:
        try:
            return eventbridge_cron(expression)
        except CronError as exc:
            raise FlowstacksError(
                f"@schedule(cron='{flow.schedule.cron}') cannot be an EventBridge schedule: {exc}",
                where=where(flow), hint="write the EventBridge form, e.g. cron='0 12 ? * MON-FRI *' "
                "(see docs/metaflow-contract.md#schedules)") from None
    return expression


def check_flow(flow: Flow) -> None:
    """Refuse what ``step-functions create`` refuses for the whole flow, and what it accepts but
    cannot run (a ``@kubernetes`` step, a schedule EventBridge rejects); every problem at once.

    ``@trigger``/``@trigger_on_finish`` are *not* refused: flowstacks wires them through
    EventBridge (issue 4), which Metaflow cannot."""
    problems = Problems()
    if flow.schedule and flow.schedule.timezone is not None:
        problems.add(MetaflowRuleError("Step Functions does not support scheduling with a timezone.",
                                       headline="AWS Step Functions scheduling error",
                                       where=where(flow)))
    else:
        with problems.collect():
            schedule_expression(flow)
    if any(d.name == "exit_hook" for d in flow.flow_decorators):
        problems.add(MetaflowRuleError("Deploying flows with the @exit_hook decorator to AWS Step "
                                       "Functions is not currently supported.",
                                       headline="AWS Step Functions error", where=where(flow)))
    seen: set[str] = set()
    for p in flow.parameters:
        if p.name.lower() in seen:
            problems.add(MetaflowRuleError(f"Parameter *{p.name}* is specified twice. Note that "
                                           "parameter names are case-insensitive.",
                                           where=where(flow)))
        seen.add(p.name.lower())
        if flow.schedule and p.required and not p.has_default:
            problems.add(MetaflowRuleError(
                f"The parameter *{p.name}* does not have a default and is required. Scheduling "
                "such parameters via AWS Event Bridge is not currently supported.",
                where=where(flow)))
        if p.deploy_time_default:
            problems.add(FlowstacksError(f"Parameter '{p.name}' has a default computed at deploy "
                                         "time; flowstacks renders without running flow code",
                                         where=where(flow), hint="give the parameter a literal default"))
    for step in flow.steps:
        if step.decorator("kubernetes"):
            problems.add(FlowstacksError(
                KUBERNETES_ON_SFN.format(step=step.name), where=where(flow, step),
                hint="remove @kubernetes (use @batch or @resources), or deploy this namespace "
                     "with --orchestrator argo"))
        if step.decorator("slurm"):
            problems.add(MetaflowRuleError(f"Step *{step.name}* is marked for execution on Slurm "
                                           "with AWS Step Functions which isn't currently "
                                           "supported.", where=where(flow, step)))
    problems.raise_all()


def check_parallel(flow: Flow, step: Step) -> None:
    """``@parallel`` has no Step Functions rendering in Metaflow."""
    if step.decorator("parallel"):
        raise MetaflowRuleError("Deploying flows with @parallel decorator(s) to AWS Step "
                                "Functions is not supported currently.",
                                headline="AWS Step Functions error", where=where(flow, step))


def check_run_time_limit(flow: Flow, step: Step, run_time_limit: int) -> None:
    """``BatchDecorator.step_init``: AWS Batch attempt timeouts below 60 s are refused."""
    if run_time_limit < MIN_RUNTIME_LIMIT:
        raise MetaflowRuleError(f"The timeout for step *{step.name}* should be at least 60 "
                                "seconds for execution on AWS Batch.",
                                headline="AWS Batch error", where=where(flow, step))


def unsupported(flow: Flow, step: Step) -> FlowstacksError:
    """The error for a graph shape Step Functions cannot express."""
    if step.type == "split-switch":
        return MetaflowRuleError("Deploying flows with switch statement to AWS Step Functions "
                                 "is not supported currently.",
                                 headline="AWS Step Functions error", where=where(flow, step))
    return FlowstacksError(f"step type '{step.type}' cannot be expressed in AWS Step Functions",
                           where=where(flow, step))
