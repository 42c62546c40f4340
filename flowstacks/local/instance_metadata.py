"""The instance and container metadata endpoints a Batch container reaches, on loopback.

A task on AWS Batch asks the EC2 instance metadata service (``169.254.169.254``) for its instance
identity and spot status, and the ECS agent (``ECS_CONTAINER_METADATA_URI_V4``) for its log
stream. Here every task process is given this server as its HTTP(S) proxy (loopback excepted), so
those requests are answered as on an on-demand instance and no request of a task leaves the
machine: anything else is refused with 403 and recorded (a task that needs the internet is a
finding, not something to let through).
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from flowstacks.render.serialize import compact_json

IMDS_HOST = "169.254.169.254"
REFUSED = "flowstacks run-local refused:"  # the log line run-local reports
ECS_PREFIX = "/ecs/v4/"


class _Handler(BaseHTTPRequestHandler):
    server: "MetadataServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the moto log stays readable; refusals are recorded separately

    def _send(self, code: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self) -> None:
        url = urlsplit(self.path)
        host = url.hostname or ""
        if not host and url.path.startswith(ECS_PREFIX):
            job_id = url.path[len(ECS_PREFIX):].strip("/")
            self._send(200, compact_json(self.server.container_metadata(job_id)), "application/json")
        elif host == IMDS_HOST:
            code, body = self.server.instance_metadata(self.command, url.path)
            self._send(code, body, "application/json" if body.startswith("{") else "text/plain")
        else:
            self.server.refuse(f"{self.command} {self.path}")
            self._send(403, f"flowstacks run-local: {self.path} is outside the emulated cloud "
                            "(tasks reach loopback only)")

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def do_CONNECT(self) -> None:  # noqa: N802 - https through a proxy: refused, recorded
        self.server.refuse(f"CONNECT {self.path}")
        self._send(403, "flowstacks run-local: no network beyond loopback")


class MetadataServer(ThreadingHTTPServer):
    """Answers IMDS (on-demand instance) and the ECS task metadata of each Batch job."""

    daemon_threads = True

    def __init__(self, port: int, region: str, log_stream: Callable[[str], str]):
        super().__init__(("127.0.0.1", port), _Handler)
        self.region = region
        self.log_stream = log_stream
        self.refused: list[str] = []

    def refuse(self, request: str) -> None:
        self.refused.append(request)
        print(f"{REFUSED} {request}", file=sys.stderr, flush=True)

    def instance_metadata(self, method: str, path: str) -> tuple[int, str]:
        answers = {
            ("PUT", "/latest/api/token"): "flowstacks-local-imds-token",
            ("GET", "/latest/meta-data/instance-life-cycle"): "on-demand",
            ("GET", "/latest/dynamic/instance-identity/document"): compact_json({
                "instanceId": "i-0f10wstac6510ca1", "instanceType": "local.emulated",
                "region": self.region, "availabilityZone": f"{self.region}a"}),
        }
        body = answers.get((method, path.rstrip("/")))
        return (200, body) if body is not None else (404, "Not Found")

    def container_metadata(self, job_id: str) -> dict[str, Any]:
        return {"DockerId": job_id, "Name": job_id, "LogDriver": "awslogs", "LogOptions": {
            "awslogs-group": "/aws/batch/job", "awslogs-region": self.region,
            "awslogs-stream": self.log_stream(job_id)}}

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True, name="instance-metadata")
        thread.start()
        return thread


def proxy_environment(port: int) -> dict[str, str]:
    """What makes a task's HTTP clients (requests, boto3, pip) go through the server, loopback
    excepted, and keeps botocore off IMDS for credentials."""
    proxy = f"http://127.0.0.1:{port}"
    no_proxy = "127.0.0.1,localhost"
    return {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
            "NO_PROXY": no_proxy, "no_proxy": no_proxy, "AWS_EC2_METADATA_DISABLED": "true"}
