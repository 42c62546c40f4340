"""The emulated cloud's processes on loopback: the moto server and the metadata service.

Each is a child process of run-local, started on a free loopback port and ended (by its own
process id) when run-local ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.local.instance_metadata import proxy_environment
from flowstacks.render.serialize import compact_json

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen
    log: Path
    plumbing: dict[str, str] = field(default_factory=dict)  # what a task needs to reach it

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(service: Service, probe: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(service.url + probe, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    service.stop()
    raise FlowstacksError(f"{service.name} did not start on {service.url}",
                          where="flowstacks run-local", hint=service.log_tail() or None)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a service process: this one's, without AWS or Metaflow settings that
    would point it elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "METAFLOW_", "MOTO_"))}
    env.update(extra or {})
    return env


def task_plumbing(url: str, metadata_port: int, extra: dict[str, str]) -> dict[str, str]:
    """The variables every task process (Batch container or pod) gets on top of its own, as the
    cloud's endpoints would be reached: ``extra`` (the metadata service), the proxy that keeps
    requests on loopback, fake credentials, the moto server as every AWS endpoint."""
    return {**extra, **proxy_environment(metadata_port), **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": url, "METAFLOW_S3_ENDPOINT_URL": url}


def start_moto(work: Path, region: str, account: str, image_path: str, plumbing: dict[str, str],
               capacity: int = 0, timeout: float = 60) -> Service:
    """moto's server with run-local's hooks (:mod:`flowstacks.local.moto_hooks`) and the
    instance metadata stand-in every task process uses as its proxy."""
    port, metadata_port = free_port(), free_port()
    containers = work / "containers"
    containers.mkdir(parents=True, exist_ok=True)
    config = work / "moto.json"
    url = f"http://127.0.0.1:{port}"
    task_env = task_plumbing(url, metadata_port, plumbing)
    config.write_text(compact_json({
        "port": port, "metadata_port": metadata_port, "region": region, "account": account,
        "containers": str(containers), "path": image_path,
        "capacity": capacity or max(2, os.cpu_count() or 2), "plumbing": task_env,
    }), encoding="utf-8")
    log = work / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flowstacks.local.moto_hooks", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=child_env(FAKE_CREDENTIALS))
    service = Service("moto server", url, proc, log, task_env)
    _wait_ready(service, "/moto-api/", timeout)
    return service


def start_metadata_service(work: Path, timeout: float = 60) -> Service:
    """metaflow-local-service (PyPI) on loopback, storing under ``work/metadata/.metaflow``."""
    port = free_port()
    root = work / "metadata"
    root.mkdir(parents=True, exist_ok=True)
    log = work / "metadata.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowstacks.local.metadata_service", str(root), str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=child_env())
    service = Service("metadata service", f"http://127.0.0.1:{port}", proc, log)
    _wait_ready(service, "/ping", timeout)
    return service


def boto_client(service: str, endpoint: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        aws_session_token="testing",
                        config=Config(retries={"max_attempts": 2}, read_timeout=120))
