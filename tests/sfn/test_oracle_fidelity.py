"""Metaflow 2.19.39's ``step-functions create`` as the oracle for flows the example project lacks
(issue 14): every ``@batch`` option that shapes the job definition (on an EC2 and a Fargate queue),
``IncludeFile`` (the uploaded object and the default descriptor), and the decorators Metaflow
refuses (``@conda``/``@pypi`` and their ``_base`` forms).

A job definition's name is Metaflow's content address (sha224 of the definition), so equal names
mean equal definitions; the container properties are compared too, for a readable failure.
"""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import pytest

from flowstacks.load.project import ProjectDir
from flowstacks.render.sfn import render_state_machine, SfnInputs
from tests.oracle.platform import namespace_root_env
from tests.oracle.harness import (
    ACCOUNT, BUCKET, DEPLOY_ENV, REGION, OracleError, oracle_available, shared_oracle,
)

from .helpers import ORACLE_AWS, env, oracle_context, render_resolved, tasks

_ok, _why = oracle_available()
pytestmark = [pytest.mark.oracle, pytest.mark.slow, pytest.mark.skipif(not _ok, reason=_why)]

EC2_QUEUE = "fidelity-ec2-queue"
EC2_QUEUE_ARN = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{EC2_QUEUE}"

HEAD = "from metaflow import FlowSpec, project, step, batch, IncludeFile, Parameter{extra}\n\n"
BODY = '''
@project(name="fid")
class {name}(FlowSpec):
{members}
    {deco}
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    {name}()
'''

EC2_OPTIONS = ('@batch(use_tmpfs=True, efs_volumes=["fs-123:/mnt/x", "fs-456"], '
               'host_volumes=["/tmp/a", "/data/b.c:/b"], log_driver="awslogs", '
               'log_options=["awslogs-group:g", "awslogs-region:us-east-1"], max_swap=10, '
               'swappiness=5, inferentia=2, efa=1, shared_memory=128, privileged=True, '
               'memory=8000)')
EC2_TMPFS_SIZE = '@batch(use_tmpfs=True, tmpfs_size=1024, tmpfs_path="/scratch", tmpfs_tempdir=False)'
FARGATE_OPTIONS = ('@batch(ephemeral_storage=50, log_driver="awslogs", '
                   'log_options="awslogs-group:g", privileged=True)')


def _flow(root: Path, name: str, deco: str = "", members: str = "", extra: str = "") -> Path:
    (root / "flowspecs").mkdir(parents=True, exist_ok=True)
    path = root / "flowspecs" / f"{name.lower()}.py"
    path.write_text(HEAD.format(extra=extra) + BODY.format(
        name=name, deco=deco, members=textwrap.indent(members, "    ") or "    pass"))
    return path


@pytest.fixture(scope="module")
def oracle():
    oracle = shared_oracle()
    batch, ec2 = oracle.boto3_client("batch"), oracle.boto3_client("ec2")
    if not batch.describe_job_queues(jobQueues=[EC2_QUEUE])["jobQueues"]:
        iam = oracle.boto3_client("iam")
        role = iam.get_role(RoleName="fake-batch-service-role")["Role"]["Arn"]
        profile = iam.create_instance_profile(InstanceProfileName="fid-ecs-instance")
        instance_role = profile["InstanceProfile"]["Arn"]
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="fid-sg", Description="f", VpcId=vpc)["GroupId"]
        ce = batch.create_compute_environment(
            computeEnvironmentName="fid-ce-ec2", type="MANAGED", state="ENABLED", serviceRole=role,
            computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 4,
                              "instanceTypes": ["optimal"], "subnets": [subnet],
                              "securityGroupIds": [sg], "instanceRole": instance_role})["computeEnvironmentArn"]
        batch.create_job_queue(jobQueueName=EC2_QUEUE, state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])
    return oracle


def _ours(root: Path, flow: str, platform: str, queue: str, their: dict):
    """flowstacks' rendering of ``flow`` in prod with the oracle's settings."""
    project = ProjectDir(root, "step-functions",
                         environ={"METAFLOW_DATASTORE_SYSROOT_S3": ORACLE_AWS["datastore_root"],
                                  "USER": "alice"})
    ctx = oracle_context(project.stack_context("prod"))
    aws = ctx.config.aws.model_copy(update={"batch_platform": platform, "batch_job_queue": queue})
    ctx = ctx.model_copy(update={"config": ctx.config.model_copy(update={"aws": aws})})
    start = dict(env(dict(tasks(their))[their["StartAt"]]))
    dep = ctx.flow(flow)
    rendering = render_state_machine(ctx, dep, SfnInputs(
        start["METAFLOW_CODE_SHA"], start["METAFLOW_CODE_URL"], aws.batch_container_role))
    definition = render_resolved(ctx, flow, start["METAFLOW_CODE_SHA"], start["METAFLOW_CODE_URL"])
    return rendering, definition


def _their_job_definitions(oracle, definition: dict) -> dict[str, dict]:
    names = {s["Parameters"]["JobDefinition"].split("/")[-1].split(":")[0]
             for _, s in tasks(definition)}
    batch = oracle.boto3_client("batch")
    out = {}
    for name in names:
        found = batch.describe_job_definitions(jobDefinitionName=name)["jobDefinitions"]
        out[name] = found[0]
    return out


def _normal(props: dict) -> dict:
    """Container properties as Batch echoes them (moto adds empty defaults) -> ours' keys."""
    return json.loads(json.dumps(props, sort_keys=True))


@pytest.mark.parametrize("case,deco,platform", [
    ("ec2-all-options", EC2_OPTIONS, "EC2"),
    ("ec2-tmpfs-size", EC2_TMPFS_SIZE, "EC2"),
    ("fargate-options", FARGATE_OPTIONS, "FARGATE"),
])
def test_batch_job_definition_matches_metaflow(oracle, tmp_path, case, deco, platform):
    root = tmp_path / case
    path = _flow(root, "BatchOptsFlow", deco=deco)
    queue = EC2_QUEUE_ARN if platform == "EC2" else ORACLE_AWS["batch_job_queue"]
    theirs = oracle.sfn_json(path, production=True, extra_env={"METAFLOW_BATCH_JOB_QUEUE": queue},
                             cache=False)
    rendering, ours = _ours(root, "BatchOptsFlow", platform, queue, theirs)
    their_defs = _their_job_definitions(oracle, theirs)
    # the same content address: Metaflow's sha224 over the same definition
    assert set(rendering.job_definitions) == set(their_defs)
    for name, spec in rendering.job_definitions.items():
        their_props = their_defs[name]["containerProperties"]
        for key, value in spec.container_properties.items():
            assert _normal(their_props.get(key)) == _normal(value), (case, key)
    # the step carries the same JobDefinition and env (METAFLOW_TEMPDIR with use_tmpfs)
    their_tasks = dict(tasks(theirs))
    for step, mine in tasks(ours):
        their = their_tasks[step]
        assert mine["Parameters"]["JobDefinition"] == their["Parameters"]["JobDefinition"], step
        assert dict(env(mine)).get("METAFLOW_TEMPDIR") == dict(env(their)).get("METAFLOW_TEMPDIR")
    if "use_tmpfs=True" in deco and "tmpfs_tempdir=False" not in deco:
        spec = rendering.job_definitions[next(iter(rendering.job_definitions))]
        mounted = [t["containerPath"] for t in spec.container_properties["linuxParameters"]["tmpfs"]]
        tempdir = dict(env(dict(tasks(ours))["start"]))["METAFLOW_TEMPDIR"]
        assert tempdir in mounted  # the tmpfs is really mounted where the tasks' temp dir is


def test_include_file_default_and_object_match_metaflow(oracle, tmp_path):
    root = tmp_path / "inc"
    path = _flow(root, "IncFlow", members='data = IncludeFile("data", default="data.csv")\n'
                 'raw = IncludeFile("raw", default="blob.bin", is_text=False)\n'
                 'alpha = Parameter("alpha", default=1)\n')
    (path.parent / "data.csv").write_text("a,b\n1,2\n")
    (path.parent / "blob.bin").write_bytes(bytes(range(256)))
    # Metaflow's deployer with prod's own datastore root (issue 16), as flowstacks gives it
    theirs = oracle.sfn_json(path, production=True, cache=False,
                             extra_env=namespace_root_env("prod", DEPLOY_ENV))
    _, ours = _ours(root, "IncFlow", "FARGATE", ORACLE_AWS["batch_job_queue"], theirs)
    mine_env = dict(env(dict(tasks(ours))["start"]))
    their_env = dict(env(dict(tasks(theirs))["start"]))
    assert mine_env["METAFLOW_DEFAULT_PARAMETERS"] == their_env["METAFLOW_DEFAULT_PARAMETERS"]
    defaults = json.loads(their_env["METAFLOW_DEFAULT_PARAMETERS"])
    s3 = oracle.boto3_client("s3")
    for name, source in (("data", "data.csv"), ("raw", "blob.bin")):
        descriptor = json.loads(defaults[name])
        assert descriptor["type"] == "uploader-v2" and descriptor["sub-type"] == "uploaded"
        bucket, _, key = descriptor["url"].removeprefix("s3://").partition("/")
        assert bucket == BUCKET
        their_body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        # our object: same key, and the same bytes once gunzipped (the gzip header's mtime differs)
        from flowstacks.load.include_files import gzipped, object_url
        from flowstacks.model.flow import IncludedFile
        import hashlib

        data = (path.parent / source).read_bytes()
        inc = IncludedFile(source=source, sha1=hashlib.sha1(data).hexdigest(), size=len(data))
        root = namespace_root_env("prod", DEPLOY_ENV)["METAFLOW_DATASTORE_SYSROOT_S3"]
        assert object_url(root, "IncFlow", inc) == descriptor["url"]
        assert gzip.decompress(gzipped(data)) == gzip.decompress(their_body) == data


@pytest.mark.parametrize("deco,extra,message", [
    ("@conda(packages={'x': '1'})", ", conda",
     "@conda decorator requires --environment=conda or --environment=pypi or --environment=fast-bakery"),
    ("@pypi(packages={'x': '1'})", ", pypi",
     "@pypi decorator requires --environment=conda or --environment=pypi or --environment=fast-bakery"),
])
def test_environment_decorators_refused_with_metaflows_message(oracle, tmp_path, deco, extra,
                                                                message):
    from flowstacks.errors import FlowstacksError

    root = tmp_path / "env"
    path = _flow(root, "EnvFlow", deco=deco, extra=extra)
    with pytest.raises(OracleError) as exc:
        oracle.sfn_json(path, production=True, cache=False)
    assert message in exc.value.stderr
    with pytest.raises(FlowstacksError) as ours:
        ProjectDir(root, "step-functions").stack_context("prod")
    assert ours.value.message == message
    assert ours.value.where == "flowspecs/envflow.py (EnvFlow.start)"


@pytest.mark.parametrize("base", ["conda_base", "pypi_base"])
def test_base_environment_decorators_refused_with_metaflows_message(oracle, tmp_path, base):
    from flowstacks.errors import FlowstacksError

    root = tmp_path / base
    path = _flow(root, "EnvFlow", extra=f", {base}")
    path.write_text(path.read_text().replace('@project(name="fid")',
                                             f'@{base}(packages={{"x": "1"}})\n@project(name="fid")'))
    with pytest.raises(OracleError) as exc:
        oracle.sfn_json(path, production=True, cache=False)
    # @X_base attaches @X to every step, and that step decorator's check fails first
    message = f"@{base.removesuffix('_base')} decorator requires --environment=conda or --environment=pypi or --environment=fast-bakery"
    assert message in exc.value.stderr
    with pytest.raises(FlowstacksError) as ours:
        ProjectDir(root, "step-functions").stack_context("prod")
    assert ours.value.message == message
    assert ours.value.where == "flowspecs/envflow.py (EnvFlow)"


def test_kubernetes_step_is_accepted_by_metaflow_but_refused_here(oracle, tmp_path):
    """Metaflow deploys it; the task would die at run time (both Batch and Kubernetes)."""
    from flowstacks.errors import FlowstacksError
    from flowstacks.synth.engine import synth

    root = tmp_path / "k8s"
    path = _flow(root, "K8sFlow", deco="@kubernetes(cpu=2)", extra=", kubernetes")
    assert oracle.sfn_json(path, production=True, cache=False)["StartAt"] == "start"
    with pytest.raises(FlowstacksError) as exc:
        synth(root, ["prod"], tmp_path / "out", "step-functions")
    assert "marked for execution on Kubernetes" in exc.value.message
    assert exc.value.where == "flowspecs/k8sflow.py (K8sFlow.start)"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
