"""One explicit AWS provider per stack (the config's region, allowedAccountIds = the config's
account) and, for stacks with Kubernetes objects, one Kubernetes provider (the configured context
and namespace); every resource is created with them, none with Pulumi's default providers
(issue 20). The policy rules and the review ignore the providers as cloud objects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flowstacks.policy.check import check_manifest
from flowstacks.policy.rules import RULES, Resource, StackInfo, evaluate
from flowstacks.synth.engine import synth_stack
from tests.conftest import EXAMPLE_STACKS, ORCHESTRATORS, REPO, synthesized

AWS_PROVIDER = "pulumi:providers:aws"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def _providers(result) -> dict[str, object]:
    return {r.type: r for r in result.resources if r.type.startswith("pulumi:providers:")}


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_every_resource_uses_the_stacks_explicit_providers(orchestrator, stack):
    result = synthesized(orchestrator, stack)
    providers = _providers(result)
    expected = {AWS_PROVIDER} | ({K8S_PROVIDER} if orchestrator != "step-functions" else set())
    assert set(providers) == expected
    aws = providers[AWS_PROVIDER]
    assert aws.urn == f"urn:pulumi:{stack}::flowstacks::{AWS_PROVIDER}::aws"
    assert aws.inputs["region"] == "us-east-1"
    # the SDK sends a provider's list inputs JSON-encoded (the bridge decodes them)
    assert json.loads(aws.inputs["allowedAccountIds"]) == ["123456789012"]
    assert not aws.protect  # a provider holds nothing in the cloud
    for r in result.resources:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        package = r.type.split(":", 1)[0]
        want = providers[AWS_PROVIDER if package == "aws" else K8S_PROVIDER].urn
        assert r.provider == want, f"{r.type} {r.name} uses {r.provider or 'the default provider'}"
    if orchestrator != "step-functions":
        namespace = "airflow" if orchestrator == "airflow" else "metaflow"
        # the class's own namespace (issue 16): prod's as configured, test's/user's beside it
        kind = stack.split(".")[0]
        namespace += "" if kind == "prod" else f"-{kind}"
        assert providers[K8S_PROVIDER].inputs == {"namespace": namespace}  # no context: current


def _project_with(tmp_path: Path, config_text: str) -> Path:
    for name in ("flowspecs", "stacks"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "flowspecs" / "flowstacks_config.py"
    text = path.read_text(encoding="utf-8")
    assert 'region="us-east-1",\n        account_id="123456789012",' in text
    path.write_text(config_text(text), encoding="utf-8")
    return tmp_path


def test_providers_follow_the_configured_region_account_and_context(tmp_path):
    project = _project_with(tmp_path, lambda text: text.replace(
        'region="us-east-1",\n        account_id="123456789012",',
        'region="eu-west-1",\n        account_id="210987654321",\n'
        '        kubernetes_context="prod-cluster",'))
    result = synth_stack(project, "prod.staging", "argo")
    providers = _providers(result)
    assert providers[AWS_PROVIDER].inputs["region"] == "eu-west-1"
    assert json.loads(providers[AWS_PROVIDER].inputs["allowedAccountIds"]) == ["210987654321"]
    assert providers[K8S_PROVIDER].inputs == {"context": "prod-cluster", "namespace": "metaflow"}
    # and the roles the IAM documents name are in that account, as the provider allows
    policies = [r.inputs_json for r in result.resources if r.type.startswith("aws:iam/")]
    assert any("arn:aws:iam::210987654321:role/" in text for text in policies)
    assert not any("arn:aws:iam::123456789012:role/" in text for text in policies)


def test_rules_ignore_provider_resources():
    provider = Resource(AWS_PROVIDER, "aws", {"region": "us-east-1", "tags": {},
                                              "kind": "Sensor", "name": "elsewhere.x.Y"})
    assert evaluate([provider], StackInfo("prod")) == []
    # the same inputs on a cloud type are checked (the skip is by type, not by content)
    assert evaluate([Resource("aws:sfn/stateMachine:StateMachine", "sm", provider.inputs)],
                    StackInfo("prod"))


def test_crossguard_skips_providers_like_check():
    from flowstacks.policy.crossguard import validator

    class Args:
        resource_type, name = AWS_PROVIDER, "aws"
        urn = f"urn:pulumi:prod::flowstacks::{AWS_PROVIDER}::aws"
        props = {"region": "us-east-1", "kind": "Sensor"}

        def get_config(self):
            return {}

    reported = []
    for rule in RULES:
        validator(rule)(Args(), lambda msg, urn=None: reported.append(msg))
    assert reported == []


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_check_finds_the_same_with_and_without_the_provider_entries(orchestrator):
    manifest = synthesized(orchestrator, "test.feature_x").manifest()
    without = {**manifest, "resources": [r for r in manifest["resources"]
                                         if not r["type"].startswith("pulumi:providers:")]}
    assert len(without["resources"]) < len(manifest["resources"])
    assert check_manifest(manifest) == check_manifest(without)
