"""Grants that follow from the platform settings (issue 15): ``secretsmanager:GetSecretValue`` on
exactly the secrets the flows name in ``@secrets``, KMS on exactly the configured key, for the
task role of every backend (and the key for the deployer, which uploads the code packages);
parliament-clean; nothing of it where the stack does not use it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import parliament
import pytest

from flowstacks.errors import FlowstacksError
from flowstacks.iam.evaluate import Request, allows
from flowstacks.iam.secrets import secret_grants
from flowstacks.load.project import ProjectDir
from tests.conftest import ORCHESTRATORS

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
READER = f"arn:aws:iam::{ACCOUNT}:role/secret-reader"
SECRET_FLOW = textwrap.dedent('''
    from metaflow import FlowSpec, project, secrets, step

    @project(name="demo")
    class SecretFlow(FlowSpec):
        @secrets(sources=["db-creds",
                          {"type": "aws-secrets-manager",
                           "id": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-key-AbCdEf"},
                          {"id": "team/token", "options": {"region": "us-west-2"}}])
        @step
        def start(self):
            self.next(self.end)

        @secrets(sources=["aws-secrets-manager.db-creds",
                          {"id": "cross", "role": "%s"}])
        @step
        def end(self):
            pass
''' % READER)
PLAIN_FLOW = textwrap.dedent('''
    from metaflow import FlowSpec, project, step

    @project(name="demo")
    class PlainFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass
''')
CONFIG = textwrap.dedent('''
    from flowstacks.model.config import Platform, ProjectConfig, StackSpec
    CONFIG = ProjectConfig(
        stacks=[StackSpec(name="prod"), StackSpec(name="test.plain", flows=["PlainFlow"])],
        platform=Platform(service_url="https://mf.example.com/api",
                          secrets_backend="aws-secrets-manager", secrets_region="eu-central-1"),
        platform_overrides={"prod": Platform(kms_key_arn="%s")},
    )
''' % KEY)
SECRETS = sorted([
    f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:db-creds-??????",
    f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:api-key-AbCdEf",
    f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:team/token-??????",
])
TASK_ROLE = {"step-functions": "-batch-task.json", "argo": "-k8s-task.json",
             "airflow": "-k8s-task.json"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("secrets-project")
    (root / "flowspecs").mkdir()
    (root / "flowspecs" / "secret_flow.py").write_text(SECRET_FLOW)
    (root / "flowspecs" / "plain_flow.py").write_text(PLAIN_FLOW)
    (root / "flowspecs" / "flowstacks_config.py").write_text(CONFIG)
    return root


@pytest.fixture(scope="module")
def roles(project) -> dict[tuple[str, str], dict[str, dict]]:
    """(orchestrator, stack) -> iam/<role>.json documents written by synth."""
    from flowstacks.synth.engine import synth_stack

    out = {}
    for orchestrator in ORCHESTRATORS:
        for stack in ("prod", "test.plain"):
            result = synth_stack(project, stack, orchestrator)
            out[(orchestrator, stack)] = {a.path: json.loads(a.content) for a in result.artifacts
                                          if a.path.startswith("iam/")}
    return out


def _statements(role: dict, sid: str | None = None) -> list[dict]:
    return [st for doc in role["policies"].values() for st in doc["Statement"]
            if sid is None or st.get("Sid") == sid]


def _task_role(docs: dict[str, dict], orchestrator: str) -> dict:
    (role,) = [r for p, r in docs.items() if p.endswith(TASK_ROLE[orchestrator])]
    return role


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_flow_with_secrets_gets_exactly_its_secrets(roles, orchestrator):
    task = _task_role(roles[(orchestrator, "prod")], orchestrator)
    (secrets,) = _statements(task, "FlowSecrets")
    assert secrets["Action"] == ["secretsmanager:GetSecretValue"]
    assert secrets["Resource"] == SECRETS
    (assume,) = _statements(task, "FlowSecretRoles")
    assert (assume["Action"], assume["Resource"]) == (["sts:AssumeRole"], [READER])
    docs = list(task["policies"].values())
    region = f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:"

    def can_read(arn: str) -> bool:
        return allows(docs, Request("secretsmanager:GetSecretValue", arn, {}))

    assert can_read(region + "db-creds-Xy12Zq")  # the real ARN: name + 6 random characters
    assert can_read(f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:team/token-Ab12Cd")
    for other in (region + "db-creds-other-Xy12Zq", region + "other-Xy12Zq",
                  region + "cross-Xy12Zq",  # read through the role, not by the task role
                  f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-creds-Xy12Zq"):
        assert not can_read(other), other
    # no other role of the stack reads secrets
    others = [r for r in roles[(orchestrator, "prod")].values() if r is not task]
    assert not any("secretsmanager" in json.dumps(r["policies"]) for r in others)


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_kms_only_on_the_configured_key_for_task_role_and_deployer(roles, orchestrator):
    docs = roles[(orchestrator, "prod")]
    task = _task_role(docs, orchestrator)
    (deployer,) = [r for p, r in docs.items() if p.endswith("-deployer.json")]
    for role, sid in ((task, "DatastoreKey"), (deployer, "CodePackageKey")):
        (st,) = _statements(role, sid)
        assert (st["Action"], st["Resource"]) == (["kms:Decrypt", "kms:GenerateDataKey"], [KEY])
        other_key = KEY.replace("1234abcd", "ffffffff")
        assert not allows(list(role["policies"].values()), Request("kms:Decrypt", other_key, {}))
    kms = [r["role"] for r in docs.values() if "kms:" in json.dumps(r["policies"])]
    assert sorted(kms) == sorted([task["role"], deployer["role"]])


@pytest.mark.parametrize("orchestrator", ORCHESTRATORS)
def test_a_stack_without_secrets_or_key_gets_neither(roles, orchestrator):
    """test.plain deploys only PlainFlow and has no KMS key (the key is prod's override)."""
    policies = json.dumps([r["policies"] for r in roles[(orchestrator, "test.plain")].values()])
    assert "datastore" in policies  # the documents are there
    for needle in ("secretsmanager", "kms:", "sts:AssumeRole"):
        assert needle not in policies, needle


def test_parliament_reports_nothing_but_the_role_a_flow_asks_for(roles):
    """Parliament's community auditors flag every sts:AssumeRole as CREDENTIALS_EXPOSURE; the
    one grant of it here is the reader role a flow names in @secrets(role=...), and it is the
    narrowest grant that lets the task read through that role. Nothing else is reported."""
    checked = 0
    for (orchestrator, stack), docs in roles.items():
        for path, role in docs.items():
            if path.endswith("-deployer.json"):  # manages roles by design; its key grant alone:
                for st in _statements(role, "CodePackageKey"):
                    assert not parliament.analyze_policy_string(json.dumps(
                        {"Version": "2012-10-17", "Statement": [st]}),
                        include_community_auditors=True).findings
                continue
            for name, doc in role["policies"].items():
                findings = parliament.analyze_policy_string(
                    json.dumps(doc), include_community_auditors=True).findings
                rest = [(f.issue, f.detail, f.location) for f in findings
                        if not (f.issue == "CREDENTIALS_EXPOSURE"
                                and f.location.get("actions") == ["sts:assumerole"])]
                assert not rest, (orchestrator, stack, path, name, rest)
                checked += 1
                flagged = len(findings) - len(rest)
                assert flagged == (1 if _statements(role, "FlowSecretRoles") and
                                   name in ("datastore", "metaflow-datastore") else 0)
    assert checked == 8  # SFN: execution + task role, Argo and Airflow: the IRSA role; x 2 stacks
    # without the role-reading source the task role is clean
    for orchestrator in ORCHESTRATORS:
        task = _task_role(roles[(orchestrator, "prod")], orchestrator)
        doc = dict(next(iter(task["policies"].values())))
        doc["Statement"] = [st for st in doc["Statement"] if st.get("Sid") != "FlowSecretRoles"]
        assert not parliament.analyze_policy_string(
            json.dumps(doc), include_community_auditors=True).findings


@pytest.mark.parametrize("source,needle", [
    ('"prod/db.creds"', "names the secrets backend 'prod/db'"),
    ('{"id": "x", "role": "reader"}', "is not an IAM role ARN"),
    ('{"id": "bad name!"}', "is not a Secrets Manager secret name"),
])
def test_bad_secret_sources_name_flow_and_step(tmp_path, source, needle):
    root = tmp_path / "p"
    (root / "flowspecs").mkdir(parents=True)
    (root / "flowspecs" / "secret_flow.py").write_text(
        SECRET_FLOW.replace('sources=["db-creds",', f"sources=[{source}, "))
    (root / "flowspecs" / "flowstacks_config.py").write_text(CONFIG)
    ctx = ProjectDir(root, "argo").stack_context("prod")
    with pytest.raises(FlowstacksError) as err:
        secret_grants(ctx)
    assert needle in err.value.message
    assert err.value.where == "flowspecs/secret_flow.py (SecretFlow) step start"


def test_secrets_need_a_backend(tmp_path):
    root = tmp_path / "p"
    (root / "flowspecs").mkdir(parents=True)
    (root / "flowspecs" / "secret_flow.py").write_text(SECRET_FLOW)
    ctx = ProjectDir(root, "argo").stack_context("prod")  # zero-config: no secrets backend
    with pytest.raises(FlowstacksError) as err:
        secret_grants(ctx)
    assert "No default secrets backend type configured" in err.value.message
    assert "secrets_backend" in err.value.hint
