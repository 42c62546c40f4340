"""Fuzzing names (issue 9): every name flowstacks emits fits its target or is refused with a clear
error, never a crash; and two flows that would get the same orchestrator object are reported
(Metaflow itself would deploy one over the other)."""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.deployment import FlowDeployment
from flowstacks.model.flow import Flow, Project, Step
from flowstacks.naming import deploy_names
from flowstacks.naming.project import resolve_namespace
from flowstacks.load.project import check_names

EXAMPLES = int(os.environ.get("FLOWSTACKS_FUZZ_EXAMPLES", "2000"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# The targets' rules, written from each platform's documentation (not from infra/naming):
SFN_OK = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$")
RULE_OK = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")
K8S_OK = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DAG_OK = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")

projects = st.text("abcz019_", min_size=1, max_size=130)
branches = st.one_of(st.none(), st.text("abcz019_", min_size=1, max_size=130))
users = st.text("abcjohnDOE019._-@+ /ü漢", min_size=1, max_size=140)
flows = st.from_regex(r"[A-Z][A-Za-z0-9_]{0,79}", fullmatch=True)


def deployment(flow: str, project: str, branch: str | None, production: bool, user: str) -> FlowDeployment:
    ns = resolve_namespace(flow, project, {}, branch, production, user)
    model = Flow(name=flow, file=f"{flow.lower()}.py", project=Project(name=project),
                 steps=(Step(name="start", type="start", next=("end",), in_funcs=()),
                        Step(name="end", type="end", next=(), in_funcs=("start",))))
    return FlowDeployment(flow=model, project_name=ns.project_name, branch_name=ns.branch_name,
                          is_production=ns.is_production, is_user_branch=ns.is_user_branch,
                          cli_branch=ns.cli_branch, cli_production=ns.cli_production,
                          names=deploy_names(ns))


@SETTINGS
@given(flow=flows, project=projects, branch=branches, production=st.booleans(), user=users)
def test_every_name_fits_its_target_or_is_refused(flow, project, branch, production, user):
    try:
        fd = deployment(flow, project, branch, production, user)
    except MetaflowRuleError:
        return  # Metaflow's own refusal, with its message (checked against Metaflow elsewhere)
    n = fd.names
    for orchestrator, fits in (
        ("step-functions", SFN_OK.match(n.step_functions.state_machine)
         and RULE_OK.match(n.step_functions.eventbridge_rule)),
        ("argo", K8S_OK.match(n.argo.workflow_template) and K8S_OK.match(n.argo.sensor)),
        ("airflow", n.airflow.dag_id is not None and DAG_OK.match(n.airflow.dag_id)),
    ):
        try:
            check_names([fd], orchestrator, fd.branch_name)
            accepted = True
        except FlowstacksError as exc:
            accepted = False
            assert exc.message and exc.where == f"{fd.flow.file} ({flow})"
        assert accepted == bool(fits), (orchestrator, n)


@SETTINGS
@given(a=flows, b=flows, project=projects, branch=branches, production=st.booleans(), user=users)
def test_colliding_flows_are_reported(a, b, project, branch, production, user):
    try:
        fa = deployment(a, project, branch, production, user)
        fb = deployment(b, project, branch, production, user)
    except MetaflowRuleError:
        return
    for orchestrator, key in (("step-functions", lambda n: n.step_functions.state_machine),
                              ("argo", lambda n: n.argo.workflow_template),
                              ("airflow", lambda n: n.airflow.dag_id)):
        try:
            check_names([fa], orchestrator, fa.branch_name)
            check_names([fb], orchestrator, fb.branch_name)
        except FlowstacksError:
            continue  # refused on its own already
        same = a != b and key(fa.names) == key(fb.names)
        try:
            check_names([fa, fb], orchestrator, fa.branch_name)
            reported = False
        except FlowstacksError as exc:
            reported = True
            assert "one would overwrite the other" in exc.message
        assert reported == (same or a == b)


def test_known_collision_is_reported():
    """Argo drops '_' (docs/metaflow-contract.md#names): Ab_Flow and AbFlow get the same template."""
    fa, fb = (deployment(f, "proj", "feat", False, "alice") for f in ("Ab_Flow", "AbFlow"))
    assert fa.argo_template_name == fb.argo_template_name
    try:
        check_names([fa, fb], "argo", "test.feat")
    except FlowstacksError as exc:
        assert "Ab_Flow" in exc.message and "AbFlow" in exc.where
    else:
        raise AssertionError("collision not reported")
    check_names([fa, fb], "step-functions", "test.feat")  # distinct there
