"""Platform settings (issue 15): the flowstacks config per namespace class, the Metaflow config
in effect where it is silent (read as Metaflow's from_conf reads it), flowstacks' defaults last;
each value with its source; errors that name the field."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowstacks.errors import FlowstacksError
from flowstacks.load.platform import stack_platform
from flowstacks.load.project import ProjectDir, load_config
from flowstacks.model.config import Aws, Kubernetes, ProjectConfig
from flowstacks.model.platform import DEFAULT_SOURCE, Platform
from flowstacks.model.platform_resolve import OWN_TABLE_SOURCE

FLOW = textwrap.dedent('''
    from metaflow import FlowSpec, project, step

    @project(name="demo")
    class DemoFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass
''')
URL, PROD_URL = "https://mf.example.com/api", "https://mf-prod.example.com/api"


def _project(root: Path, config: str | None = None) -> Path:
    (root / "flowspecs").mkdir(parents=True)
    (root / "flowspecs" / "demo_flow.py").write_text(FLOW)
    if config is not None:
        (root / "flowspecs" / "flowstacks_config.py").write_text(textwrap.dedent(config))
    return root


def _env(home: Path, **values: str) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    return {"METAFLOW_HOME": str(home), **values}


def test_nothing_configured_keeps_local_metadata_and_warns(tmp_path):
    config, platform = stack_platform(ProjectConfig(), "prod", tmp_path, _env(tmp_path / "h"))
    # the only change: the namespace's own datastore root under the default one (issue 16)
    # and the webhook tasks post to: the EventSource where the sensors listen (metaflow)
    hook = "http://argo-events-webhook-eventsource-svc.metaflow:12000/metaflow-event"
    assert config == ProjectConfig(aws=Aws(datastore_root=f"{Aws().datastore_root}/prod"),
                                   kubernetes=Kubernetes(argo_events_webhook_url=hook))
    assert platform.datastore_class_root == Aws().datastore_root
    assert (platform.metadata, platform.service_url, platform.secrets_backend) == ("local", None, None)
    derived = {k: v for k, v in platform.sources.items() if v != DEFAULT_SOURCE}
    # ... and the stack's own foreach-state table (named in stack_context, issue 16)
    assert list(derived) == ["aws.dynamodb_table", "kubernetes.argo_events_webhook_url"]
    assert derived["aws.dynamodb_table"] == OWN_TABLE_SOURCE
    (warning,) = platform.warnings("prod")
    assert "invisible to the Metaflow client" in warning and "service_url" in warning


def test_metaflow_environment_fills_what_flowstacks_leaves_unset(tmp_path):
    env = _env(tmp_path / "h", METAFLOW_SERVICE_URL=URL, METAFLOW_DEFAULT_METADATA="service",
               METAFLOW_DATASTORE_SYSROOT_S3="s3://team-bucket/mf/",
               METAFLOW_BATCH_JOB_QUEUE="team-queue", METAFLOW_KUBERNETES_NAMESPACE="team-ns",
               METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE="aws-secrets-manager",
               METAFLOW_ARGO_EVENTS_WEBHOOK_URL="http://hook.argo-events:12000/x",
               METAFLOW_AIRFLOW_KUBERNETES_CONN_ID="eks")
    config, platform = stack_platform(ProjectConfig(), "test.x", tmp_path, env)
    # validated like the config field; the namespace's own root under it (issue 16)
    assert config.aws.datastore_root == "s3://team-bucket/mf/test.x"
    assert platform.datastore_class_root == "s3://team-bucket/mf"
    # test's pods apart from prod's (issue 16: the 'class' Kubernetes layout)
    assert (config.aws.batch_job_queue, config.kubernetes.namespace, config.airflow.namespace) == \
        ("team-queue", "team-ns-test", "team-ns-test")
    assert config.kubernetes.argo_events_webhook_url == "http://hook.argo-events:12000/x"
    assert config.airflow.kubernetes_conn_id == "eks"
    assert (platform.metadata, platform.task_service_url) == ("service", URL)
    assert platform.sources["runtime.service_url"] == "METAFLOW_SERVICE_URL (environment)"
    assert platform.sources["aws.datastore_root"] == "METAFLOW_DATASTORE_SYSROOT_S3 (environment)"
    assert platform.sources["aws.dynamodb_table"] == OWN_TABLE_SOURCE
    assert platform.warnings("test.x") == []


def test_internal_webhook_and_service_urls_are_what_tasks_get(tmp_path):
    env = _env(tmp_path / "h", METAFLOW_ARGO_EVENTS_WEBHOOK_URL="http://public:1/x",
               METAFLOW_ARGO_EVENTS_INTERNAL_WEBHOOK_URL="http://internal:1/x",
               METAFLOW_SERVICE_URL=URL, METAFLOW_SERVICE_INTERNAL_URL="http://svc:8080/",
               METAFLOW_DEFAULT_METADATA="service")
    config, platform = stack_platform(ProjectConfig(), "prod", tmp_path, env)
    assert config.kubernetes.argo_events_webhook_url == "http://internal:1/x"
    assert platform.task_service_url == "http://svc:8080/"


def test_profile_files_env_and_config_take_turns(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"METAFLOW_SERVICE_URL": URL,
                                                  "METAFLOW_DEFAULT_METADATA": "service",
                                                  "METAFLOW_SFN_DYNAMO_DB_TABLE": "dev-table"}))
    (home / "config_prod.json").write_text(json.dumps({"METAFLOW_SERVICE_URL": PROD_URL,
                                                       "METAFLOW_DEFAULT_METADATA": "service"}))
    config = ProjectConfig(platform_overrides={"prod": Platform(metaflow_profile="prod")})
    env = _env(home)
    _, test = stack_platform(config, "test.x", tmp_path, env)
    prod_config, prod = stack_platform(config, "prod.b", tmp_path, env)
    assert (test.service_url, prod.service_url) == (URL, PROD_URL)
    assert prod.sources["runtime.service_url"] == f"METAFLOW_SERVICE_URL in {home / 'config_prod.json'}"
    assert prod.sources["metaflow_profile"] == "platform_overrides['prod'].metaflow_profile"
    assert prod_config.aws.dynamodb_table == Aws().dynamodb_table  # not in prod's profile
    # the environment beats the file, as in Metaflow; the flowstacks config beats both
    _, env_wins = stack_platform(config, "prod", tmp_path, {**env, "METAFLOW_SERVICE_URL": URL})
    assert env_wins.service_url == URL
    explicit = ProjectConfig(platform=Platform(service_url="https://x.example.com"),
                             platform_overrides={"prod": Platform(metaflow_profile="prod")})
    _, mine = stack_platform(explicit, "prod", tmp_path, {**env, "METAFLOW_SERVICE_URL": URL})
    assert (mine.service_url, mine.sources["runtime.service_url"]) == \
        ("https://x.example.com", "platform.service_url")


def test_class_override_beats_platform_beats_older_fields_beats_metaflow(tmp_path):
    config = ProjectConfig(
        aws=Aws(dynamodb_table="legacy-table"),
        platform=Platform(batch_job_queue="all-queue", service_url=URL,
                          dynamodb_table_layout="shared"),
        platform_overrides={"prod": Platform(batch_job_queue="prod-queue",
                                             service_url=PROD_URL)})
    env = _env(tmp_path / "h", METAFLOW_BATCH_JOB_QUEUE="mf-queue",
               METAFLOW_SFN_DYNAMO_DB_TABLE="mf-table", METAFLOW_DEFAULT_METADATA="local",
               METAFLOW_SERVICE_INTERNAL_URL="http://other-service/")
    prod_cfg, prod = stack_platform(config, "prod", tmp_path, env)
    user_cfg, user = stack_platform(config, "user.bob", tmp_path, env)
    assert (prod_cfg.aws.batch_job_queue, user_cfg.aws.batch_job_queue) == ("prod-queue", "all-queue")
    assert prod_cfg.aws.dynamodb_table == "legacy-table"
    assert prod.sources["aws.dynamodb_table"] == "aws.dynamodb_table"
    # a service URL written in the flowstacks config means metadata=service and that URL in
    # tasks, whatever the Metaflow config says
    assert (prod.metadata, prod.task_service_url, user.task_service_url) == \
        ("service", PROD_URL, URL)
    assert prod.metadata_chosen and prod.warnings("prod") == []


def test_platform_and_an_older_field_may_not_disagree(tmp_path):
    root = _project(tmp_path, '''
        from flowstacks.model.config import Aws, Platform, ProjectConfig
        CONFIG = ProjectConfig(
            aws=Aws(datastore_root="s3://aaa/x"),
            platform=Platform(datastore_root="s3://bbb/x"),
        )
    ''')
    with pytest.raises(FlowstacksError) as err:
        load_config(root)
    assert "platform.datastore_root" in err.value.message
    assert "aws.datastore_root" in err.value.message
    assert err.value.where == "flowspecs/flowstacks_config.py:3"


def test_override_keys_are_namespace_classes():
    with pytest.raises(Exception) as err:
        ProjectConfig(platform_overrides={"staging": Platform()})
    assert "platform_overrides.staging" in str(err.value)
    assert "'prod', 'test' or 'user'" in str(err.value)


@pytest.mark.parametrize("kwargs,field", [
    ({"service_url": "metaflow.example.com"}, "service_url"),
    ({"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:alias/data"}, "kms_key_arn"),
    ({"s3_server_side_encryption": "kms"}, "s3_server_side_encryption"),
    ({"datastore_root": "bucket/x"}, "datastore_root"),
    ({"kubernetes_namespace": "Team_NS"}, "kubernetes_namespace"),
    ({"account_id": "12345"}, "account_id"),
])
def test_bad_platform_values_name_the_field(kwargs, field):
    with pytest.raises(Exception) as err:
        Platform(**kwargs)
    assert field in str(err.value)


def test_bad_metaflow_value_names_the_key_and_where_it_was_read(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"METAFLOW_DATASTORE_SYSROOT_S3": "/local/path"}))
    with pytest.raises(FlowstacksError) as err:
        stack_platform(ProjectConfig(), "prod", tmp_path, _env(home))
    assert "METAFLOW_DATASTORE_SYSROOT_S3 '/local/path'" in err.value.message
    assert err.value.where == f"METAFLOW_DATASTORE_SYSROOT_S3 in {home / 'config.json'}"


def test_service_metadata_without_a_url_is_refused(tmp_path):
    with pytest.raises(FlowstacksError) as err:
        stack_platform(ProjectConfig(), "prod", tmp_path,
                       _env(tmp_path / "h", METAFLOW_DEFAULT_METADATA="service"))
    assert err.value.where == "METAFLOW_DEFAULT_METADATA (environment)"
    root = _project(tmp_path / "p", '''
        from flowstacks.model.config import Platform, ProjectConfig, StackSpec
        CONFIG = ProjectConfig(stacks=[StackSpec(name="test.x")],
                               platform_overrides={"test": Platform(metadata="service")})
    ''')
    project = ProjectDir(root, "argo", environ=_env(tmp_path / "h"))
    project.stack_context("user.bob")  # the test class's override is not the user class's
    with pytest.raises(FlowstacksError) as err:
        project.stack_context("test.x")
    assert err.value.where == "flowspecs/flowstacks_config.py: platform_overrides['test'].metadata"


def test_a_missing_profile_is_an_error_as_in_metaflow(tmp_path):
    config = ProjectConfig(platform=Platform(metaflow_profile="nope"))
    with pytest.raises(FlowstacksError) as err:
        stack_platform(config, "prod", tmp_path, _env(tmp_path / "h"))
    assert "Unable to locate METAFLOW_PROFILE 'nope'" in err.value.message


def test_local_metaflow_config_of_the_project_is_read(tmp_path):
    root = _project(tmp_path / "p")
    (root / ".metaflow").mkdir()
    (root / ".metaflow" / "config.json").write_text(json.dumps(
        {"METAFLOW_S3_SERVER_SIDE_ENCRYPTION": "aws:kms"}))
    _, platform = stack_platform(ProjectConfig(), "prod", root, _env(tmp_path / "h"))
    assert platform.s3_server_side_encryption == "aws:kms"
    assert platform.sources["runtime.s3_server_side_encryption"] == \
        f"METAFLOW_S3_SERVER_SIDE_ENCRYPTION in {(root / '.metaflow' / 'config.json').resolve()}"


def test_a_plain_text_auth_key_is_reported_never_kept(tmp_path):
    _, platform = stack_platform(ProjectConfig(), "prod", tmp_path,
                                 _env(tmp_path / "h", METAFLOW_SERVICE_AUTH_KEY="s3cr3t"))
    assert "s3cr3t" not in platform.model_dump_json()
    assert any("flowstacks:serviceAuthKey" in w for w in platform.warnings("prod"))


def test_the_stack_context_carries_the_platform(tmp_path):
    root = _project(tmp_path, '''
        from flowstacks.model.config import Platform, ProjectConfig, StackSpec
        CONFIG = ProjectConfig(
            stacks=[StackSpec(name="prod"), StackSpec(name="test.x")],
            platform=Platform(service_url="https://mf.example.com/api",
                              secrets_backend="aws-secrets-manager",
                              kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/abc-123"),
            platform_overrides={"prod": Platform(account_id="210987654321",
                                                 datastore_root="s3://prod-bucket/mf")},
        )
    ''')
    env = _env(tmp_path / "h")
    prod = ProjectDir(root, "step-functions", environ=env).stack_context("prod")
    test = ProjectDir(root, "step-functions", environ=env).stack_context("test.x")
    assert (prod.config.aws.account_id, test.config.aws.account_id) == ("210987654321", "123456789012")
    assert (prod.config.aws.datastore_root, test.config.aws.datastore_root) == \
        ("s3://prod-bucket/mf/prod", f"{Aws().datastore_root}/test.x")
    assert prod.platform.kms_key_arn == test.platform.kms_key_arn
    assert prod.platform.sources["aws.account_id"] == "platform_overrides['prod'].account_id"


def _synth(root: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowstacks.cli", "synth", "--quiet",
                           "--stack", "prod", "--orchestrator", "argo", "--out",
                           str(root / "build"), "--project-dir", str(root), *extra],
                          capture_output=True, text=True, check=False, env=env)


def test_synth_warns_when_runs_would_be_invisible(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items()}
    silent = _project(tmp_path / "silent")
    proc = _synth(silent, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "warning: stack 'prod': no Metaflow metadata service is configured" in proc.stderr
    assert "--metadata=local" in (silent / "build" / "prod" / "argo" /
                                  "demo.prod.demoflow.yaml").read_text()
    chosen = _project(tmp_path / "chosen", '''
        from flowstacks.model.config import Platform, ProjectConfig, StackSpec
        CONFIG = ProjectConfig(platform=Platform(metadata="local"))
    ''')
    proc = _synth(chosen, env=env)
    # no warning (the one other line: the example values note, tests/review/test_placeholders.py)
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    proc = _synth(silent, env={**env, "METAFLOW_SERVICE_URL": URL,
                               "METAFLOW_DEFAULT_METADATA": "service"})
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    text = (silent / "build" / "prod" / "argo" / "demo.prod.demoflow.yaml").read_text()
    assert "--metadata=service" in text and "--metadata=local" not in text and URL in text


@pytest.mark.parametrize("platform,env,expected", [
    (Platform(), {}, {}),  # the provider detects the cluster (DIFFERENCES.md)
    (Platform(airflow_in_cluster=True), {}, {"in_cluster": True}),
    (Platform(airflow_kubernetes_conn_id="eks"), {},
     {"kubernetes_conn_id": "eks", "in_cluster": False}),
    (Platform(), {"METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_FILE": "/kube/config",
                  "METAFLOW_AIRFLOW_KUBERNETES_KUBECONFIG_CONTEXT": "prod"},
     {"cluster_context": "prod", "config_file": "/kube/config", "in_cluster": False}),
])
def test_airflow_reaches_the_cluster_as_configured(tmp_path, platform, env, expected):
    from flowstacks.render.airflow.tasks import cluster_kwargs

    root = _project(tmp_path / "p")
    ctx = ProjectDir(root, "airflow", environ=_env(tmp_path / "h", **env)).stack_context("prod")
    ctx = ctx.model_copy(update={"config": ctx.config.model_copy(update={"platform": platform})})
    config, resolved = stack_platform(ctx.config, "prod", root, _env(tmp_path / "h", **env))
    ctx = ctx.model_copy(update={"config": config, "platform": resolved})
    assert cluster_kwargs(ctx) == expected


def test_datastore_layout_per_namespace_and_prod_read_only(tmp_path):
    """Issue 16: each namespace's tasks use <class root>/<branch>; 'flat' keeps Metaflow's shared
    root; read_prod_datastore gives test/user the roots of prod's namespaces (to read only)."""
    config = ProjectConfig(
        platform=Platform(datastore_root="s3://shared/mf"),
        platform_overrides={"prod": Platform(datastore_root="s3://prod-bucket/mf"),
                            "user": Platform(datastore_layout="flat", read_prod_datastore=True)})
    env = _env(tmp_path / "h")
    roots = {s: stack_platform(config, s, tmp_path, env)
             for s in ("prod", "prod.b", "test.x", "user.bob")}
    assert {s: c.aws.datastore_root for s, (c, _) in roots.items()} == {
        "prod": "s3://prod-bucket/mf/prod", "prod.b": "s3://prod-bucket/mf/prod.b",
        "test.x": "s3://shared/mf/test.x", "user.bob": "s3://shared/mf"}
    assert roots["test.x"][1].prod_datastore_roots == ()  # default off
    assert roots["user.bob"][1].prod_datastore_roots == (
        "s3://prod-bucket/mf/prod", "s3://prod-bucket/mf/prod.*")
    assert roots["prod"][1].prod_datastore_roots == ()


def test_kubernetes_namespace_layouts(tmp_path):
    """Issue 16: prod's pods apart from test's and user's by default; a class override names its
    own; 'namespace' gives every Metaflow namespace its own (a DNS label, whatever the branch)."""
    env = _env(tmp_path / "h")
    config = ProjectConfig(platform=Platform(kubernetes_namespace="mf"),
                           platform_overrides={"user": Platform(kubernetes_namespace="sandbox")})
    spaces = {s: stack_platform(config, s, tmp_path, env)[0].kubernetes.namespace
              for s in ("prod", "prod.b", "test.x", "user.bob")}
    assert spaces == {"prod": "mf", "prod.b": "mf", "test.x": "mf-test", "user.bob": "sandbox"}
    per = ProjectConfig(platform=Platform(kubernetes_namespace="mf",
                                          kubernetes_namespace_layout="namespace"))
    got = {s: stack_platform(per, s, tmp_path, env)[0] for s in ("prod", "test.a_b", "user.Bob")}
    assert got["prod"].kubernetes.namespace == "mf-prod"
    assert got["test.a_b"].airflow.namespace.startswith("mf-test-a-b-")
    assert re.fullmatch(r"mf-user-bob-[0-9a-f]{6}", got["user.Bob"].kubernetes.namespace)
    shared = ProjectConfig(platform=Platform(kubernetes_namespace_layout="shared"))
    assert stack_platform(shared, "test.x", tmp_path, env)[0].kubernetes.namespace == "metaflow"


def test_every_sfn_stack_owns_its_table_unless_a_class_opts_in_to_sharing(tmp_path):
    """Issue 16: a stack's foreach state lives in a table named for its namespace (the Metaflow
    config's METAFLOW_SFN_DYNAMO_DB_TABLE is reported, not deployed); a table written in the
    config without dynamodb_table_layout='shared' is an error naming where; with the opt-in the
    class shares it again."""
    root = _project(tmp_path)
    env = _env(tmp_path / "h", METAFLOW_SFN_DYNAMO_DB_TABLE="team-table")
    project = ProjectDir(root, "step-functions", environ=env)
    tables = {s: project.stack_context(s).dynamodb_table
              for s in ("prod", "prod.b", "test.x", "user.bob")}
    assert tables == {"prod": "demo.prod.sfn-state", "prod.b": "demo.prod.b.sfn-state",
                      "test.x": "demo.test.x.sfn-state", "user.bob": "demo.user.bob.sfn-state"}
    # the stack's config holds what the project configured, not the name flowstacks chose
    assert "dynamodb_table" not in project.stack_context("prod").config.aws.model_fields_set
    _, platform = stack_platform(ProjectConfig(), "test.x", tmp_path, env)
    def about_table(orchestrator):
        return [w for w in platform.warnings("test.x", orchestrator) if "DYNAMO_DB" in w]

    (why,) = about_table("step-functions")
    assert "METAFLOW_SFN_DYNAMO_DB_TABLE (environment) ('team-table') is not deployed" in why
    assert about_table("argo") == []  # only Step Functions uses the table
    for bad, where in ((dict(platform=Platform(dynamodb_table="t")), "platform.dynamodb_table"),
                       (dict(aws=Aws(dynamodb_table="t")), "aws.dynamodb_table"),
                       (dict(platform_overrides={"prod": Platform(dynamodb_table="t")},
                             platform=Platform(dynamodb_table_layout="stack")),
                        "platform_overrides['prod'].dynamodb_table"),
                       # shared for test only: prod's own table name is still unused
                       (dict(platform_overrides={
                           "prod": Platform(dynamodb_table="p"),
                           "test": Platform(dynamodb_table_layout="shared")}),
                        "platform_overrides['prod'].dynamodb_table")):
        with pytest.raises(ValueError, match="dynamodb_table_layout='shared'") as err:
            ProjectConfig(**bad)
        assert where in str(err.value)
    shared = _project(tmp_path / "shared", """
        from flowstacks.model.config import Platform, ProjectConfig
        CONFIG = ProjectConfig(
            platform=Platform(dynamodb_table="team-table"),
            platform_overrides={"test": Platform(dynamodb_table_layout="shared")},
            review_stacks=True)
    """)
    project = ProjectDir(shared, "step-functions", environ=_env(tmp_path / "h"))
    ctx = project.stack_context("test.x")
    assert (ctx.dynamodb_table, ctx.platform.owns_dynamodb_table) == ("team-table", False)
    assert ctx.platform.sources["aws.dynamodb_table"] == "platform.dynamodb_table"
    assert project.stack_context("prod").dynamodb_table == "demo.prod.sfn-state"


def test_table_names_fit_dynamodb():
    """[PREFIX_]<project>.<branch>.sfn-state, within DynamoDB's 3-255 characters of
    [a-zA-Z0-9_.-]; branches that need changing or cutting stay apart."""
    from flowstacks.naming.limits import DYNAMODB_TABLE_NAME
    from flowstacks.naming.namespace import sfn_state_table_name as name

    assert name("p", "test.x", "TEAM") == "TEAM_p.test.x.sfn-state"
    odd = [name("p", b) for b in ("user.a@b.c", "user.a_b.c", "user.a-b.c", "user." + "x" * 300,
                                  "user." + "x" * 301)]
    assert len(set(odd)) == len(odd)
    assert all(DYNAMODB_TABLE_NAME.fullmatch(n) for n in odd), odd
    assert len(odd[-1]) == 255 and odd[-1].endswith(".sfn-state")
