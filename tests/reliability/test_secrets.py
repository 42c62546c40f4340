"""A secret config value stays a Pulumi secret: the provider gets it, the manifest, the
artifacts and the stack outputs never show it (issue 9)."""

from __future__ import annotations

import json

import pytest

from flowstacks.deploy.program import main
from flowstacks.synth.engine import RealisticMocks, StackResult, run_program
from tests.conftest import ORCHESTRATORS, REPO

SECRET = "s3cr3t-Auth-Key-42"


class Capturing(RealisticMocks):
    """Also keeps what the provider receives (secrets unwrapped, as the real provider sees them)."""

    def __init__(self):
        super().__init__("us-east-1", "123456789012")
        self.received: list[dict] = []

    def new_resource(self, args):
        self.received.append(args.inputs)
        return super().new_resource(args)


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_service_auth_key_stays_secret(orchestrator):
    mocks = Capturing()
    config = {"projectDir": str(REPO), "orchestrator": orchestrator, "offline": "true",
              "serviceAuthKey": SECRET}
    artifacts, monitor = run_program("test.feature_x", main, config=config,
                                     secret_keys=["serviceAuthKey"], mocks=mocks)
    result = StackResult("test.feature_x", "example_project", monitor.recorded,
                         monitor.stack_outputs, list(artifacts))
    manifest = json.dumps(result.manifest())
    assert SECRET not in manifest
    assert "[secret]" in manifest  # the orchestrator objects are marked secret
    assert all(SECRET not in a.content for a in artifacts)
    assert any("__FLOWSTACKS_SECRET_serviceAuthKey__" in a.content for a in artifacts)
    # the provider did get the value, inside Metaflow's service headers
    received = [json.dumps(inputs, default=str) for inputs in mocks.received]
    assert any(SECRET in r and "x-api-key" in r for r in received)


def test_without_a_secret_nothing_is_marked_secret():
    artifacts, monitor = run_program(
        "test.feature_x", main, config={"projectDir": str(REPO), "orchestrator": "argo",
                                        "offline": "true"})
    manifest = json.dumps(StackResult("test.feature_x", "example_project", monitor.recorded,
                                      monitor.stack_outputs, []).manifest())
    assert "[secret]" not in manifest
