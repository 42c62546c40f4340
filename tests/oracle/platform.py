"""The platform half of the oracle: a stand-in Metaflow metadata service, the Metaflow settings
a real deployment has (metadata service, auth key, secrets backend, S3 encryption, Airflow
connection), and flowstacks' stack context for the same Metaflow config.

The context's platform is resolved by flowstacks' own loader (``flowstacks.load.platform``)
from the very environment the oracle's deployer subprocess gets, with the flowstacks config's
own platform settings left out: so the comparison also proves that flowstacks reads the Metaflow
config as Metaflow's deployer does.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Mapping

from flowstacks.model.deployment import StackContext
from flowstacks.model.platform import Platform, namespace_datastore_root
from flowstacks.render.serialize import metaflow_json

AUTH_KEY = "oracle-auth-key"
# What the tasks reach the service at (SERVICE_INTERNAL_URL): a different URL than the deployer's.
INTERNAL_URL = "http://metaflow-service.metaflow.svc:8080/"
SERVICE_VERSION = "2.5.0"  # the deployers refuse a service older than 2.0.2


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requests.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        self.send_response(200 if self.path.endswith("/ping") else 404)
        self.send_header("METADATA_SERVICE_VERSION", SERVICE_VERSION)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def fake_metadata_service() -> Iterator[tuple[str, list]]:
    """A metadata service on 127.0.0.1 that answers ``/ping`` (the version check of
    ``step-functions create``); yields its URL and the requests it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def service_env(service_url: str, **extra: str) -> dict[str, str]:
    """The Metaflow settings of a real deployment, as a team's Metaflow config holds them."""
    return {
        "METAFLOW_DEFAULT_METADATA": "service",
        "METAFLOW_SERVICE_URL": service_url,
        "METAFLOW_SERVICE_INTERNAL_URL": INTERNAL_URL,
        "METAFLOW_SERVICE_AUTH_KEY": AUTH_KEY,
        "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE": "aws-secrets-manager",
        "METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION": "eu-west-1",
        "METAFLOW_S3_SERVER_SIDE_ENCRYPTION": "aws:kms",
        **extra,
    }


def with_metaflow_platform(ctx: StackContext, env: Mapping[str, str], home: Path) -> StackContext:
    """``ctx`` with what flowstacks resolves from the Metaflow config ``env`` (an empty ``home``
    as METAFLOW_HOME) when its own config sets no platform: the runtime settings, the
    aws/kubernetes/airflow values that config decided, and the service headers the Pulumi
    program writes with the auth key secret (flowstacks:serviceAuthKey)."""
    from flowstacks.load.platform import stack_platform

    bare = ctx.config.model_copy(update={"platform": Platform(), "platform_overrides": {}})
    effective, platform = stack_platform(bare, ctx.stack, home,
                                         {**env, "METAFLOW_HOME": str(home)})
    config = ctx.config
    for target, source in platform.sources.items():  # what the Metaflow config decided
        section, _, name = target.partition(".")
        if source.startswith("METAFLOW_") and section in ("aws", "kubernetes", "airflow"):
            value = getattr(getattr(effective, section), name)
            config = config.model_copy(update={
                section: getattr(config, section).model_copy(update={name: value})})
    # the namespace's own datastore root, as flowstacks derives it from the class root (issue
    # 16): whichever config set the class root, the stack's tasks use <class root>/<branch>
    config = config.model_copy(update={"aws": config.aws.model_copy(
        update={"datastore_root": effective.aws.datastore_root})})
    headers = {"x-api-key": env["METAFLOW_SERVICE_AUTH_KEY"]} \
        if env.get("METAFLOW_SERVICE_AUTH_KEY") else {}
    return ctx.model_copy(update={"config": config, "platform": platform,
                                  "service_headers": metaflow_json(headers)})


def namespace_root_env(branch_name: str, deploy_env: Mapping[str, str]) -> dict[str, str]:
    """The Metaflow config under which Metaflow's own deployer uses the namespace's datastore
    root, the one flowstacks gives the stack (issue 16: ``<class root>/<branch name>``). The
    oracle's deployer gets it on top of its config; flowstacks reads the class root from the
    same config and adds the branch itself, so the comparison also checks that step."""
    return {"METAFLOW_DATASTORE_SYSROOT_S3": namespace_datastore_root(
        deploy_env["METAFLOW_DATASTORE_SYSROOT_S3"], branch_name)}


def namespace_table_env(project: str, branch_name: str) -> dict[str, str]:
    """The Metaflow config under which Metaflow's own Step Functions deployer uses the foreach-state
    table flowstacks gives the stack (issue 16: every stack creates its own,
    ``<project>.<branch>.sfn-state``), so the table names in the two definitions are compared as
    equal points rather than both coming from one shared setting."""
    from flowstacks.naming.namespace import sfn_state_table_name

    return {"METAFLOW_SFN_DYNAMO_DB_TABLE": sfn_state_table_name(project, branch_name)}
