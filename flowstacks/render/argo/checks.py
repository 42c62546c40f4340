"""What the Argo backend refuses before any object exists: what ``KubernetesDecorator.step_init``
refuses (Metaflow's messages), and names Kubernetes would refuse (docs/metaflow-contract.md#names)."""

from __future__ import annotations

import re

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.deployment import FlowDeployment
from flowstacks.model.flow import Step
from flowstacks.render.argo.parallel import is_parallel_foreach, is_parallel_step
from flowstacks.render.argo.switch import Conditionals
from flowstacks.render.metaflow_runtime import MIN_RUNTIME_LIMIT
from flowstacks.render.walk import StepIndex

# Kubernetes object names (DNS-1123 subdomain, apimachinery validation.IsDNS1123Subdomain).
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_SUBDOMAIN_MAX = 253
# Argo Workflows: a CronWorkflow name leaves room for its 11-character run suffix.
CRON_WORKFLOW_NAME_MAX = 52


def check_kubernetes_name(name: str, kind: str, fd: FlowDeployment, limit: int) -> None:
    """Metaflow emits names Kubernetes refuses (a user ``john doe`` keeps its space);
    flowstacks stops before any object exists."""
    if len(name) > limit or not DNS1123_SUBDOMAIN.match(name):
        raise FlowstacksError(
            f"the Argo {kind} name {name!r} (from {fd.project_flow_name!r}) is not a valid "
            f"Kubernetes name: lowercase letters, digits, '-' and '.', at most {limit} characters",
            where=f"{fd.flow.file} ({fd.flow.name})",
            hint="user names end up in user.<name> namespaces; use a stack name such as "
                 "user.john_doe (Metaflow keeps spaces, '/' and non-ASCII letters)")


# metaflow_environment.InvalidEnvironmentException; conda_decorator/pypi_decorator step_init
ENVIRONMENT_HEADLINE = "Incompatible environment"
VIRTUAL_ENVIRONMENTS = {"conda": ("conda", "pypi", "fast-bakery"),
                        "pypi": ("conda", "pypi", "fast-bakery")}
# a flow decorator attaches its step decorator to every step (conda_base -> conda)
BASE_DECORATORS = {"conda_base": "conda", "pypi_base": "pypi"}
ENVIRONMENT_HINT = ("flowstacks deploys tasks with --environment=local: install the packages in "
                    "the step's image instead (compute image= or @kubernetes(image=...)) and "
                    "remove @{0}")


def environment_error(fd: FlowDeployment) -> MetaflowRuleError | None:
    """``@conda``/``@pypi`` (or their ``_base`` forms): Metaflow refuses them without
    ``--environment=conda|pypi``, which flowstacks does not render (its bootstrap is not
    reproduced), so the tasks would run without their packages."""
    flow = fd.flow
    base = next((BASE_DECORATORS[d.name] for d in flow.flow_decorators
                 if d.name in BASE_DECORATORS), None)
    for step in flow.steps:
        name = base or next((d.name for d in step.decorators if d.name in VIRTUAL_ENVIRONMENTS),
                            None)
        if name:
            envs = " or ".join(f"--environment={e}" for e in VIRTUAL_ENVIRONMENTS[name])
            return MetaflowRuleError(
                f"@{name} decorator requires {envs}", headline=ENVIRONMENT_HEADLINE,
                where=f"{flow.file} ({flow.name}.{step.name})",
                hint=ENVIRONMENT_HINT.format(name if base is None else f"{name}_base"))
    return None


def _check_gang(step: Step, steps: StepIndex, where: str) -> None:
    """The graph shape a JobSet needs, as Metaflow's linter checks it at load time
    (``lint.py``: ``check_parallel_step_after_next``, ``check_join_followed_by_parallel_step``,
    ``check_parallel_foreach_calls_parallel_step``): a model that skipped the linter must not
    render a gang without its foreach or its join."""
    if is_parallel_foreach(step) and not all(is_parallel_step(steps[n]) for n in step.next):
        raise FlowstacksError(
            f"Step *{step.name}* is called as a parallel step with self.next(num_parallel=..) "
            "but does not have a @parallel decorator.", where=where)
    if not is_parallel_step(step):
        return
    parents = [n for n in step.in_funcs if not is_parallel_foreach(steps[n])]
    if parents or not step.in_funcs:
        raise FlowstacksError(
            f"Step *{step.name}* has a @parallel decorator, but is not called with "
            f"self.next(num_parallel=...)"
            + (f" from step *{parents[0]}*." if parents else "."), where=where)
    if not step.next or steps[step.next[0]].type != "join":
        raise FlowstacksError(
            "An @parallel step should be followed by a join step. Step "
            f"*{step.next[0] if step.next else step.name}* is called after an @parallel step "
            "but is not a join step. Please add an extra `inputs` argument to the step.",
            where=where)


def check_steps(fd: FlowDeployment, namespace: str | None = None) -> None:
    """What ``KubernetesDecorator.step_init`` and ``ArgoWorkflows`` refuse (Metaflow's
    messages)."""
    env_error = environment_error(fd)
    if env_error is not None:
        raise env_error
    dow = fd.flow.schedule.numbered_weekdays if fd.flow.schedule else None
    if dow:
        # Metaflow cuts the cron to 5 fields and keeps the numbers: a run on the wrong day
        raise FlowstacksError(
            f"@schedule(cron='{fd.flow.schedule.cron}'): an EventBridge-style cron numbers the "
            f"days of the week 1-7 from Sunday, Argo's cron 0-6, so '{dow}' would mean other "
            "days on Argo", where=f"{fd.flow.file} ({fd.flow.name})",
            hint="name the days (SUN, MON-FRI, ...): both read names alike")
    cond = Conditionals(fd.flow)
    steps = StepIndex(fd.flow)
    for step in fd.flow.steps:
        where = f"{fd.flow.file} ({fd.flow.name}.{step.name})"
        if cond.is_join(step) and len(step.in_funcs) > 1 and steps.is_foreach_join(step):
            # ArgoWorkflows._container_templates
            raise MetaflowRuleError(
                "Conditional steps inside a foreach that transition directly into a join step "
                "are not currently supported.\nAs a workaround, add a common step after the "
                "conditional steps %s that will transition to a join."
                % ", ".join(f"*{p}*" for p in step.in_funcs),
                headline="Argo Workflows error", where=where,
                hint="add a step after the switch's cases that goes to the join")
        if step.decorator("batch"):
            raise MetaflowRuleError(
                f"Step *{step.name}* is marked for execution both on AWS Batch and Kubernetes. "
                "Please use one or the other.", where=where,
                hint="deploy this flow with --orchestrator step-functions, or drop @batch")
        _check_gang(step, steps, where)
        if is_parallel_step(step) and step.decorator("catch"):
            raise MetaflowRuleError(
                f"Step *{step.name}* contains a @parallel decorator with the @catch decorator. "
                "@catch is not supported with @parallel on Kubernetes.", where=where,
                hint="drop @catch from the @parallel step (retries with @retry are supported)")
        timeout = step.timeout_seconds
        if timeout is not None and timeout < MIN_RUNTIME_LIMIT:
            raise MetaflowRuleError(
                f"The timeout for step *{step.name}* should be at least 60 seconds for "
                "execution on Kubernetes.", where=where)
        deco = step.decorator("kubernetes")
        wanted = deco.attributes.get("namespace") if deco and "namespace" in deco.given else None
        if wanted and namespace and wanted != namespace:
            raise MetaflowRuleError(
                "Multi-namespace Kubernetes execution of flows in Argo Workflows is not "
                f"currently supported. \nStep *{step.name}* is trying to override the default "
                f"Kubernetes namespace *{namespace}*.", headline="Argo Workflows error",
                where=where,
                hint=f"this stack deploys into Kubernetes namespace {namespace!r}: drop "
                     "namespace= from @kubernetes, or set the stack's Kubernetes namespace")
