"""Create a deployment's resources in the emulated account, as ``pulumi up`` would in a real one.

Besides the stack's own resources (its foreach-state DynamoDB table among them), the account is
given what the stack expects to exist (its config names them, the stack does not create them): the
datastore bucket, the Batch job queue (with a compute environment behind it) and, when the
namespace shares one (``dynamodb_table_layout='shared'``), the DynamoDB table the foreach states
use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from flowstacks.errors import FlowstacksError
from flowstacks.local.deployment import Deployment, dag_settings, package_path
from flowstacks.local.services import boto_client
from flowstacks.render.serialize import compact_json

BUCKET_VARIABLES = ("METAFLOW_DATASTORE_SYSROOT_S3", "METAFLOW_DATATOOLS_S3ROOT",
                    "METAFLOW_CARD_S3ROOT", "METAFLOW_CODE_URL")


class Account:
    """boto3 clients of the emulated account (one region)."""

    def __init__(self, endpoint: str, region: str, account: str):
        self.endpoint, self.region, self.account = endpoint, region, account
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto_client(service, self.endpoint, self.region)
        return self._clients[service]


def _buckets(dep: Deployment) -> set[str]:
    buckets = {p.bucket for p in dep.packages} | {d.bucket for d in dep.dag_files}
    for dag in dep.dag_files:
        for values in dag_settings(dag.content, BUCKET_VARIABLES).values():
            buckets |= {v[len("s3://"):].split("/", 1)[0] for v in values if v.startswith("s3://")}
    for params in dep.task_parameters("arn:aws:states:::batch:"):
        for var in (params.get("ContainerOverrides") or {}).get("Environment") or []:
            value = var.get("Value")
            if var.get("Name") in BUCKET_VARIABLES and isinstance(value, str) and value.startswith("s3://"):
                buckets.add(value[len("s3://"):].split("/", 1)[0])
    return buckets


def _ensure(call: Callable[[], Any], exists: tuple[str, ...] = ()) -> Any:
    """Create once: accounts are shared by the stacks of one run-local."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in exists or "already" in str(exc).lower():
            return None
        raise


def _platform(acct: Account, dep: Deployment) -> None:
    s3, batch, iam, ddb = acct("s3"), acct("batch"), acct("iam"), acct("dynamodb")
    for bucket in sorted(_buckets(dep)):
        kwargs = {} if acct.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": acct.region}}
        _ensure(lambda: s3.create_bucket(Bucket=bucket, **kwargs),
                ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"))
    trust = compact_json({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    _ensure(lambda: iam.create_role(RoleName="flowstacks-local-batch-service",
                                    AssumeRolePolicyDocument=trust), ("EntityAlreadyExists",))
    ce_name = "flowstacks-local"
    ce = _ensure(lambda: batch.create_compute_environment(
        computeEnvironmentName=ce_name, type="UNMANAGED", state="ENABLED",
        serviceRole=f"arn:aws:iam::{acct.account}:role/flowstacks-local-batch-service"))
    ce_arn = ce["computeEnvironmentArn"] if ce else batch.describe_compute_environments(
        computeEnvironments=[ce_name])["computeEnvironments"][0]["computeEnvironmentArn"]
    existing = {q["jobQueueArn"] for q in batch.describe_job_queues()["jobQueues"]}
    for queue in sorted(dep.job_queues() - existing):
        batch.create_job_queue(jobQueueName=queue.rsplit("/", 1)[-1], state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_arn}])
    own = {r["inputs"]["name"] for r in dep.of_type("aws:dynamodb/table:Table")}
    for table in sorted(dep.dynamodb_tables() - own):
        # a shared table (dynamodb_table_layout 'shared'), created outside the stack:
        # Metaflow's documented table for Step Functions: key `pathspec` (S), TTL on `ttl`
        _ensure(lambda: ddb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pathspec", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pathspec", "AttributeType": "S"}]),
            ("ResourceInUseException",))


def _tables(acct: Account, dep: Deployment) -> None:
    """The stack's own foreach-state table (issue 16), from its manifest inputs."""
    ddb = acct("dynamodb")
    for res in dep.of_type("aws:dynamodb/table:Table"):
        i = res["inputs"]
        kwargs: dict[str, Any] = {
            "TableName": i["name"], "BillingMode": i.get("billingMode", "PROVISIONED"),
            "KeySchema": [{"AttributeName": i["hashKey"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]}
                                     for a in i.get("attributes") or []],
            "Tags": [{"Key": k, "Value": v} for k, v in (i.get("tags") or {}).items()]}
        if (i.get("serverSideEncryption") or {}).get("enabled"):
            kwargs["SSESpecification"] = {"Enabled": True}
        _ensure(lambda: ddb.create_table(**kwargs), ("ResourceInUseException",))
        ttl = i.get("ttl") or {}
        if ttl.get("enabled"):
            ddb.update_time_to_live(TableName=i["name"], TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["attributeName"]})


def _roles(acct: Account, dep: Deployment) -> None:
    iam = acct("iam")
    for res in dep.of_type("aws:iam/role:Role"):
        i = res["inputs"]
        tags = [{"Key": k, "Value": v} for k, v in (i.get("tags") or {}).items()]
        _ensure(lambda: iam.create_role(RoleName=i["name"], AssumeRolePolicyDocument=i["assumeRolePolicy"],
                                        Tags=tags), ("EntityAlreadyExists",))
    names = {r["name"]: r["inputs"]["name"] for r in dep.of_type("aws:iam/role:Role")}
    for res in dep.of_type("aws:iam/rolePolicy:RolePolicy"):
        i = res["inputs"]
        role = names.get(i["role"], i["role"])
        iam.put_role_policy(RoleName=role, PolicyName=i["name"], PolicyDocument=i["policy"])


def _job_definitions(acct: Account, dep: Deployment) -> None:
    batch = acct("batch")
    for res in dep.of_type("aws:batch/jobDefinition:JobDefinition"):
        i = res["inputs"]
        props = i.get("containerProperties")
        kwargs: dict[str, Any] = {
            "jobDefinitionName": i["name"], "type": i.get("type", "container"),
            "propagateTags": bool(i.get("propagateTags")), "tags": i.get("tags") or {}}
        if props:
            kwargs["containerProperties"] = json.loads(props) if isinstance(props, str) else props
        for key in ("retryStrategy", "timeout", "parameters", "platformCapabilities"):
            if i.get(key):
                kwargs[key] = json.loads(i[key]) if isinstance(i[key], str) else i[key]
        batch.register_job_definition(**kwargs)


def _packages(acct: Account, dep: Deployment, project_dir: Path) -> None:
    s3 = acct("s3")
    for pkg in dep.packages:
        path = package_path(project_dir, dep, pkg)
        if path is None:
            raise FlowstacksError(f"the code package file {pkg.asset} does not exist",
                                  where=f"{dep.stack}: {pkg.logical}")
        s3.put_object(Bucket=pkg.bucket, Key=pkg.key, Body=path.read_bytes(),
                      ContentType="application/gzip")


def _objects(acct: Account, dep: Deployment) -> None:
    """Objects the stack writes from inline content: the uploaded ``IncludeFile`` defaults."""
    s3 = acct("s3")
    for obj in dep.objects:
        s3.put_object(Bucket=obj.bucket, Key=obj.key, Body=obj.body, ContentType="application/gzip")


def _dag_files(acct: Account, dep: Deployment) -> None:
    """Into the DAGs bucket, which Airflow's DAG processor syncs its DAGs folder from."""
    s3 = acct("s3")
    for dag in dep.dag_files:
        s3.put_object(Bucket=dag.bucket, Key=dag.key, Body=dag.content.encode("utf-8"),
                      ContentType="text/x-python")


def put_secrets(acct: Account, secrets: dict[str, Any]) -> None:
    """Secrets Manager secrets a platform team keeps outside the stack (``@secrets`` sources)."""
    client = acct("secretsmanager")
    for name, value in sorted(secrets.items()):
        text = value if isinstance(value, str) else compact_json(value)
        _ensure(lambda: client.create_secret(Name=name, SecretString=text), ("ResourceExistsException",))


def _state_machines(acct: Account, dep: Deployment) -> None:
    sfn = acct("stepfunctions")
    for res in dep.of_type("aws:sfn/stateMachine:StateMachine"):
        i = res["inputs"]
        tags = [{"key": k, "value": v} for k, v in (i.get("tags") or {}).items()]
        sfn.create_state_machine(name=i["name"], definition=i["definition"], roleArn=i["roleArn"],
                                 type=i.get("type", "STANDARD"), tags=tags)


def _rules(acct: Account, dep: Deployment) -> None:
    events = acct("events")
    for rule in dep.rules:
        kwargs: dict[str, Any] = {"Name": rule.name, "Description": rule.description, "State": "ENABLED"}
        if rule.schedule:
            kwargs["ScheduleExpression"] = rule.schedule
        if rule.pattern:
            kwargs["EventPattern"] = rule.pattern
        events.put_rule(**kwargs)
        targets = []
        for t in rule.targets:
            target = {"Id": t.target_id, "Arn": t.arn}
            if t.input is not None:
                target["Input"] = t.input
            if t.input_transformer is not None:
                target["InputTransformer"] = {
                    "InputPathsMap": t.input_transformer.get("inputPaths") or {},
                    "InputTemplate": t.input_transformer["inputTemplate"]}
            if t.role_arn:
                target["RoleArn"] = t.role_arn
            targets.append(target)
        if targets:
            events.put_targets(Rule=rule.name, Targets=targets)


def provision(acct: Account, dep: Deployment, project_dir: Path) -> None:
    """Everything the stack and its platform need, in dependency order."""
    _platform(acct, dep)
    _tables(acct, dep)
    _roles(acct, dep)
    _job_definitions(acct, dep)
    _packages(acct, dep, project_dir)
    _objects(acct, dep)
    _dag_files(acct, dep)
    _state_machines(acct, dep)
    _rules(acct, dep)
