"""What a user's notebook sees of the runs: the Metaflow client, in a process of its own.

``python -m flowstacks.local.client_check REQUEST.json`` prints one JSON answer. Per run it asks
the client, through the metadata service, in the stack's namespace
(``namespace("production:<token>")``): is the run there, with which tags, is it successful, what
is ``Flow(...).latest_run``, and the ``end`` step's artifacts; and whether the run shows in the
other namespaces named. Independently of the metadata, it reads the ``end`` task's artifacts
straight from the S3 datastore at ``<root>/<Flow>/<run>/<step>/<task>`` (the task id is the
Batch job id the execution history shows), so artifact values are checked even when the client
cannot find a run.

Metaflow reads its configuration when it is imported, which is why this runs in its own process
with the emulated cloud's endpoints in the environment (see :func:`client_environment`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from flowstacks.render.serialize import compact_json

MAX_REPR = 300


def client_environment(service_url: str | None, s3_endpoint: str, region: str, home: str
                       ) -> dict[str, str]:
    """The notebook's environment: the emulated endpoints (loopback), fake credentials, no user
    config (``HOME`` is a fresh folder)."""
    env = {"HOME": home, "USER": "flowstacks-local", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": region, "METAFLOW_S3_ENDPOINT_URL": s3_endpoint,
           "AWS_ENDPOINT_URL": s3_endpoint, "METAFLOW_DEFAULT_DATASTORE": "s3",
           "AWS_EC2_METADATA_DISABLED": "true"}
    if service_url:
        env.update({"METAFLOW_SERVICE_URL": service_url, "METAFLOW_DEFAULT_METADATA": "service"})
    return env


def _values(items: Any) -> dict[str, str]:
    out = {}
    for name, value in items:
        if name.startswith("_"):
            continue
        text = repr(value)
        out[name] = text if len(text) <= MAX_REPR else text[:MAX_REPR] + "..."
    return out


def _client(run: dict[str, Any]) -> dict[str, Any]:
    from metaflow import Flow, Run, namespace
    from metaflow.exception import MetaflowNamespaceMismatch, MetaflowNotFound

    pathspec = f"{run['flow']}/{run['run_id']}"
    answer: dict[str, Any] = {"found": False}
    try:
        namespace(run["namespace"])
        found = Run(pathspec)
        answer.update(found=True, tags=sorted(found.tags), system_tags=sorted(found.system_tags),
                      successful=bool(found.successful), finished=bool(found.finished))
        try:
            answer["latest_run"] = Flow(run["flow"]).latest_run.pathspec
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            answer["latest_run_error"] = f"{type(exc).__name__}: {exc}"
        try:
            answer["artifacts"] = _values((a.id, a.data) for a in found["end"].task)
        except Exception as exc:  # noqa: BLE001
            answer["artifacts_error"] = f"{type(exc).__name__}: {exc}"
    except (MetaflowNotFound, MetaflowNamespaceMismatch) as exc:
        answer["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a service that cannot answer is a finding too
        answer["error"] = f"{type(exc).__name__}: {exc}"
    visible = {}
    for other in run.get("other_namespaces", []):
        try:
            namespace(other)
            Run(pathspec)
            visible[other] = True
        except Exception:  # noqa: BLE001 - not found / not in namespace
            visible[other] = False
    answer["visible_in_other_namespaces"] = visible
    return answer


def _datastore(run: dict[str, Any], root: str) -> dict[str, Any]:
    from metaflow.datastore import FlowDataStore
    from metaflow.plugins.datastores.s3_storage import S3Storage

    if not run.get("end_task"):
        return {"error": "no end task in the execution"}
    try:
        flow_ds = FlowDataStore(run["flow"], storage_impl=S3Storage, ds_root=root)
        task = flow_ds.get_task_datastore(run["run_id"], "end", run["end_task"], mode="r")
        return {"location": f"{root}/{run['flow']}/{run['run_id']}/end/{run['end_task']}",
                "artifacts": _values((name, task[name]) for name, _sha in task.items())}
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}


def check(request: dict[str, Any]) -> dict[str, Any]:
    """Answer every run of ``request`` (see the module docstring)."""
    answers = []
    for run in request["runs"]:
        entry: dict[str, Any] = {"flow": run["flow"], "run_id": run["run_id"]}
        if request.get("service_url"):
            entry["client"] = _client(run)
        if run.get("datastore_root"):
            entry["datastore"] = _datastore(run, run["datastore_root"])
        answers.append(entry)
    return {"runs": answers}


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    print(compact_json(check(request)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
