"""A developer stack whose name cannot spell its Metaflow user (issue 20): the stack records the user as
``flowstacks:metaflowUser`` and deploys Metaflow's namespace ``user.<that user>``, with the names and
token Metaflow itself computes for that user. synth, check, diff and the served CrossGuard pack agree.

Metaflow is the oracle (as in tests/foundation/test_naming_oracle.py): its ProjectDecorator,
``resolve_workflow_name_v2``, ``new_token`` run with ``USER`` set to the same user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import analyzer_pb2_grpc

from flowstacks.errors import FlowstacksError
from flowstacks.load.stackfiles import USER_KEY, edit_stack_file
from flowstacks.naming.pulumi_stacks import developer_stack, is_pulumi_stack_name
from flowstacks.policy.check import check_manifest
from flowstacks.synth.engine import synth_stack
from tests.conftest import REPO

oracle = pytest.importorskip("tests.foundation.test_naming_oracle")
served_module = pytest.importorskip("tests.review.test_policy_pack_served")

USER = "alice@corp.com"
BRANCH = f"user.{USER}"
NAMED = "user.alice-corp-com"  # a name a developer chose
DERIVED = developer_stack(USER)  # what `flowstacks stack init` gives this user


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The example project with both developer stacks recording the user."""
    root = tmp_path_factory.mktemp("project")
    for name in ("flowspecs", "stacks"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "Pulumi.yaml", root)
    for stack in (NAMED, DERIVED):
        edit_stack_file(root, stack, {USER_KEY: USER})
    return root


@pytest.fixture(scope="module")
def plans(project) -> dict[str, dict]:
    return {stack: synth_stack(project, stack, "argo").manifest() for stack in (NAMED, DERIVED)}


def metaflow_expected(flow: str) -> dict:
    with oracle.metaflow_state({"USER": USER}, None, None):
        return oracle.metaflow_names(flow, "example_project", {}, None, False, None)


def test_the_stack_names_are_ones_pulumi_takes_and_the_users_branch_is_not():
    assert not is_pulumi_stack_name(BRANCH)
    assert is_pulumi_stack_name(NAMED) and is_pulumi_stack_name(DERIVED)


@pytest.mark.parametrize("stack", [NAMED, DERIVED])
def test_names_and_token_are_metaflows_for_the_recorded_user(plans, stack):
    manifest = plans[stack]
    outputs = manifest["outputs"]
    expected = metaflow_expected("TrainFlow")
    assert expected["branch"] == BRANCH
    assert outputs["production_token"] == expected["token0"]
    assert outputs["namespace"] == f"production:{expected['token0']}"
    assert outputs["naming"] == {"metaflow_user": USER}
    templates = {r["inputs"]["metadata"]["name"] for r in manifest["resources"]
                 if r["type"] == "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"}
    for flow in outputs["flows"]:
        assert metaflow_expected(flow)["argo"] in templates
    branches = {r["inputs"]["tags"]["metaflow/branch"] for r in manifest["resources"]
                if "metaflow/branch" in (r["inputs"].get("tags") or {})}
    assert branches == {BRANCH}
    stacks = {r["inputs"]["tags"]["flowstacks/stack"] for r in manifest["resources"]
              if "flowstacks/stack" in (r["inputs"].get("tags") or {})}
    assert stacks == {stack}  # the Pulumi stack, which differs from the branch
    assert f"project_branch:{BRANCH}" in outputs["flows"]["TrainFlow"]["metaflow"]


@pytest.mark.parametrize("stack", [NAMED, DERIVED])
def test_check_passes_with_the_recorded_user_and_fails_closed_without(plans, stack):
    manifest = plans[stack]
    assert not [v for v in check_manifest(manifest) if v.level == "mandatory"]
    bare = {**manifest, "outputs": {k: v for k, v in manifest["outputs"].items() if k != "naming"}}
    found = [v for v in check_manifest(bare) if v.level == "mandatory"]
    assert found and {v.rule for v in found} >= {"namespace-tags"}
    assert all("flowstacks:metaflowUser" in v.message for v in found if v.rule == "namespace-tags")


def test_the_served_pack_reads_the_user_from_the_stack_config(plans):
    """The CLI starts the pack with the stack's config in PULUMI_CONFIG; without a policy config
    the pack takes the Metaflow user from there and reports what check reports."""
    manifest = plans[NAMED]
    bare = {**manifest, "outputs": {k: v for k, v in manifest["outputs"].items() if k != "naming"}}
    # what the CLI sets for a pack (analyzer_plugin.go constructEnv)
    env = {**os.environ, "PULUMI_CONFIG": json.dumps({"flowstacks:metaflowUser": USER}),
           "PULUMI_PROJECT": "flowstacks", "PULUMI_STACK": NAMED, "PULUMI_DRY_RUN": "true"}
    pack = served_module.PACK
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(pack)],
                            cwd=pack, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        found = served_module.served(stub, bare, lambda r: r["inputs"])
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert found == served_module.offline(manifest)
    assert not [f for f in found if f[1] == "mandatory"]


def test_crossguard_reads_the_stack_config_of_its_own_stack_only():
    """In-process, the runtime may hold another stack's config (a program ran before): the pack's
    adapter takes the user from it only when the runtime's stack is the resource's."""
    import pulumi.runtime
    from pulumi.runtime import settings

    from flowstacks.policy.crossguard import stack_info

    class Args:
        def __init__(self, stack):
            self.urn = f"urn:pulumi:{stack}::flowstacks::aws:iam/role:Role::r"

        def get_config(self):
            return {}

    saved = (settings.SETTINGS.stack, pulumi.runtime.config.CONFIG.get())
    try:
        pulumi.runtime.set_all_config({"flowstacks:metaflowUser": USER})
        settings.SETTINGS.stack = NAMED
        assert stack_info(Args(NAMED)).branch_name == BRANCH
        assert stack_info(Args("user.alice")).branch_name == "user.alice"
    finally:
        settings.SETTINGS.stack = saved[0]
        pulumi.runtime.config.CONFIG.set(saved[1])


def test_diff_normalises_the_users_branch(project):
    from flowstacks.review.diff import diff_stacks, render_text

    text = render_text(diff_stacks(project, "test.feature_x", NAMED, "argo"))
    assert BRANCH not in text and "alicecorp" not in text  # normalised like any branch


def test_the_user_is_refused_on_other_stacks(project):
    from flowstacks.load.project import ProjectDir

    with pytest.raises(FlowstacksError, match="not a developer stack") as err:
        ProjectDir(project).stack_context("test.feature_x", 0, USER)
    assert "flowstacks:metaflowUser" in err.value.where
