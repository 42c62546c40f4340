"""Metaflow 2.19.39 as the oracle: its own ``step-functions create --only-json`` for every example
flow, in prod, test.feature_x and user.alice, run against a local moto server (SPEC §8) and
compared point by point with flowstacks' renderer (see ``oracle_compare.py``, ``DIFFERENCES.md``).

The renderer gets the oracle's deployment settings (bucket, queue, roles, Fargate, owner ``alice``,
the S3 endpoint) and the code package Metaflow uploaded, so every other value must agree.
"""

from __future__ import annotations

import json

import pytest

from tests.oracle.harness import DEPLOY_ENV, OracleError, oracle_available, shared_oracle
from tests.oracle.platform import (
    AUTH_KEY, INTERNAL_URL, fake_metadata_service, namespace_root_env, namespace_table_env,
    service_env, with_metaflow_platform,
)

from .conftest import REPO
from .helpers import command, env, oracle_context, render_resolved, tasks
from .oracle_compare import Comparison, compare

_ok, _why = oracle_available()
pytestmark = [pytest.mark.oracle, pytest.mark.slow, pytest.mark.skipif(not _ok, reason=_why)]

FLOWSPECS = REPO / "flowspecs"
# kind -> how Metaflow is called for the same namespace
CALLS = {"prod": dict(production=True), "test": dict(branch="feature_x"), "user": dict()}
TRIGGER_ERROR = ("Deploying flows with @trigger or @trigger_on_finish decorator(s) to AWS Step "
                 "Functions is not supported currently.")
RESULTS: dict[tuple[str, str, str], Comparison] = {}
# Metaflow's settings per case: the oracle's fake deployment as is (local metadata), or with a
# metadata service, its auth key, a secrets backend and SSE-KMS (tests/oracle/platform.py)
PLATFORMS = ("local", "service")


@pytest.fixture(scope="module")
def oracle():
    return shared_oracle()


@pytest.fixture(scope="module")
def metadata_service():
    with fake_metadata_service() as (url, requests):
        yield url, requests


def _configs(ctx, dep) -> dict[str, str]:
    """The Config files the stack gives this flow, as ``--config NAME FILE`` (relative to flowspecs)."""
    files = ctx.config.config_files(ctx.stack, dep.flow.name)
    return {k: v for k, v in files.items() if k in {c.name for c in dep.flow.configs}}


def _cases():
    from flowstacks.load.project import ProjectDir

    project = ProjectDir(REPO, "step-functions")
    names = [f.name for f in project.default_flows]
    local = [(k, n, "local") for k in ("prod", "test", "user") for n in names]
    return local + [(k, n, "service") for k in ("prod", "user") for n in names]


@pytest.mark.parametrize("kind,flow,platform", _cases())
def test_definition_matches_metaflow(oracle, metadata_service, contexts, tmp_path, kind, flow,
                                     platform):
    extra = service_env(metadata_service[0]) if platform == "service" else {}
    # flowstacks reads the same Metaflow config the deployer subprocess gets
    ctx = with_metaflow_platform(oracle_context(contexts[kind], oracle.endpoint),
                                 {**DEPLOY_ENV, **extra}, tmp_path)
    dep = ctx.flow(flow)
    flow_file = REPO / dep.flow.file
    # Metaflow's deployer with the namespace's own datastore root (issue 16), as flowstacks uses it
    call = dict(CALLS[kind], configs=_configs(contexts[kind], dep) or None,
                extra_env={**extra, **namespace_root_env(ctx.branch_name, DEPLOY_ENV),
                           **namespace_table_env(ctx.project_name, ctx.branch_name)})
    if dep.flow.trigger_on_finish or dep.flow.triggers:
        # Metaflow refuses; flowstacks deploys it (EventBridge rules): a kept difference.
        with pytest.raises(OracleError) as exc:
            oracle.sfn_json(flow_file, **call)
        assert TRIGGER_ERROR in exc.value.stderr
        pytest.skip("Metaflow refuses @trigger_on_finish on Step Functions (kept difference)")
    theirs = oracle.sfn_json(flow_file, **call)
    start = dict(env(dict(tasks(theirs))[theirs["StartAt"]]))
    ours = render_resolved(ctx, flow, start["METAFLOW_CODE_SHA"], start["METAFLOW_CODE_URL"])
    # the namespace itself agrees: state machine name Metaflow printed is in the env
    assert start["SFN_STATE_MACHINE"] == dep.state_machine_name
    # ... and so does the stack's own foreach-state table, wherever Metaflow puts its table
    table = ctx.dynamodb_table
    assert table == f"{ctx.project_name}.{ctx.branch_name}.sfn-state"
    if "METAFLOW_SFN_DYNAMO_DB_TABLE" in json.dumps(theirs):
        assert table in json.dumps(ours) and table in json.dumps(theirs)
    result = compare(ours, theirs)
    RESULTS[(kind, flow, platform)] = result
    assert not result.unexplained, json.dumps(result.unexplained[:5], indent=1)[:3000]
    assert result.equal >= 0.95 * result.points
    # the settings reached Metaflow's tasks (so agreeing on them is not agreeing on nothing)
    service = {"METAFLOW_SERVICE_URL": INTERNAL_URL, "METAFLOW_DEFAULT_METADATA": "service",
               "METAFLOW_SERVICE_HEADERS": json.dumps({"x-api-key": AUTH_KEY}),
               "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE": "aws-secrets-manager",
               "METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION": "eu-west-1",
               "METAFLOW_S3_SERVER_SIDE_ENCRYPTION": "aws:kms"}
    for _, state in tasks(theirs):
        their_env = dict(env(state))
        if platform == "service":
            # step-functions create checked the service's version, with the auth key
            assert any(h.get("x-api-key") == AUTH_KEY for _, h in metadata_service[1])
            assert {k: their_env.get(k) for k in service} == service
            assert command(state).count("--metadata=service") >= 1
        else:
            assert "METAFLOW_SERVICE_URL" not in their_env
            assert "--metadata=service" not in command(state)


def test_report_measured_figures(capsys):
    """Prints the measured comparison (points compared / equal / kept by reason)."""
    if not RESULTS:
        pytest.skip("no oracle comparison ran")
    total = Comparison()
    for r in RESULTS.values():
        total.add(r)
    service = sum(1 for k in RESULTS if k[2] == "service")
    line = (f"oracle: {len(RESULTS)} definitions ({service} with a metadata service, secrets "
            f"backend and SSE-KMS), {total.points} points compared, "
            f"{total.equal} equal, kept: {dict(total.kept)}")
    with capsys.disabled():
        print("\n" + line)
    assert total.points > 1000 and not total.unexplained
