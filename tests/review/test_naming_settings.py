"""Every setting that changes names, on the example project: the synthesized stacks pass the
policy rules (`flowstacks check --all` exits 0), the manifest says the settings (stack output
`naming`), and the CrossGuard adapter given the same settings as policy config finds what
`flowstacks check` finds. The bug this pins: with aws.state_machine_prefix set, every state
machine was a mandatory names-in-namespace violation (the prefix never reached the rules)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

ALL = ("step-functions", "argo", "airflow")
# (case, config edit, stack-file token index, orchestrators the setting applies to)
CASES = [
    ("state-machine-prefix", ('    kubernetes=Kubernetes(',
                              '    aws=Aws(state_machine_prefix="Team"),\n    kubernetes=Kubernetes('), 0,
     ("step-functions",)),
    # long enough that names are hashed and the 60-character cut falls inside the branch
    ("long-state-machine-prefix",
     ('    kubernetes=Kubernetes(', '    aws=Aws(state_machine_prefix="team_platform_shared_prefix_v2"),\n'
      '    kubernetes=Kubernetes('), 0,
     ("step-functions",)),
    ("production-token-index", None, 2, ALL),
    ("service-account", ('kubernetes=Kubernetes(', 'kubernetes=Kubernetes(service_account="team-tasks", '),
     0, ("argo", "airflow")),
    ("dags-prefix", ('    kubernetes=Kubernetes(', '    airflow=Airflow(dags_prefix="team/dags/"),\n'
                     '    kubernetes=Kubernetes('), 0, ("airflow",)),
]
PARAMS = [(case, edit, index, o) for case, edit, index, orchestrators in CASES for o in orchestrators]


def project_with(tmp_path: Path, edit: tuple[str, str] | None, token_index: int) -> Path:
    from flowstacks.load.stackfiles import record_token_index

    root = tmp_path / "project"
    shutil.copytree(REPO / "flowspecs", root / "flowspecs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "stacks", root / "stacks")
    config = root / "flowspecs" / "flowstacks_config.py"
    text = config.read_text()
    if edit:
        assert text.count(edit[0]) == 1, edit
        text = text.replace(*edit).replace("from flowstacks.model.config import (",
                                           "from flowstacks.model.config import (Airflow, Aws, ")
        config.write_text(text)
    if token_index:
        for stack in ("prod", "prod.staging", "test.feature_x"):
            record_token_index(root, stack, token_index)
    return root


class PolicyArgs:
    """What CrossGuard passes a resource validation, with the policy config of the rule."""

    def __init__(self, resource: dict, stack: str, config: dict):
        self.resource_type, self.name, self.props = resource["type"], resource["name"], resource["inputs"]
        self.urn = f"urn:pulumi:{stack}::flowstacks::{self.resource_type}::{self.name}"
        self._config = config

    def get_config(self) -> dict:
        return self._config


class Policy:
    def __init__(self, name, description, enforcement_level, validate, config_schema=None):
        self.name, self.validate, self.config_schema = name, validate, config_schema


@pytest.mark.parametrize("case,edit,token_index,orchestrator", PARAMS,
                         ids=[f"{p[0]}-{p[3]}" for p in PARAMS])
def test_synth_and_check_pass_with_the_setting(case, edit, token_index, orchestrator, tmp_path):
    import pulumi_policy

    from flowstacks.cli import main
    from flowstacks.policy.check import check_manifest, load_manifest
    from flowstacks.policy.crossguard import resource_policies

    root = project_with(tmp_path, edit, token_index)
    out = tmp_path / "build"
    assert main(["synth", "--all", "--orchestrator", orchestrator, "--out", str(out), "--quiet",
                 "--project-dir", str(root)]) == 0
    assert main(["check", "--all", "--orchestrator", orchestrator, "--project-dir", str(root)]) == 0
    policies = resource_policies(Policy, pulumi_policy.EnforcementLevel, pulumi_policy.PolicyConfigSchema)
    for stack in ("prod", "prod.staging", "test.feature_x"):
        manifest = load_manifest(out / stack / "manifest.json")
        naming = manifest["outputs"].get("naming", {})
        names = [r["inputs"].get("name", "") for r in manifest["resources"]
                 if r["type"] == "aws:sfn/stateMachine:StateMachine"]
        if case.endswith("state-machine-prefix"):  # the setting took effect, and is exported
            assert naming == {"state_machine_prefix": edit[1].split('"')[1]}
            assert names and all(n.startswith(naming["state_machine_prefix"][:4]) for n in names)
        elif case == "production-token-index":
            assert naming == {"production_token_index": 2}
            assert manifest["outputs"]["production_token"].split("-")[2] == "2"
        else:
            assert naming == {}
        found = sorted((v.rule, v.resource_name, v.message) for v in check_manifest(manifest))
        assert not [v for v in found if v[0] in ("names-in-namespace", "targets-own-namespace",
                                                 "namespace-tags", "no-wildcard-iam")]
        # CrossGuard, given the manifest's naming settings as policy config, agrees
        reported = []
        for policy in policies:
            config = naming if policy.config_schema is not None else {}
            for resource in manifest["resources"]:
                policy.validate(PolicyArgs(resource, stack, config),
                                lambda msg, urn=None, p=policy.name, r=resource: reported.append(
                                    (p, r["name"], msg)))
        assert sorted(reported) == found


def test_crossguard_without_the_prefix_fails_closed_and_says_where_it_goes(tmp_path):
    """The same stack checked without its prefix: every state machine is outside the namespace,
    and the message names the setting (what the bug looked like, now with its fix)."""
    from flowstacks.policy.check import check_manifest
    from flowstacks.synth.engine import synth_stack

    root = project_with(tmp_path, CASES[0][1], 0)
    manifest = synth_stack(root, "test.feature_x", "step-functions").manifest()
    assert [v for v in check_manifest(manifest) if v.level == "mandatory"] == []
    del manifest["outputs"]["naming"]
    wrong = [v for v in check_manifest(manifest) if v.rule == "names-in-namespace"]
    machines = [r for r in manifest["resources"] if r["type"] == "aws:sfn/stateMachine:StateMachine"]
    assert {v.resource_name for v in wrong} >= {r["name"] for r in machines}
    assert all("state_machine_prefix" in v.message for v in wrong)
