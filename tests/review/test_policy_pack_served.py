"""The policy pack served the way the Pulumi CLI starts it, driven through its analyzer gRPC
interface with the example plans; it must report what offline ``flowstacks check`` reports for
the same inputs, with unknowns (a first preview) and with secrets (issue 20).

How the CLI runs a Python pack (pulumi's analyzer plugin): ``python -u -m pulumi.policy
<engine address> <pack folder>`` with the pack folder as working directory. ``pulumi.policy``
parses the engine address and never dials it (only a failing pack would log through the
engine), so no fake engine is needed; the pack's ``PolicyPack`` prints the port it serves on as
the first line of stdout (pulumi_policy/policy.py), which is what the CLI reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2

import flowstacks.synth.engine as engine
from flowstacks.deploy.program import main
from flowstacks.policy.check import check_manifest, stack_info
from flowstacks.policy.rules import RULES, UNKNOWN, Resource, evaluate
from flowstacks.synth.engine import StackResult, run_program
from tests.conftest import REPO, synthesized

PACK = REPO / "infra" / "policypack"
STACK = "test.feature_x"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # what the engine sends for an unknown
assert UNKNOWN_STRING == rpc.UNKNOWN
SECRET_SIG = {rpc._special_sig_key: rpc._special_secret_sig}
ARN_INPUTS = ("role", "roleArn", "arn", "executionRoleArn")  # outputs of resources not created yet
LEVEL_NAMES = {analyzer_pb2.MANDATORY: "mandatory", analyzer_pb2.ADVISORY: "advisory"}


@pytest.fixture(scope="module")
def pack():
    """The pack as the CLI starts it; yields an Analyzer stub on the port it announced."""
    python = Path(sys.executable)
    proc = subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK)], cwd=PACK,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), f"pack did not announce a port: {port!r} {proc.stderr.read()}"
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def served(stub, manifest: dict, inputs_of) -> list[tuple]:
    """Every resource of ``manifest`` through ``Analyze``; ``inputs_of(resource)`` gives the
    properties (JSON with Pulumi's unknown and secret encodings). Findings as offline check
    gives them: (rule, level, type, name, message)."""
    naming = (manifest.get("outputs") or {}).get("naming") or {}
    config = {rule.name: analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY
                                                   if rule.level == "mandatory"
                                                   else analyzer_pb2.ADVISORY)
              for rule in RULES}
    for rule in RULES:
        if rule.reads_names and naming:
            config[rule.name].properties.update(naming)
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config))
    found = []
    for res in manifest["resources"]:
        props = struct_pb2.Struct()
        json_format.ParseDict(inputs_of(res), props)
        response = stub.Analyze(analyzer_pb2.AnalyzeRequest(
            type=res["type"], properties=props, urn=res["urn"], name=res["name"]))
        for d in response.diagnostics:
            assert "during preview" not in d.message, d.message  # no rule skipped wholesale
            found.append((d.policyName, LEVEL_NAMES[d.enforcementLevel], res["type"], res["name"],
                          d.message.split("\n", 1)[1]))
    return sorted(found)


def offline(manifest: dict) -> list[tuple]:
    return sorted((v.rule, v.level, v.resource_type, v.resource_name, v.message)
                  for v in check_manifest(manifest))


def _replace(value, path_pred, new, path=()):
    """``value`` with every dict value whose key satisfies ``path_pred`` replaced by ``new``."""
    if isinstance(value, dict):
        return {k: new if path_pred(k, v) else _replace(v, path_pred, new, path + (k,))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, path_pred, new, path) for v in value]
    return value


def _is_arn_input(key, value):
    return key in ARN_INPUTS and isinstance(value, str)


@pytest.mark.parametrize("orchestrator", ["step-functions", "argo", "airflow"])
def test_served_pack_agrees_with_check_on_the_example_plans(pack, orchestrator):
    manifest = synthesized(orchestrator, STACK).manifest()
    expected = offline(manifest)
    assert served(pack, manifest, lambda r: r["inputs"]) == expected
    if orchestrator != "airflow":
        assert any(f[0] == "steps-without-retry" for f in expected)  # the plans have findings


@pytest.mark.parametrize("orchestrator", ["step-functions", "argo", "airflow"])
def test_unknown_arns_skip_only_what_needs_them(pack, orchestrator):
    """A first preview: the ARNs of roles and state machines are unknown. The pack reports what
    check reports on the same plan with those inputs unknown (synth writes an unknown as null)."""
    manifest = synthesized(orchestrator, STACK).manifest()
    as_unknown = {**manifest, "resources": [
        {**r, "inputs": _replace(r["inputs"], _is_arn_input, UNKNOWN_STRING)}
        for r in manifest["resources"]]}
    assert as_unknown != manifest  # some ARN input was made unknown
    as_null = {**manifest, "resources": [
        {**r, "inputs": _replace(r["inputs"], _is_arn_input, None)} for r in manifest["resources"]]}
    assert served(pack, as_unknown, lambda r: r["inputs"]) == offline(as_null)


def test_a_mandatory_rule_does_not_need_the_unknown_role(pack):
    """RolePolicy with Action "*" whose role is not created yet: flagged by the pack (it used to
    skip every rule on the resource) and by the rules on the same input."""
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}]})
    manifest = {"stack": STACK, "outputs": {}, "resources": [{
        "type": "aws:iam/rolePolicy:RolePolicy", "name": "wide", "inputs": {},
        "urn": f"urn:pulumi:{STACK}::flowstacks::aws:iam/rolePolicy:RolePolicy::wide"}]}
    found = served(pack, manifest, lambda r: {"role": UNKNOWN_STRING, "policy": policy})
    rules_say = evaluate([Resource("aws:iam/rolePolicy:RolePolicy", "wide",
                                   {"role": UNKNOWN, "policy": policy})], stack_info(manifest))
    assert [f[0] for f in found] == ["no-wildcard-iam", "no-wildcard-iam"]
    assert [f[4] for f in found] == sorted(v.message for v in rules_say)
    # and the policy itself unknown: nothing can be known, nothing is reported, nothing crashes
    assert served(pack, manifest, lambda r: {"role": "r", "policy": UNKNOWN_STRING}) == []


class _KeepingStructs(engine.RecordingMonitor):
    """Also keeps each registration's inputs as the engine receives them (secrets wrapped)."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.structs: dict[tuple[str, str], dict] = {}  # by (type, name): registrations race

    def RegisterResource(self, request):  # noqa: N802
        response = super().RegisterResource(request)
        if request.type != engine.ROOT_STACK_TYPE:
            self.structs[(request.type, request.name)] = {
                k: v for k, v in json_format.MessageToDict(request.object).items()
                if not k.startswith("__")}
        return response


def _secret_plan(orchestrator, monkeypatch):
    monkeypatch.setattr(engine, "RecordingMonitor", _KeepingStructs)
    _, monitor = run_program(STACK, main, config={
        "projectDir": str(REPO), "orchestrator": orchestrator, "offline": "true",
        "serviceAuthKey": "s3cr3t-Auth-Key-42"}, secret_keys=["serviceAuthKey"])
    manifest = StackResult(STACK, "example_project", monitor.recorded, monitor.stack_outputs,
                           []).manifest()
    assert "[secret]" in json.dumps(manifest)
    return manifest, monitor.structs


def _is_secret(key, value):
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def _unwrap(value):
    if _is_secret(None, value):
        return _unwrap(value["value"])
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


@pytest.mark.parametrize("orchestrator", ["step-functions", "argo", "airflow"])
def test_secrets(pack, orchestrator, monkeypatch):
    """With a secret in the stack's config, the orchestrator objects are secret. The pack checks
    their plaintext (as on a plan without secrets); offline check sees "[secret]" there and
    reports what the pack reports when those values are unknown, without crashing."""
    manifest, structs = _secret_plan(orchestrator, monkeypatch)
    with_secrets = served(pack, manifest, lambda r: structs[r["type"], r["name"]])
    plaintext = {**manifest, "resources": [{**r, "inputs": _unwrap(structs[r["type"], r["name"]])}
                                           for r in manifest["resources"]]}
    assert with_secrets == offline(plaintext)
    assert with_secrets == offline(synthesized(orchestrator, STACK).manifest())
    hidden = served(pack, manifest, lambda r: _replace(structs[r["type"], r["name"]], _is_secret,
                                                       UNKNOWN_STRING))
    assert offline(manifest) == hidden  # "[secret]" offline = unknown in the pack
    if orchestrator != "airflow":  # the step settings are inside the secret objects
        assert set(hidden) < set(with_secrets)
        assert any(f[0] == "steps-without-retry" for f in set(with_secrets) - set(hidden))
