"""The synthesized Step Functions stacks pass the project's policy pack (``flowstacks check``)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("kind", ["prod", "test", "user"])
def test_policy_pack_reports_no_mandatory_violation(kind, manifests):
    from flowstacks.policy.check import check_manifest

    manifest = manifests[kind]
    types = {r["type"] for r in manifest["resources"]}
    assert {"aws:sfn/stateMachine:StateMachine", "aws:batch/jobDefinition:JobDefinition",
            "aws:cloudwatch/eventRule:EventRule", "aws:cloudwatch/eventTarget:EventTarget",
            "aws:s3/bucketObjectv2:BucketObjectv2", "aws:iam/role:Role"} <= types
    violations = [v for v in check_manifest(manifest) if v.level == "mandatory"]
    assert not violations, [v.render() for v in violations]
    # the advisory rules do read these plans (the example has steps without @retry)
    assert any(v.rule == "steps-without-retry" for v in check_manifest(manifest))


def test_prod_resources_are_protected_and_tagged(manifests, contexts):
    for kind in ("prod", "test"):
        for r in manifests[kind]["resources"]:
            if r["type"].startswith("pulumi:providers:"):
                continue  # providers hold nothing in the cloud: never protected
            # code packages are retained (kept in S3 when they leave the stack), never protected
            expected = kind == "prod" and not r.get("retainOnDelete")
            assert r["protect"] is expected, (kind, r["type"], r["name"])
            if "tags" in r["inputs"]:
                assert r["inputs"]["tags"] == contexts[kind].tags, (r["type"], r["name"])
    tagged = [r for r in manifests["prod"]["resources"] if r["type"] in (
        "aws:sfn/stateMachine:StateMachine", "aws:batch/jobDefinition:JobDefinition",
        "aws:cloudwatch/eventRule:EventRule", "aws:iam/role:Role",
        "aws:s3/bucketObjectv2:BucketObjectv2")]
    assert tagged and all("tags" in r["inputs"] for r in tagged)


def test_state_machine_gets_resolved_definition(manifests, definitions):
    import json

    for r in manifests["prod"]["resources"]:
        if r["type"] != "aws:sfn/stateMachine:StateMachine":
            continue
        deployed = r["inputs"]["definition"]
        assert "${flowstacks:" not in deployed
        assert ":job-definition/metaflow_" in deployed
        artifact = definitions[("prod", r["inputs"]["name"])]
        assert json.loads(deployed)["States"].keys() == artifact["States"].keys()
        assert r["inputs"]["roleArn"].endswith("-sfn-exec")
