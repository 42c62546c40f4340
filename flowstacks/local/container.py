"""A local-process stand-in for the Docker engine moto's AWS Batch runs jobs with.

moto's ``batch.models.Job.run`` drives a job's whole life (SUBMITTED ... RUNNING, the attempt
timeout, CloudWatch logs, SUCCEEDED/FAILED from the exit code) and starts its container through
``self.docker_client.containers.run(...)``. :class:`LocalEngine` is that client: the container's
command runs as a local process with the container's environment, in a fresh folder that is the
container's working directory. What AWS Batch itself does around a container and moto does not
(``RetryStrategy`` attempts, ``AWS_BATCH_JOB_ATTEMPT``, ``AWS_BATCH_CE_NAME``...) is done here.

This module runs inside the moto server process (see :mod:`flowstacks.local.moto_hooks`).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

LOG_TAIL = 4000  # lines kept per stream per container: enough for any failing step's trace


@dataclass
class Image:
    """What the job definition's image stands for on this machine, and the emulator's plumbing.

    ``path`` is the ``PATH`` of the emulated image (the host Python that has Metaflow's task
    dependencies first); ``plumbing`` are variables a task needs to reach the emulated services
    (endpoints, credentials): they win over the deployment's values of the same name, as the
    real endpoints would be reached in the cloud."""

    root: Path
    path: str
    plumbing: dict[str, str] = field(default_factory=dict)
    compute_environment: str = "flowstacks-local"
    metadata_url: str = ""  # ECS_CONTAINER_METADATA_URI_V4 without the job id
    capacity: int = 2  # containers the compute environment runs at once; the others wait
    slots: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(max(1, self.capacity))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LocalContainer:
    """One Batch job's container: its command run once per attempt (Batch's ``RetryStrategy``),
    each attempt in a fresh folder, until one exits 0 or the attempts are used up."""

    attrs = {"NetworkSettings": {"Networks": {}, "IPAddress": "127.0.0.1"}}

    def __init__(self, image: Image, job: Any, command: list[str], environment: dict[str, str],
                 name: str):
        self.image, self.job, self.command, self.name = image, job, list(command), name
        self.environment = dict(environment)
        self.status = "created"
        self.exit_code: int | None = None
        self.folders: list[Path] = []
        self.cpu_seconds = 0.0
        self._lines: list[tuple[str, str, str]] = []  # (timestamp, stream, text)
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._killed = False
        self._thread = threading.Thread(target=self._run_attempts, daemon=True, name=name)

    # -- what moto's Job.run calls --------------------------------------------------------------
    def start(self) -> None:
        self.status = "running"
        self._thread.start()

    def reload(self) -> None:
        """Docker refreshes ``status`` here; ours is kept current by the attempt thread."""

    def logs(self, stdout: bool = True, stderr: bool = True, timestamps: bool = False,
             since: Any = None) -> bytes:
        wanted = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
        with self._lock:
            lines = [(ts, text) for ts, stream, text in self._lines if stream in wanted]
        return "".join(f"{ts} {text}\n" if timestamps else f"{text}\n" for ts, text in lines
                       ).encode("utf-8", "replace")

    def wait(self) -> dict[str, int]:
        self._thread.join()
        return {"StatusCode": self.exit_code if self.exit_code is not None else 1}

    def kill(self) -> None:
        self._killed = True
        proc = self._process
        if proc is not None and proc.poll() is None:
            try:  # the command is `bash -c ...` with children: end the whole process group
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self) -> None:
        """The folders stay until run-local cleans its work root: they are the evidence."""

    # -- the attempts ---------------------------------------------------------------------------
    def attempts(self) -> int:
        """Batch's ``RetryStrategy.attempts``: the one SubmitJob gave, else the job definition's.
        Read after each attempt, not once: moto starts the job's thread inside SubmitJob, before
        the hook that records the submitted strategy has run (a run found a step with
        ``@retry`` run once on a loaded machine)."""
        strategy = getattr(self.job, "flowstacks_retry_strategy", None) or getattr(
            getattr(self.job, "job_definition", None), "retry_strategy", None) or {}
        try:
            return max(1, min(10, int(strategy.get("attempts") or 1)))  # Batch allows 1..10
        except (TypeError, ValueError):
            return 1

    def attempt_env(self, attempt: int, folder: Path) -> dict[str, str]:
        """The container's environment for one attempt: image defaults, then the job's own
        variables, then what Batch and ECS inject, then the emulator's plumbing."""
        queue = getattr(getattr(self.job, "job_queue", None), "name", "")
        env = {"PATH": self.image.path, "HOME": str(folder / ".home"), "LANG": "C.UTF-8"}
        env.update(self.environment)
        env.update({
            "AWS_BATCH_JOB_ID": self.job.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(attempt),
            "AWS_BATCH_CE_NAME": self.image.compute_environment,
            "AWS_BATCH_JQ_NAME": queue,
            "AWS_EXECUTION_ENV": "AWS_ECS_EC2",
        })
        if self.image.metadata_url:
            env["ECS_CONTAINER_METADATA_URI_V4"] = self.image.metadata_url + self.job.job_id
        env.update(self.image.plumbing)
        return env

    def _record(self, stream: str, lines: Iterable[bytes]) -> None:
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self._lines.append((_now(), stream, text))
                if len(self._lines) > 2 * LOG_TAIL:
                    del self._lines[:len(self._lines) - 2 * LOG_TAIL]

    def _run_once(self, attempt: int) -> int:
        folder = Path(tempfile.mkdtemp(prefix=f"{self.name[:60]}-a{attempt}-", dir=self.image.root))
        (folder / ".home").mkdir()
        self.folders.append(folder)
        self._record("stderr", [f"[flowstacks run-local] attempt {attempt} in {folder}".encode()])
        self._process = proc = subprocess.Popen(
            self.command, cwd=folder, env=self.attempt_env(attempt, folder),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        readers = [threading.Thread(target=self._record, args=(name, stream), daemon=True)
                   for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))]
        for reader in readers:
            reader.start()
        _pid, status, usage = os.wait4(proc.pid, 0)  # the rusage of the whole process tree
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        for reader in readers:
            reader.join()
        self.cpu_seconds += usage.ru_utime + usage.ru_stime
        self._record("stderr", [f"[flowstacks run-local] attempt {attempt} exited {code} "
                                f"(cpu {usage.ru_utime + usage.ru_stime:.1f}s)".encode()])
        return code

    def _run_attempts(self) -> None:
        code = 1
        try:
            attempt = 0
            while attempt < self.attempts():
                attempt += 1
                if attempt > 1:
                    self._note_retry(attempt, code)
                with self.image.slots:  # as a compute environment at its maxvCpus: wait
                    code = self._run_once(attempt)
                if code == 0 or self._killed:
                    break
        except Exception as exc:  # noqa: BLE001 - a container that cannot start fails its job
            self._record("stderr", [f"[flowstacks run-local] cannot run: {exc}".encode()])
            code = 127
        finally:
            self.exit_code = code
            self.status = "exited"

    def _note_retry(self, attempt: int, previous_code: int) -> None:
        """Batch lists every attempt in DescribeJobs; moto starts one, so record the retries."""
        attempts = getattr(self.job, "attempts", None)
        if isinstance(attempts, list):
            if attempts:
                attempts[-1].setdefault("container", {})["exitCode"] = previous_code
            record = {"container": {}, "startedAt": int(dt.datetime.now().timestamp() * 1000)}
            attempts.append(record)
            self.job.latest_attempt = record  # moto stamps stoppedAt on the latest one
        self._record("stderr", [f"[flowstacks run-local] Batch retries the job: attempt {attempt} "
                                f"(attempt {attempt - 1} exited {previous_code})".encode()])


class _Containers:
    def __init__(self, engine: "LocalEngine"):
        self.engine = engine

    def run(self, image: str = "", command: Any = None, environment: dict | None = None,
            name: str = "", detach: bool = True, **_ignored: Any) -> LocalContainer:
        """``docker run -d``: mounts, networks and log drivers have no meaning for a process."""
        if isinstance(command, str):
            command = ["/bin/sh", "-c", command]
        container = LocalContainer(self.engine.image, self.engine.job, command or [],
                                   environment or {}, name or self.engine.job.job_id)
        self.engine.job.flowstacks_containers = [
            *getattr(self.engine.job, "flowstacks_containers", []), container]
        container.start()
        return container


class LocalEngine:
    """The ``docker_client`` of one moto Batch job."""

    def __init__(self, image: Image, job: Any):
        self.image, self.job = image, job
        self.containers = _Containers(self)
