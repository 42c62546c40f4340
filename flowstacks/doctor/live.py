"""``flowstacks doctor --live``: ask AWS whether each prerequisite exists and is as Metaflow
needs it (read-only calls: Head/Describe/Get). Credentials, region and endpoint come from the
usual AWS environment (``AWS_PROFILE``, ``AWS_ENDPOINT_URL``...); the calls use the stack's
region. Kubernetes, Argo and Airflow objects need cluster access and are reported as not
checked here."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

from flowstacks.doctor.prereqs import TABLE_HASH_KEY, TABLE_TTL_ATTRIBUTE, Prerequisite
from flowstacks.errors import FlowstacksError

OK, MISSING, WRONG, UNCHECKED = "ok", "missing", "wrong", "not checked"


@dataclass(frozen=True)
class Finding:
    prerequisite: Prerequisite
    status: str  # OK, MISSING, WRONG or UNCHECKED
    detail: str


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise FlowstacksError("--live needs boto3", where="flowstacks doctor",
                              hint="pip install 'flowstacks[local]'") from None
    return boto3


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


_NOT_FOUND = {"404", "NoSuchBucket", "NotFound", "ResourceNotFoundException", "NoSuchEntity",
              "NotFoundException"}


class LiveChecker:
    """Checks prerequisites with one boto3 session (clients made on first use)."""

    def __init__(self, region: str, session: Any = None, timeout: float = 5.0):
        self.session = session or _boto3().Session(region_name=region)
        self.region = region
        self.timeout = timeout
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)
        return self._clients[service]

    def check(self, item: Prerequisite) -> Finding:
        method: Callable[[Prerequisite], tuple[str, str]] | None = getattr(
            self, "_" + item.kind.replace("-", "_"), None)
        if method is None:
            return Finding(item, UNCHECKED, "needs access to the cluster or Airflow: check it "
                           "there")
        try:
            status, detail = method(item)
        except Exception as exc:  # an AWS error is a finding, not a crash
            code = _error_code(exc)
            if code in _NOT_FOUND:
                return Finding(item, MISSING, f"not found ({code})")
            return Finding(item, WRONG if code != "AccessDenied" else UNCHECKED,
                           f"{code}: {exc}".splitlines()[0][:300])
        return Finding(item, status, detail)

    # -- one method per kind ------------------------------------------------------------------
    def _s3_bucket(self, item: Prerequisite) -> tuple[str, str]:
        self.client("s3").head_bucket(Bucket=item.name)
        return OK, "exists"

    def _dynamodb_table(self, item: Prerequisite) -> tuple[str, str]:
        ddb = self.client("dynamodb")
        table = ddb.describe_table(TableName=item.name)["Table"]
        hash_keys = [k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        problems = []
        if hash_keys != [TABLE_HASH_KEY] or types.get(TABLE_HASH_KEY) != "S":
            problems.append(f"hash key is {hash_keys[0] if hash_keys else 'none'} "
                            f"({types.get(hash_keys[0], '?') if hash_keys else '-'}), Metaflow "
                            f"writes items keyed by '{TABLE_HASH_KEY}' (S)")
        if any(k["KeyType"] == "RANGE" for k in table["KeySchema"]):
            problems.append("has a range key; Metaflow's items have none")
        ttl = ddb.describe_time_to_live(TableName=item.name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING") or \
                ttl.get("AttributeName") != TABLE_TTL_ATTRIBUTE:
            problems.append(f"TTL is not enabled on '{TABLE_TTL_ATTRIBUTE}' (items would never "
                            "expire)")
        return (WRONG, "; ".join(problems)) if problems else (OK, "schema as Metaflow needs")

    def _batch_job_queue(self, item: Prerequisite) -> tuple[str, str]:
        queues = self.client("batch").describe_job_queues(jobQueues=[item.name])["jobQueues"]
        if not queues:
            return MISSING, "no such job queue"
        queue = queues[0]
        if queue.get("state") != "ENABLED" or queue.get("status") != "VALID":
            return WRONG, f"state {queue.get('state')}, status {queue.get('status')}"
        if not queue.get("computeEnvironmentOrder"):
            return WRONG, "no compute environment"
        return OK, "enabled and valid"

    def _event_bus(self, item: Prerequisite) -> tuple[str, str]:
        self.client("events").describe_event_bus(Name=item.name)
        return OK, "exists"

    def _secret(self, item: Prerequisite) -> tuple[str, str]:
        # the pattern's -?????? stands for the suffix; Secrets Manager finds a secret by name
        arn = item.name
        secret_id = arn.split(":secret:", 1)[1].removesuffix("-??????")
        region = arn.split(":")[3]
        sm = self.session.client("secretsmanager", region_name=region)
        found = sm.describe_secret(SecretId=secret_id)
        return OK, f"exists ({found['ARN']})"

    def _kms_key(self, item: Prerequisite) -> tuple[str, str]:
        meta = self.client("kms").describe_key(KeyId=item.name)["KeyMetadata"]
        if not meta.get("Enabled"):
            return WRONG, f"key state {meta.get('KeyState')}"
        return OK, "enabled"

    def _iam_role(self, item: Prerequisite) -> tuple[str, str]:
        self.client("iam").get_role(RoleName=item.name.rsplit("/", 1)[-1])
        return OK, "exists"

    def _oidc_provider(self, item: Prerequisite) -> tuple[str, str]:
        self.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=item.name)
        return OK, "registered"

    def _metadata_service(self, item: Prerequisite) -> tuple[str, str]:
        url = item.name.rstrip("/") + "/ping"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                return OK, f"GET {url}: {response.status}"
        except urllib.error.HTTPError as exc:
            return WRONG, f"GET {url}: HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return MISSING, f"GET {url}: {getattr(exc, 'reason', exc)}"


def check_all(items: list[Prerequisite], region: str, session: Any = None) -> list[Finding]:
    checker = LiveChecker(region, session)
    return [checker.check(item) for item in items]
