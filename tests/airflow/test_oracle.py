"""Metaflow as the oracle: its own ``airflow create`` (2.19.39, against a local moto S3) and
flowstacks must agree on the task contract of every example flow in every namespace kind.

Run with ``-s`` to see the figures (points compared / equal / kept differences).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from flowstacks.render.airflow import MSG_TRIGGER, dag_context
from tests.airflow.conftest import STACKS
from tests.airflow.metaflow_dag import metaflow_config
from tests.airflow.oracle_compare import Comparison, compare_dag
from tests.conftest import EXAMPLE

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

FLOWS = {"FeaturesFlow": "features_flow.py", "ProjectFlow": "project_flow.py",
         "RefreshFlow": "refresh_flow.py", "ScoringFlow": "scoring_flow.py",
         "TrainFlow": "train_flow.py"}


@pytest.fixture(scope="module")
def oracle():
    from tests.oracle.harness import oracle_available, shared_oracle

    ok, why = oracle_available()
    if not ok:
        pytest.skip(why)
    return shared_oracle()


def _oracle_args(ctx) -> dict:
    """The deployer flags and user that give Metaflow the same namespace as the stack."""
    if ctx.kind == "prod":
        return {"production": True, "user": ctx.owner}
    if ctx.kind == "test":
        return {"branch": ctx.branch_name.split(".", 1)[1], "user": ctx.owner}
    return {"user": ctx.owner}


def _as_oracle_deploys(ctx, oracle):
    """The stack's context with the oracle's fake platform settings (deploy_env.sh)."""
    from tests.oracle.harness import BUCKET, DEPLOY_ENV

    c = ctx.config
    config = c.model_copy(update={
        "aws": c.aws.model_copy(update={
            "datastore_root": DEPLOY_ENV["METAFLOW_DATASTORE_SYSROOT_S3"],
            "s3_endpoint_url": oracle.endpoint}),
        "airflow": c.airflow.model_copy(
            update={"namespace": DEPLOY_ENV["METAFLOW_KUBERNETES_NAMESPACE"]}),
        "kubernetes": c.kubernetes.model_copy(
            update={"service_account": DEPLOY_ENV["METAFLOW_KUBERNETES_SERVICE_ACCOUNT"]}),
    })
    assert config.aws.datastore_bucket == BUCKET
    return ctx.model_copy(update={"config": config})


@pytest.fixture(scope="module")
def comparison(oracle, example_project) -> Comparison:
    cases = []
    for stack in STACKS.values():
        ctx = _as_oracle_deploys(example_project.stack_context(stack), oracle)
        cases += [(stack, ctx, ctx.flow(flow), file) for flow, file in FLOWS.items()]

    def metaflow_dag(case) -> str:
        stack, ctx, fd, file = case
        configs = {k: str(EXAMPLE / "flowspecs" / v)
                   for k, v in ctx.config.config_files(stack, fd.flow.name).items()
                   if k in {c.name for c in fd.flow.configs}}
        return oracle.airflow_dag(EXAMPLE / "flowspecs" / file, configs=configs or None,
                                  **_oracle_args(ctx))

    # each call is a Metaflow subprocess: run a few at once (different DAG names never share
    # a production-token record in the oracle's S3)
    with ThreadPoolExecutor(max_workers=4) as pool:
        sources = list(pool.map(metaflow_dag, cases))
    total = Comparison()
    for (stack, ctx, fd, _), source in zip(cases, sources):
        theirs = metaflow_config(source)
        env = {e["name"]: e["value"]
               for e in next(iter(theirs["states"].values()))["operator_args"]["env_vars"]}
        # same code package as Metaflow's, so commands compare byte for byte
        mine = dag_context(ctx, fd, env["METAFLOW_CODE_URL"], env["METAFLOW_CODE_SHA"])
        total.extend(compare_dag(mine, theirs, f"{stack}/{fd.flow.name}",
                                 frozenset(c.name for c in fd.flow.configs)))
    return total


def test_metaflow_and_flowstacks_agree(comparison: Comparison) -> None:
    differ = [p for p in comparison.points if p[1] == "differ"]
    print(f"\nAirflow vs Metaflow 2.19.39: {len(comparison.points)} points compared, "
          f"{comparison.count('equal')} equal, {comparison.count('kept')} kept differences, "
          f"{len(differ)} unexplained")
    kept = sorted({(p[0].split(": ", 1)[1], p[2]) for p in comparison.points if p[1] == "kept"})
    for point, why in kept:
        print(f"  kept: {point}: {why}")
    assert differ == []
    assert comparison.count("equal") > 10 * comparison.count("kept")


def test_commands_are_byte_identical(comparison: Comparison) -> None:
    commands = [p for p in comparison.points if p[0].endswith(": command")]
    assert len(commands) == 3 * 15  # 15 steps of the five flows x 3 namespaces
    print(f"\npod commands: {len(commands)} compared, "
          f"{sum(p[1] == 'equal' for p in commands)} byte-identical")
    # only the start steps differ, by the random name of the parameters file
    assert {p[0].split(".")[-1] for p in commands if p[1] != "equal"} == {"start: command"}


def test_metaflow_refuses_trigger_on_finish_which_flowstacks_supports(oracle) -> None:
    from tests.oracle.harness import OracleError

    with pytest.raises(OracleError) as err:
        oracle.airflow_dag(EXAMPLE / "flowspecs" / "publish_flow.py", production=True,
                           user="platform-team")
    assert MSG_TRIGGER in str(err.value)
