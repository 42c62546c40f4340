"""Helpers shared by the Step Functions tests: oracle-like settings and ASL accessors."""

from __future__ import annotations

import json
from typing import Any, Iterator

from flowstacks.model.deployment import StackContext
from flowstacks.model.platform import ResolvedPlatform
from flowstacks.render.serialize import compact_json
from flowstacks.render.sfn import SfnInputs, render_state_machine, resolve_references_json

# The fake deployment of the oracle (tests/oracle/harness.py DEPLOY_ENV): same account, bucket,
# queue and roles, so that flowstacks and Metaflow can be compared value for value.
ORACLE_AWS = dict(
    region="us-east-1",
    account_id="123456789012",
    datastore_root="s3://mf-fake-bucket/metaflow",
    batch_job_queue="arn:aws:batch:us-east-1:123456789012:job-queue/fake-queue",
    batch_container_role="arn:aws:iam::123456789012:role/fake-batch-role",
    fargate_execution_role="arn:aws:iam::123456789012:role/fake-fargate-exec-role",
    batch_platform="FARGATE",  # the oracle's moto compute environment
)
# No table here: a stack keeps its own foreach-state table (issue 16), and the oracle's deployer
# is given that name (tests/oracle/platform.py namespace_table_env).
ORACLE_USER = "alice"


def oracle_context(ctx: StackContext, s3_endpoint: str | None = None) -> StackContext:
    """``ctx`` with the oracle's deployment settings and owner (USER=alice deploys); like the
    oracle's fake deployment, no metadata service, secrets backend or encryption setting."""
    aws = ctx.config.aws.model_copy(update={**ORACLE_AWS, "s3_endpoint_url": s3_endpoint})
    return ctx.model_copy(update={"owner": ORACLE_USER, "platform": ResolvedPlatform(),
                                  "config": ctx.config.model_copy(update={"aws": aws})})


def render_resolved(ctx: StackContext, flow: str, sha: str, url: str) -> dict[str, Any]:
    """The definition of ``flow`` with job definition ARNs as Metaflow's registration returns them."""
    dep = ctx.flow(flow)
    r = render_state_machine(ctx, dep, SfnInputs(sha, url, ctx.config.aws.batch_container_role))
    arn = "arn:aws:batch:{0}:{1}:job-definition/{{}}:1".format(
        ctx.config.aws.region, ctx.config.aws.account_id)
    arns = {n: arn.format(n) for n in r.job_definitions}
    return json.loads(resolve_references_json(compact_json(r.definition), arns))


def tasks(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, state) of every Batch task, nested ones included."""
    for name, state in definition["States"].items():
        if state.get("Resource", "").endswith("batch:submitJob.sync"):
            yield name, state
        for branch in state.get("Branches", []):
            yield from tasks(branch)
        if "Iterator" in state:
            yield from tasks(state["Iterator"])


def task(definition: dict[str, Any], step: str) -> dict[str, Any]:
    return dict(tasks(definition))[step]


def env(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["Name"], e.get("Value", e.get("Value.$"))) for e in
            state["Parameters"]["ContainerOverrides"]["Environment"]]


def command(state: dict[str, Any]) -> str:
    return state["Parameters"]["ContainerOverrides"]["Command"][2]
