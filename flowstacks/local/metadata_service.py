"""Metaflow's metadata service on loopback: ``metaflow-local-service`` (PyPI) and a shim.

``python -m flowstacks.local.metadata_service ROOT PORT`` serves the package's FastAPI app (it
speaks Metaflow's service API, version 2.5.0, and stores in Metaflow's local format under
``ROOT/.metaflow``).

The shim (:class:`ServiceGaps`) answers the requests metaflow-local-service 0.2.0 gets wrong,
through the package's own store, and passes everything else to the package:

- **client-chosen ids**: the package always assigns run and task ids itself
  (``store.create_run`` / ``store.create_task`` ignore the request's ``run_number`` and
  ``task_id``). Metaflow's own service (Netflix/metaflow-service) registers the id the client
  chose, and every orchestrator chooses its ids: Step Functions runs are ``sfn-<execution>``,
  tasks the Batch job id. Without the shim such a run is stored under a number nobody asks for,
  and its tasks fail (HTTP 500, "Could not find run").
- **one artifact** (``GET .../tasks/T/artifacts/NAME[/attempt/N]``) has no route in the package
  (404), so ``task["_success"]``, hence ``Run.successful`` and ``Run.finished``, are always False.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Awaitable, Callable

from flowstacks.render.serialize import compact_json

RUN_CREATE = re.compile(r"^/flows/(?P<flow>[^/]+)/run$")
TASK_CREATE = re.compile(r"^/flows/(?P<flow>[^/]+)/runs/(?P<run>[^/]+)/steps/(?P<step>[^/]+)/task$")
ARTIFACT_GET = re.compile(r"^/flows/(?P<flow>[^/]+)/runs/(?P<run>[^/]+)/steps/(?P<step>[^/]+)"
                          r"/tasks/(?P<task>[^/]+)/artifacts/(?P<name>[^/]+)(?:/attempt/(?P<attempt>\d+))?$")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _chosen(value: Any) -> str | None:
    """An id the client chose and the package would replace (ids that are integers came from a
    service in the first place, Metaflow never registers those)."""
    if value is None:
        return None
    text = str(value)
    return None if text.isdigit() else text


def create_run(flow: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Register the run under the client's ``run_number``: 201, or 409 if it exists."""
    from metaflow_local_service import store

    provider = store._local()
    store.get_or_create_flow(flow, body)
    run_id = str(body["run_number"])
    existing = provider.get_object("run", "self", {}, None, flow, run_id)
    if existing:
        return 409, existing
    record = store._build_run_record(flow, run_id, body)
    provider._save_meta(provider._create_and_get_metadir(flow, run_id), {"_self": record})
    return 201, record


def create_task(flow: str, run: str, step: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Register the task under the client's ``task_id``: 201, or 409 if it exists."""
    from metaflow_local_service import store

    provider = store._local()
    store.get_or_create_step(flow, run, step, body)
    task_id = str(body["task_id"])
    existing = provider.get_object("task", "self", {}, None, flow, run, step, task_id)
    if existing:
        return 409, existing
    record = store._build_task_record(flow, run, step, task_id, body)
    provider._save_meta(provider._create_and_get_metadir(flow, run, step, task_id), {"_self": record})
    return 201, record


def get_artifact(flow: str, run: str, step: str, task: str, name: str,
                 attempt: str | None) -> tuple[int, dict[str, Any]]:
    """One artifact of a task: of the attempt asked for, else of the latest attempt."""
    from metaflow_local_service import store

    found = [a for a in store.get_artifacts(flow, run, step, task, int(attempt) if attempt else None)
             if a.get("name") == name]
    if not found:
        return 404, {"detail": "Artifact not found"}
    return 200, max(found, key=lambda a: int(a.get("attempt_id") or 0))


class ServiceGaps:
    """ASGI wrapper: the requests the package gets wrong (module docstring), then its app."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and scope.get("method") == "GET":
            match = ARTIFACT_GET.match(scope.get("path", ""))
            if match:
                return await _respond(send, *get_artifact(**match.groupdict()))
        if scope.get("type") != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        run_match, task_match = RUN_CREATE.match(path), TASK_CREATE.match(path)
        if not run_match and not task_match:
            return await self.app(scope, receive, send)
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if isinstance(body, dict) and run_match and _chosen(body.get("run_number")):
            return await _respond(send, *create_run(run_match["flow"], body))
        if isinstance(body, dict) and task_match and _chosen(body.get("task_id")):
            return await _respond(send, *create_task(task_match["flow"], task_match["run"],
                                                     task_match["step"], body))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    data = compact_json(payload).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def main(argv: list[str]) -> int:
    """``python -m flowstacks.local.metadata_service ROOT PORT``: serve until terminated."""
    import uvicorn
    from metaflow_local_service.server import create_app

    root, port = argv[0], int(argv[1])
    uvicorn.run(ServiceGaps(create_app(root)), host="127.0.0.1", port=port,
                log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
