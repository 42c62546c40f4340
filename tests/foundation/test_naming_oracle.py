"""Property test: flowstacks.naming equals Metaflow 2.19.39's own functions on generated inputs.

Metaflow is the oracle: its ``ProjectDecorator.flow_init`` (with ``get_username`` and
``format_name``), ``resolve_state_machine_name``, ``event_bridge_client.format``,
``resolve_workflow_name_v2``, ``ArgoWorkflows._sensor_name``, ``resolve_dag_name``,
``new_token``, ``_parse_fq_name``/``_parse_static_triggers``, ``_make_namespaced_event_name`` and
the vendored click that parses ``METAFLOW_FLOW_*`` are called with the same inputs. Their global
state (env, ``current``, config constants) is set per example and restored.
"""

from __future__ import annotations

import os
import types
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowstacks.errors import MetaflowRuleError
from flowstacks.naming import NamingSettings, deploy_names, deployers
from flowstacks.naming.events import parse_trigger_on_finish
from flowstacks.naming.events import namespaced_event_name
from flowstacks.naming.project import resolve_cli_options, resolve_namespace, resolve_username

mf_project = pytest.importorskip("metaflow.plugins.project_decorator")
from metaflow import current  # noqa: E402
from metaflow import metaflow_config  # noqa: E402
from metaflow._vendor import click as mf_click  # noqa: E402
from metaflow.exception import MetaflowException  # noqa: E402
from metaflow.plugins import namespaced_events  # noqa: E402
from metaflow.plugins.airflow import airflow_cli  # noqa: E402
from metaflow.plugins.argo import argo_workflows_cli  # noqa: E402
from metaflow.plugins.argo.argo_workflows import ArgoWorkflows  # noqa: E402
from metaflow.plugins.aws.step_functions import event_bridge_client, step_functions_cli  # noqa: E402
from metaflow.plugins.aws.step_functions.production_token import new_token  # noqa: E402
from metaflow.plugins.events_decorator import TriggerOnFinishDecorator  # noqa: E402

EXAMPLES = int(os.environ.get("FLOWSTACKS_ORACLE_EXAMPLES", "2500"))

NAME_CHARS = "abcxyz019_"
ODD_CHARS = NAME_CHARS + "ABZ.-/ @+é"
USER_CHARS = "abcjohndoe019._-@+ /JürgenÉ漢"

project_names = st.one_of(
    st.text(NAME_CHARS, min_size=1, max_size=40),
    st.text(NAME_CHARS, min_size=100, max_size=140),
    st.text(ODD_CHARS, min_size=0, max_size=20),
    st.sampled_from(["example_project", "_", "123", "a" * 128, "a" * 129, ""]),
)
branches = st.one_of(
    st.none(),
    st.just(""),
    st.text(NAME_CHARS, min_size=1, max_size=40),
    st.text(NAME_CHARS, min_size=100, max_size=140),
    st.text(ODD_CHARS, min_size=1, max_size=12),
    st.sampled_from(["prod", "better_version", "b" * 128, "b" * 129, "Foo", "a.b", "a-b"]),
)
users = st.one_of(
    st.text(USER_CHARS, min_size=1, max_size=140),
    st.sampled_from(["alice", "root", "", "john doe", "jane.doe@example.com", "a+b@x.io",
                     "dom/user", "-dash", "John.Doe"]),
)
flow_names = st.one_of(
    st.from_regex(r"[A-Z][A-Za-z0-9_]{0,20}Flow", fullmatch=True),
    st.from_regex(r"[A-Z][A-Za-z0-9_]{40,70}", fullmatch=True),
)
user_envs = st.fixed_dictionaries({}, optional={
    "METAFLOW_USER": users, "SUDO_USER": users, "USERNAME": users, "USER": users,
    "METAFLOW_OWNER": users,
})
decorator_attrs = st.fixed_dictionaries({}, optional={
    "branch": st.one_of(st.none(), st.sampled_from(["dec_branch", "feat", "", "Bad"])),
    "production": st.booleans(),
})
sfn_prefixes = st.one_of(st.none(), st.sampled_from(["myprefix", "example_project", "p" * 30]))


@contextmanager
def metaflow_state(env: dict[str, str], conf_user: str | None, prefix: str | None):
    """Set what Metaflow's functions read from the process, and restore it afterwards."""
    keys = ["METAFLOW_USER", "SUDO_USER", "USERNAME", "USER", "METAFLOW_OWNER"]
    saved_env = {k: os.environ.get(k) for k in keys}
    saved = (metaflow_config.USER, step_functions_cli.SFN_STATE_MACHINE_PREFIX)
    for k in keys:
        os.environ.pop(k, None)
    os.environ.update({k: v for k, v in env.items() if k != "METAFLOW_USER"})
    metaflow_config.USER = env.get("METAFLOW_USER", conf_user)
    step_functions_cli.SFN_STATE_MACHINE_PREFIX = prefix
    try:
        yield
    finally:
        metaflow_config.USER, step_functions_cli.SFN_STATE_MACHINE_PREFIX = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def metaflow_names(flow_name, project, attrs, branch, production, prefix):
    """What Metaflow computes, or ("error", message)."""
    deco = mf_project.ProjectDecorator(attributes={"name": project, **attrs}, statically_defined=True)
    flow = types.SimpleNamespace(name=flow_name)
    metadata = types.SimpleNamespace(add_sticky_tags=lambda **kw: None)
    try:
        deco.flow_init(flow, None, None, None, metadata, None, lambda *a, **k: None,
                       {"production": production, "branch": branch})
    except MetaflowException as exc:
        return ("error", exc.message)
    current._update_env({"flow_name": flow_name})
    obj = types.SimpleNamespace()
    sfn_name, token_prefix, _ = step_functions_cli.resolve_state_machine_name(obj, None)
    argo_name, argo_prefix, _, _, _ = argo_workflows_cli.resolve_workflow_name_v2(obj, None)
    try:
        dag = airflow_cli.resolve_dag_name(None)[0]
    except MetaflowException as exc:
        dag = ("error", exc.message)
    first = new_token(token_prefix)
    return {
        "branch": current.branch_name,
        "pfn": current.project_flow_name,
        "is_user_branch": current.is_user_branch,
        "is_production": current.is_production,
        "sfn": sfn_name,
        "rule": event_bridge_client.format(sfn_name),
        "token_prefix": token_prefix,
        "argo_prefix": argo_prefix,
        "token0": first,
        "token1": new_token(token_prefix, first),
        "argo": argo_name,
        "sensor": ArgoWorkflows._sensor_name(argo_name),
        "dag": dag,
        "namespaced": namespaced_events._make_namespaced_event_name(
            "data_ready", current.project_name, current.branch_name),
    }


def our_names(flow_name, project, attrs, branch, production, user, owner, prefix):
    try:
        ns = resolve_namespace(flow_name, project, attrs, branch, production, user, owner)
    except MetaflowRuleError as exc:
        return ("error", exc.message)
    n = deploy_names(ns, NamingSettings(state_machine_prefix=prefix))
    token0 = n.production_token
    return {
        "branch": ns.branch_name,
        "pfn": ns.project_flow_name,
        "is_user_branch": ns.is_user_branch,
        "is_production": ns.is_production,
        "sfn": n.step_functions.state_machine,
        "rule": n.step_functions.eventbridge_rule,
        "token_prefix": n.production_token_prefix,
        "argo_prefix": n.production_token_prefix,
        "token0": token0,
        "token1": deployers.next_production_token(n.production_token_prefix, token0),
        "argo": n.argo.workflow_template,
        "sensor": n.argo.sensor,
        "dag": n.airflow.dag_id or ("error", n.airflow.error),
        "namespaced": namespaced_event_name("data_ready", ns.project_name, ns.branch_name),
    }


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(flow=flow_names, project=project_names, attrs=decorator_attrs, branch=branches,
       production=st.booleans(), env=user_envs,
       conf_user=st.one_of(st.none(), st.just("cfguser"), st.just("")), prefix=sfn_prefixes)
def test_names_equal_metaflow(flow, project, attrs, branch, production, env, conf_user, prefix):
    with metaflow_state(env, conf_user, prefix):
        from metaflow.util import get_username

        expected_user = get_username()
        expected = metaflow_names(flow, project, attrs, branch, production, prefix)
    user = resolve_username({k: v for k, v in env.items()},
                            global_config={"METAFLOW_USER": conf_user} if conf_user is not None else None)
    assert user == expected_user
    got = our_names(flow, project, attrs, branch, production, user, env.get("METAFLOW_OWNER"), prefix)
    assert got == expected


def mf_cli_options(env: dict[str, str], argv: list[str]):
    """Parse --branch/--production the way Metaflow's CLI does (vendored click + envvars)."""
    @mf_click.command()
    @mf_click.option("--branch", default=None, envvar="METAFLOW_FLOW_BRANCH")
    @mf_click.option("--production", is_flag=True, default=False, envvar="METAFLOW_FLOW_PRODUCTION")
    def cmd(branch, production):
        return branch, production

    saved = {k: os.environ.pop(k, None) for k in ("METAFLOW_FLOW_BRANCH", "METAFLOW_FLOW_PRODUCTION")}
    os.environ.update(env)
    try:
        return cmd.main(argv, standalone_mode=False)
    except mf_click.BadParameter as exc:
        return ("error", exc.message)
    finally:
        for k in ("METAFLOW_FLOW_BRANCH", "METAFLOW_FLOW_PRODUCTION"):
            os.environ.pop(k, None)
            if saved[k] is not None:
                os.environ[k] = saved[k]


env_words = st.sampled_from(["true", "1", "yes", "True", "t", "y", "false", "0", "no", "f", "n",
                             "", "on", "off", "maybe", " true", "FALSE"])


@settings(max_examples=300, deadline=None)
@given(env=st.fixed_dictionaries({}, optional={
    "METAFLOW_FLOW_BRANCH": st.sampled_from(["", "envbranch", " ", "feat"]),
    "METAFLOW_FLOW_PRODUCTION": env_words}),
    cli_branch=st.one_of(st.none(), st.sampled_from(["", "clibranch"])), cli_prod=st.booleans())
def test_cli_options_equal_metaflow(env, cli_branch, cli_prod):
    argv = (["--branch", cli_branch] if cli_branch is not None else []) + (
        ["--production"] if cli_prod else [])
    expected = mf_cli_options(env, argv)
    try:
        got = resolve_cli_options(cli_branch, cli_prod, env)
    except MetaflowRuleError as exc:
        got = ("error", exc.message.split(": ", 1)[1])
    assert got == expected


fq_names = st.one_of(
    st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
    st.from_regex(r"[a-z_]{1,8}\.[a-z_.]{1,14}\.[A-Za-z0-9_-]{1,10}", fullmatch=True),
    st.from_regex(r"[a-z]{1,5}\.[A-Za-z]{1,5}", fullmatch=True),
    st.text("ab.-_F1 ", max_size=10),
)
dict_specs = st.fixed_dictionaries({"name": st.one_of(fq_names, st.integers())}, optional={
    "project": st.one_of(st.sampled_from(["other", "x"]), st.integers()),
    "project_branch": st.one_of(st.sampled_from(["prod", "test.a.b", "prod.staging"]), st.none())})


def mf_trigger(spec):
    try:
        [trigger] = TriggerOnFinishDecorator._parse_static_triggers([spec])
        TriggerOnFinishDecorator._parse_fq_name(None, trigger)
    except MetaflowException as exc:
        return ("error", exc.message)
    return (trigger["flow"], trigger.get("project"), trigger.get("branch"))


@settings(max_examples=600, deadline=None)
@given(spec=st.one_of(fq_names, dict_specs))
def test_trigger_on_finish_parsing_equals_metaflow(spec):
    expected = mf_trigger(spec)
    try:
        up = parse_trigger_on_finish(spec)
        got = (up.flow, up.project, up.branch)
    except MetaflowRuleError as exc:
        got = ("error", exc.message)
    assert got == expected
