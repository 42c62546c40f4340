"""What one Step Functions rendering knows: the namespace, the flow, the settings passed in."""

from __future__ import annotations

from dataclasses import dataclass

from flowstacks.model.deployment import FlowDeployment, StackContext
from flowstacks.model.flow import Flow, Step
from flowstacks.render.metaflow_runtime import DEFAULT_MAX_WORKERS, METAFLOW_VERSION
from flowstacks.render.walk import StepIndex


@dataclass(frozen=True)
class SfnInputs:
    """What the renderer needs beyond the flow and the namespace (known before rendering; the
    code package's sha and URL come from the component that built it)."""

    code_package_sha: str
    code_package_url: str
    task_role_arn: str  # the Batch container role (--with batch:iam_role=...)
    metaflow_version: str = METAFLOW_VERSION
    max_workers: int = DEFAULT_MAX_WORKERS


def partition(region: str) -> str:
    """The ARN partition of ``region`` (Metaflow reads it from the SFN role ARN)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class FlowContext:
    """One flow in one namespace, with the graph questions the states, env and command ask."""

    def __init__(self, ctx: StackContext, dep: FlowDeployment, inputs: SfnInputs):
        self.ctx, self.dep, self.inputs = ctx, dep, inputs
        self.flow: Flow = dep.flow
        self.graph = StepIndex(self.flow)
        self.aws = ctx.config.aws
        self.arn_partition = partition(self.aws.region)

    @property
    def triggered(self) -> bool:
        """``@trigger_on_finish``: executions carry the triggering run (flowstacks' extension)."""
        return bool(self.flow.trigger_on_finish)

    def is_start(self, step: Step) -> bool:
        return step.name == self.flow.start.name

    def multi_parent(self, step: Step) -> bool:
        """A static join: its state input is the list of its parents' outputs."""
        return (not self.is_start(step) and not self.graph.is_foreach_join(step)
                and len(step.in_funcs) > 1)

    def uses_dynamodb(self, step: Step) -> bool:
        """The task writes or reads foreach state in Metaflow's DynamoDB table."""
        graph = self.graph
        return (step.type == "foreach" or graph.is_foreach_join(step)
                or (step.is_inside_foreach
                    and any(graph.is_foreach_join(graph[n]) for n in step.next)))
