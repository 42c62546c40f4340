"""Deploying a change is safe (issue 20): the example project synthesized before and after a change
(a step body, a Config value, a flow removed), for every stack and every orchestrator, and each
resource classified as ``pulumi up`` would take it; the URNs the manifest records are the
engine's, so the printed ``pulumi state unprotect`` commands name real resources."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from flowstacks.cli import main
from flowstacks.review.changes import ChangePlan, classify
from flowstacks.synth.engine import ROOT_STACK_TYPE, engine_urn, synth_stack
from tests.conftest import ORCHESTRATORS, REPO, synthesized

STACKS = ("prod", "prod.staging", "test.feature_x")
PROTECTED = {"prod": True, "prod.staging": True, "test.feature_x": False}
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
# the resource that carries a flow's code and Config values, per orchestrator
FLOW_OBJECT = {"step-functions": "aws:sfn/stateMachine:StateMachine",
               "argo": "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate",
               "airflow": OBJECT}
FLOWS = ("FeaturesFlow", "ProjectFlow", "PublishFlow", "RefreshFlow", "ScoringFlow", "TrainFlow")

# Issue 20: a code package's S3 key holds the package hash and `key` forces replacement
# (terraform-provider-aws internal/service/s3/object.go). So the package resource is keyed by the
# hash too: a new code version is a new object (a create), the old one a retained delete
# (retainOnDelete, never protected: past runs and `resume` still download it).


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """Copies of the example project, each with one change."""
    out = {}
    for change in ("code", "config", "removed"):
        root = tmp_path_factory.mktemp(change)
        shutil.copytree(REPO / "flowspecs", root / "flowspecs")
        shutil.copytree(REPO / "stacks", root / "stacks")
        out[change] = root
    _edit(out["code"] / "flowspecs" / "features_flow.py", "self.rows = 1000", "self.rows = 1001")
    _edit(out["config"] / "flowspecs" / "settings" / "prod.json", '"threshold": 0.8',
          '"threshold": 0.85')
    _edit(out["config"] / "flowspecs" / "settings" / "default.json", '"threshold": 0.5',
          '"threshold": 0.55')
    (out["removed"] / "flowspecs" / "refresh_flow.py").unlink()
    return out


_PLANS: dict[tuple[str, str, str], ChangePlan] = {}


def plan_for(projects: dict[str, Path], change: str, orchestrator: str, stack: str) -> ChangePlan:
    """The deployment of ``change`` over the example project (synthesized once per session)."""
    key = (change, orchestrator, stack)
    if key not in _PLANS:
        head = synth_stack(projects[change], stack, orchestrator).manifest()
        _PLANS[key] = classify(synthesized(orchestrator, stack).manifest(), head)
    return _PLANS[key]


def _flow(name: str) -> str:
    hits = [f for f in FLOWS if name == f or name.startswith(f"{f}-") or f".{f}" in name]
    return hits[0] if len(hits) == 1 else ""


EVERY = [(o, s) for o in ORCHESTRATORS for s in STACKS]


@pytest.mark.parametrize("orchestrator,stack", EVERY)
def test_code_change_creates_new_packages_and_retains_the_old(projects, orchestrator, stack):
    """A step body edited in one flow changes every flow's package (Metaflow packages the whole
    flow folder): each new package is CREATED, each old one a retained delete that blocks
    nothing, in prod too; the flows' orchestrator objects are updated in place."""
    plan = plan_for(projects, "code", orchestrator, stack)
    created = [c for c in plan.changes if c.action == "create"]
    deleted = [c for c in plan.changes if c.action == "delete"]
    assert sorted(_flow(c.name) for c in created) == sorted(FLOWS)
    assert sorted(_flow(c.name) for c in deleted) == sorted(FLOWS)
    assert all(c.type == OBJECT for c in created + deleted)
    assert all(c.retained and not c.protect and not c.blocked for c in deleted)
    updates = [c for c in plan.changes if c.action not in ("create", "delete")]
    assert {c.action for c in updates} == {"update"}
    assert sorted(_flow(c.name) for c in updates if c.type == FLOW_OBJECT[orchestrator]) == \
        sorted(FLOWS)


@pytest.mark.parametrize("change", ("code", "config"))
@pytest.mark.parametrize("orchestrator,stack", EVERY)
def test_code_change_is_never_a_failing_replacement(projects, change, orchestrator, stack):
    """A code (or Config) change deploys in every stack, replacing nothing; a package no longer
    used leaves the stack but stays in S3 (retained), and nothing protects it."""
    plan = plan_for(projects, change, orchestrator, stack)
    assert not plan.blocked
    assert [c.name for c in plan.changes if c.action == "replace"] == []


def test_packages_are_retained_and_never_protected():
    for orchestrator in ORCHESTRATORS:
        manifest = synthesized(orchestrator, "prod").manifest()
        packages = [r for r in manifest["resources"] if r["type"] == OBJECT
                    and r["inputs"].get("contentType") == "application/gzip"]
        assert len(packages) == len(FLOWS)
        assert all(r.get("retainOnDelete") and not r["protect"] for r in packages)
        # the explicit providers hold nothing in the cloud: neither protected nor retained
        providers = [r for r in manifest["resources"] if r["type"].startswith("pulumi:providers:")]
        assert providers and not any(r["protect"] or r.get("retainOnDelete") for r in providers)
        others = [r for r in manifest["resources"] if r not in packages and r not in providers]
        assert all(r["protect"] and not r.get("retainOnDelete") for r in others)


@pytest.mark.parametrize("orchestrator,stack", EVERY)
def test_config_value_change_is_an_update(projects, orchestrator, stack):
    """ScoringFlow's Config file changes: its orchestrator object is updated in place and no
    other flow changes. (Its code package, which holds the Config values, is a new object.)"""
    plan = plan_for(projects, "config", orchestrator, stack)
    assert {_flow(c.name) for c in plan.changes} == {"ScoringFlow"}
    updated = [c for c in plan.changes if c.type == FLOW_OBJECT[orchestrator]
               and c.action == "update" and not c.name.endswith("-package")]
    assert len(updated) == 1 and not updated[0].replacing and not updated[0].blocked
    package = sorted((c for c in plan.changes if c not in updated), key=lambda c: c.action)
    assert [(c.type, c.action) for c in package] == [(OBJECT, "create"), (OBJECT, "delete")]
    # Metaflow keeps Config values in the code package: the update points the flow at the new one
    new_key = package[0].name.rsplit("-", 1)[1]
    assert new_key in json.dumps([new for _, _, new in updated[0].paths])


def test_config_change_is_noted_on_its_flow(projects):
    _, out, _ = _run(["diff", "test.feature_x", "--base-project-dir", str(REPO), "--orchestrator",
                      "argo", "--project-dir", str(projects["config"])])
    block = out.split("  ScoringFlow:\n", 1)[1]
    assert block.startswith("    ! Config values differ\n")
    assert "~ update kubernetes:argoproj.io/v1alpha1:WorkflowTemplate" in block


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _removal_commands(text: str) -> list[str]:
    """The commands printed under the deletion remedy."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "to remove them on purpose run:" in line)
    return [line.strip() for line in lines[start + 1:] if line.startswith("  pulumi ")]


@pytest.mark.parametrize("orchestrator,fmt", [("step-functions", "text"), ("argo", "markdown"),
                                              ("airflow", "text")])
def test_removing_a_flow_from_prod_prints_the_unprotect_commands(projects, orchestrator, fmt):
    code, out, err = _run(["diff", "prod", "--base-project-dir", str(REPO), "--orchestrator",
                           orchestrator, "--format", fmt, "--project-dir", str(projects["removed"])])
    assert code == 1
    assert "would fail" in err and "protected" in err
    commands = _removal_commands(out)
    assert commands[-1] == "pulumi up -s prod"
    deployed = {r["urn"]: r for r in synthesized(orchestrator, "prod").manifest()["resources"]}
    urns = []
    for command in commands[:-1]:
        argv = shlex.split(command)
        assert argv[:5] == ["pulumi", "state", "unprotect", "-s", "prod"] and len(argv) == 6
        assert f"'{argv[5]}'" in command  # quoted: URNs hold `$`
        urns.append(argv[5])
    # exactly the deployed, protected resources of RefreshFlow, by the manifest's own URNs (its
    # code package is retained, not protected: it leaves the stack and stays in S3)
    expected = [u for u, r in deployed.items() if _flow(r["name"]) == "RefreshFlow" and r["protect"]]
    assert any(r.get("retainOnDelete") for r in deployed.values() if _flow(r["name"]) == "RefreshFlow")
    assert sorted(urns) == sorted(expected) and expected
    assert all(deployed[u]["protect"] for u in urns)
    assert any(deployed[u]["type"] == FLOW_OBJECT[orchestrator] for u in urns)
    # the same Config values read from two checkouts are no change
    assert "Config values differ" not in out and "flow removed" in out
    if fmt == "markdown":
        assert out.startswith("### flowstacks: deploying `prod`")
        assert out.index("BLOCKED") < out.index("| flow | create | update | replace | delete |")


def test_removing_a_flow_from_a_test_stack_is_not_blocked(projects):
    plan = plan_for(projects, "removed", "argo", "test.feature_x")
    deleted = [c for c in plan.changes if c.action == "delete"]
    # the flow folder changed, so every flow has a new package; the old ones are retained deletes
    assert deleted and {_flow(c.name) for c in deleted if not c.retained} == {"RefreshFlow"}
    assert all(c.type == OBJECT for c in deleted if c.retained)
    assert not [c for c in deleted if c.blocked] and plan.unprotect_commands() == []


def test_same_stack_review_needs_the_deployed_version():
    code, out, err = _run(["diff", "prod", "--project-dir", str(REPO)])
    assert code == 1 and out == ""
    assert "--base-project-dir" in err


def test_no_change_exits_zero():
    code, out, _ = _run(["diff", "prod", "prod", "--base-project-dir", str(REPO), "--orchestrator",
                         "argo", "--project-dir", str(REPO)])
    assert code == 0 and out == f"prod: no change (deployed: {REPO})\n"


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_manifest_urns_are_the_engines(orchestrator):
    result = synthesized(orchestrator, "prod")
    stack_urn = "urn:pulumi:prod::flowstacks::pulumi:pulumi:Stack::flowstacks-prod"
    components = {r.urn: r for r in result.resources if not r.custom}
    records = result.manifest()["resources"]
    assert len({r["urn"] for r in records}) == len(records)
    for r in records:
        prefix, qualified, name = r["urn"].rsplit("::", 2)
        assert prefix == "urn:pulumi:prod::flowstacks" and name == r["name"]
        assert qualified.endswith("$" + r["type"]) or qualified == r["type"]
        assert ROOT_STACK_TYPE not in qualified
        if r["parent"] == stack_urn:  # only the stack's providers sit under the root
            assert r["type"].startswith("pulumi:providers:") and qualified == r["type"]
            continue
        # the type is qualified by the parent's whole chain, as the engine does
        parent = components[r["parent"]]
        assert qualified == f"{parent.urn.split('::')[2]}${r['type']}"
        while parent.parent != stack_urn:
            parent = components[parent.parent]
    # protection is on the custom resources only, so unprotecting them is enough to delete a flow
    assert not [c.urn for c in components.values() if c.protect]


def test_engine_urn_qualifies_by_the_whole_parent_chain():
    root = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
    outer = engine_urn("s", "p", root, "flowstacks:argo:TaskIdentity", "id")
    assert outer == "urn:pulumi:s::p::flowstacks:argo:TaskIdentity::id"
    inner = engine_urn("s", "p", outer, "flowstacks:k8s:IrsaServiceAccount", "sa")
    leaf = engine_urn("s", "p", inner, "kubernetes:core/v1:ServiceAccount", "sa")
    assert leaf == ("urn:pulumi:s::p::flowstacks:argo:TaskIdentity$flowstacks:k8s:"
                    "IrsaServiceAccount$kubernetes:core/v1:ServiceAccount::sa")
    assert engine_urn("s", "p", "", "aws:iam/role:Role", "r") == "urn:pulumi:s::p::aws:iam/role:Role::r"
    assert re.fullmatch(r"urn:pulumi:s::p::[^:]+:[^:]+:[^:]+::r",
                        engine_urn("s", "p", root, "aws:iam/role:Role", "r"))
