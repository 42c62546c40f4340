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
from tests.oracle.platform import (
    AUTH_KEY, INTERNAL_URL, fake_metadata_service, namespace_root_env, service_env,
    with_metaflow_platform,
)

CONN_ID = "eks_metaflow"  # METAFLOW_AIRFLOW_KUBERNETES_CONN_ID of the service cases

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


def _compare(oracle, example_project, stacks, home, extra_env=None) -> Comparison:
    """Metaflow's DAG and flowstacks' for every flow of ``stacks``, Metaflow configured with the
    oracle's deployment plus ``extra_env``, flowstacks reading that same Metaflow config."""
    from tests.oracle.harness import DEPLOY_ENV

    cases = []
    for stack in stacks:
        ctx = _as_oracle_deploys(example_project.stack_context(stack), oracle)
        ctx = with_metaflow_platform(ctx, {**DEPLOY_ENV, **(extra_env or {})}, home)
        cases += [(stack, ctx, ctx.flow(flow), file) for flow, file in FLOWS.items()]

    def metaflow_dag(case) -> str:
        stack, ctx, fd, file = case
        configs = {k: str(EXAMPLE / "flowspecs" / v)
                   for k, v in ctx.config.config_files(stack, fd.flow.name).items()
                   if k in {c.name for c in fd.flow.configs}}
        # Metaflow's deployer with the namespace's own datastore root (issue 16)
        return oracle.airflow_dag(EXAMPLE / "flowspecs" / file, configs=configs or None,
                                  extra_env={**(extra_env or {}),
                                             **namespace_root_env(ctx.branch_name, DEPLOY_ENV)},
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


@pytest.fixture(scope="module")
def comparison(oracle, example_project, tmp_path_factory) -> Comparison:
    return _compare(oracle, example_project, STACKS.values(), tmp_path_factory.mktemp("mfhome"))


@pytest.fixture(scope="module")
def service_comparison(oracle, example_project, tmp_path_factory) -> Comparison:
    """prod and user.alice with a metadata service, its auth key, a secrets backend, SSE-KMS and
    an Airflow Kubernetes connection in Metaflow's config."""
    with fake_metadata_service() as (url, _):
        extra = service_env(url, METAFLOW_AIRFLOW_KUBERNETES_CONN_ID=CONN_ID)
        return _compare(oracle, example_project, [STACKS["prod"], STACKS["user"]],
                        tmp_path_factory.mktemp("mfhome"), extra)


def test_metaflow_and_flowstacks_agree_with_a_metadata_service(service_comparison) -> None:
    differ = [p for p in service_comparison.points if p[1] == "differ"]
    print(f"\nAirflow vs Metaflow 2.19.39 with a metadata service: "
          f"{len(service_comparison.points)} points compared, "
          f"{service_comparison.count('equal')} equal, {len(differ)} unexplained")
    assert differ == []
    equal = {p[0].split(": ", 1)[1] for p in service_comparison.points if p[1] == "equal"}
    # the settings were compared (present on both sides), not agreed on by being absent
    for name in ("env METAFLOW_SERVICE_URL", "env METAFLOW_SERVICE_HEADERS",
                 "env METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE",
                 "env METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION", "kubernetes_conn_id",
                 "in_cluster", "command"):
        assert name in equal, name
    values = [p for p in service_comparison.points if p[0].endswith(": command")]
    assert len(values) == 2 * 15


def test_metaflow_task_env_with_a_metadata_service(oracle, tmp_path) -> None:
    """What Metaflow's airflow create writes with those settings: the values the comparison
    above found equal (the env says service whatever --metadata is; SSE is not passed)."""
    from tests.airflow.metaflow_dag import metaflow_config

    with fake_metadata_service() as (url, _):
        source = oracle.airflow_dag(EXAMPLE / "flowspecs" / "project_flow.py", production=True,
                                    user="platform-team", extra_env=service_env(
                                        url, METAFLOW_AIRFLOW_KUBERNETES_CONN_ID=CONN_ID))
    start = metaflow_config(source)["states"]["start"]["operator_args"]
    env = {e["name"]: e["value"] for e in start["env_vars"]}
    assert env["METAFLOW_SERVICE_URL"] == INTERNAL_URL
    assert env["METAFLOW_SERVICE_HEADERS"] == '{"x-api-key": "%s"}' % AUTH_KEY
    assert env["METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE"] == "aws-secrets-manager"
    assert "METAFLOW_S3_SERVER_SIDE_ENCRYPTION" not in env
    assert "--metadata=service" in start["cmds"][2]
    assert (start["kubernetes_conn_id"], start["in_cluster"]) == (CONN_ID, False)


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
