"""The moto server run-local talks to, with what moto 5.2.5 lacks for a deployed flow to run.

``python -m flowstacks.local.moto_hooks CONFIG.json`` starts moto's server on loopback after
installing these hooks (each names the moto gap it fills):

- **Step Functions executes** (moto's own setting ``stepfunctions.execute_state_machine``: its
  port of LocalStack's ASL interpreter).
- **Batch jobs run as local processes**: moto runs a job's container through the job's
  ``docker_client``; :class:`~flowstacks.local.container.LocalEngine` is put in its place.
- **Batch ``RetryStrategy`` at submit time**: moto's ``SubmitJob`` drops it; it is kept on the
  job for the container's attempts.
- **Step Functions' service-integration casing**: the interpreter's request and response
  normalisation are stubs in moto's port, so ``batch:submitJob.sync`` would send ``JobName``
  where boto expects ``jobName`` and return ``jobId`` where the ASL reads ``$.JobId``. The
  botocore-shape conversion the port already carries (``_to_boto_request`` /
  ``_from_boto_response``) is wired in, as LocalStack does.
- **Step Functions' JSONPath**: AWS evaluates paths with Jayway JsonPath, where a bracket list of
  names on an object (``$.['JobId', 'Parameters']``, every Metaflow task's ``OutputPath``) selects
  those fields as an object; moto's jsonpath-ng returns a list of values instead.
- **An execution started without a name gets one** (AWS generates a UUID; moto leaves it null, so
  ``$$.Execution.Name``, Metaflow's run id, would be null).
- **EventBridge delivers to Step Functions targets** (moto supports logs/SQS/buses only), with
  the target's constant ``Input``, ``InputPath`` or ``InputTransformer``.
- **Step Functions emits "Step Functions Execution Status Change"** to the default bus when an
  execution ends, so ``@trigger_on_finish`` rules fire.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

from flowstacks.local.container import Image, LocalEngine
from flowstacks.local.instance_metadata import ECS_PREFIX, MetadataServer
from flowstacks.render.serialize import compact_json

STATUS_CHANGE = "Step Functions Execution Status Change"


def _install_batch(image: Image) -> None:
    from moto.batch.models import Job
    from moto.batch.responses import BatchResponse

    from moto import settings

    Job.docker_client = property(lambda job: LocalEngine(image, job))  # type: ignore[assignment]
    # moto asks Docker for the address containers reach it at; local processes use loopback
    settings.moto_server_host = lambda: "http://127.0.0.1"  # type: ignore[assignment]
    original = BatchResponse.submitjob

    def submitjob(self: Any) -> str:
        answer = original(self)
        job = self.batch_backend.get_job_by_id(json.loads(answer)["jobId"])
        if job is not None:
            job.flowstacks_retry_strategy = self._get_param("retryStrategy") or {}
        return answer

    BatchResponse.submitjob = submitjob  # type: ignore[method-assign]


def _operation(service: str, action: str) -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    wanted = action.replace("_", "").lower()
    for name in model.operation_names:
        if name.lower() == wanted:
            return model.operation_model(name)
    return None


SYNC_POLL_SECONDS = 2.0  # how often a .sync task asks Batch about its job (moto: 0.5 s)


def _install_sfn_casing() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service as sts,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )

    # each running job is polled by its state and by moto's job thread; on two cores every
    # poll costs the tasks themselves CPU, and jobs last seconds, not milliseconds
    callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = SYNC_POLL_SECONDS

    def normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                             service_action_name: str | None = None) -> None:
        op = _operation(self._get_boto_service_name(boto_service_name),
                        self._get_boto_service_action(service_action_name))
        if op is not None and op.input_shape is not None:
            self._to_boto_request(parameters, op.input_shape)

    def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                           service_action_name: str | None = None) -> None:
        op = _operation(self._get_boto_service_name(boto_service_name),
                        self._get_boto_service_action(service_action_name))
        if op is not None and op.output_shape is not None:
            self._from_boto_response(response, op.output_shape)

    sts.StateTaskService._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    sts.StateTaskService._normalise_response = normalise_response  # type: ignore[method-assign]


_FIELD_LIST = re.compile(r"^(?P<base>.*?)\.?\[\s*(?P<fields>'[^']*'(?:\s*,\s*'[^']*')+)\s*\]$")


def _definite(path: str) -> bool:
    """Jayway's definite path: names and single indexes only (no wildcard, deep scan, filter,
    slice or union), outside quoted names."""
    bare = re.sub(r"'[^']*'", "''", path)
    return not any(token in bare for token in ("*", "..", "?", ":", ","))


def jayway_extract(original: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """``extract_json`` with Jayway's semantics where moto's differs: ``BASE['a', 'b']`` on an
    object is the object of those fields it has; a definite path (``$.[0].JobId``, a join's
    parent task id) is the value itself, not a one-element list."""
    def extract_json(path: str, data: Any) -> Any:
        match = _FIELD_LIST.match(path)
        if match:
            base = match.group("base") or "$"
            obj = data if base == "$" else original(base, data)
            if isinstance(obj, dict):
                fields = re.findall(r"'([^']*)'", match.group("fields"))
                return {f: obj[f] for f in fields if f in obj}
        value = original(path, data)
        if _definite(path) and isinstance(value, list) and len(value) == 1 and "[" in path:
            from jsonpath_ng.ext import parse

            found = parse(path).find(data)
            if len(found) == 1 and found[0].value is not value:
                return found[0].value
        return value
    return extract_json


_JSON_PATH_USERS = (  # the interpreter's modules that import extract_json by name
    "asl.eval.states", "asl.component.common.string.string_expression",
    "asl.component.intrinsic.argument.argument",
    "asl.component.state.choice.comparison.operator.implementations.timestamp_operators",
    "asl.component.state.choice.comparison.operator.implementations.boolean_equals",
    "asl.component.state.choice.comparison.operator.implementations.numeric",
    "asl.component.state.choice.comparison.operator.implementations.string_operators",
)


def _install_sfn_paths_and_names() -> None:
    import importlib

    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    patched = jayway_extract(json_path.extract_json)
    json_path.extract_json = patched
    for name in _JSON_PATH_USERS:
        module = importlib.import_module(f"moto.stepfunctions.parser.{name}")
        module.extract_json = patched  # imported by name there: patch each importer
    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None,
                        execution_input: Any = None, trace_header: Any = None) -> Any:
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()),
                              execution_input, trace_header)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def _target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """What EventBridge hands a target: its constant Input, the InputPath of the event, its
    InputTransformer's template, or the whole event."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath"):
        from jsonpath_ng import parse

        found = [m.value for m in parse(target["InputPath"]).find(event)]
        return compact_json(found[0] if found else None)
    transformer = target.get("InputTransformer")
    if transformer:
        from moto.events.models import EventTemplateParser

        value = EventTemplateParser.parse(input_template=transformer.get("InputTemplate"),
                                          input_paths_map=transformer.get("InputPathsMap", {}),
                                          event=event)
        return value if isinstance(value, str) else compact_json(value)
    return compact_json(event)


def start_execution(account: str, region: str, arn: str, input_text: str) -> Any:
    """Start ``arn`` in moto's interpreter as an EventBridge target would (a generated name)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account][region]
    return backend.start_execution(state_machine_arn=arn, name=str(uuid.uuid4()),
                                   execution_input=input_text)


def _install_events() -> None:
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets
    lock = threading.Lock()

    def send_to_targets(self: Any, original_event: dict, transform_input: bool = True) -> None:
        if not self.event_pattern.get_pattern() or not self.event_pattern.matches_event(original_event):
            return  # a schedule rule has no pattern: events never match it
        states = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
        for target in states:
            arn = parse_arn(target["Arn"])
            start_execution(arn.account, arn.region, target["Arn"],
                            _target_input(target, original_event))
        others = [t for t in self.targets if t not in states]
        if others:
            with lock:  # the original walks self.targets: show it the others only
                saved, self.targets = self.targets, others
                try:
                    original(self, original_event, transform_input)
                finally:
                    self.targets = saved

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def status_change_detail(execution: Any) -> dict[str, Any]:
    """The ``detail`` of the event Step Functions sends when an execution changes status."""
    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if value is not None else None

    output = execution.output
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": execution.exec_status.value if execution.exec_status else None,
        "startDate": millis(execution.start_date),
        "stopDate": millis(execution.stop_date),
        "input": execution.execution_input,
        "output": compact_json(output) if output is not None and not isinstance(output, str) else output,
        "error": execution.error,
        "cause": execution.cause,
    }


def _install_status_events() -> None:
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        event = {"Source": "aws.states", "DetailType": STATUS_CHANGE,
                 "Detail": compact_json(status_change_detail(execution)),
                 "Resources": [execution.exec_arn], "EventBusName": "default"}
        try:
            events_backends[execution.account_id][execution.region_name].put_events([event])
        except Exception as exc:  # noqa: BLE001 - a failed delivery must not fail the execution
            print(f"flowstacks run-local: status-change event not delivered: {exc!r}",
                  file=sys.stderr, flush=True)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def install(image: Image) -> None:
    """Install every hook (idempotence is not needed: one server process installs once)."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["batch"] = {"use_docker": True}  # the Job.run path, with our engine
    _install_batch(image)
    _install_sfn_casing()
    _install_sfn_paths_and_names()
    _install_events()
    _install_status_events()


def _log_stream(job_id: str) -> str:
    from moto.batch.models import batch_backends

    for account in batch_backends.values():
        for backend in account.values():
            job = backend._jobs.get(job_id)
            if job is not None:
                return job._stream_name
    return ""


def main(argv: list[str]) -> int:
    """``python -m flowstacks.local.moto_hooks CONFIG.json``: serve until terminated."""
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    port = int(config["port"])
    # the interpreter's own boto clients call back into this server (moto.settings reads these)
    os.environ["MOTO_PORT"] = str(port)
    os.environ["MOTO_ACCOUNT_ID"] = config["account"]
    metadata = MetadataServer(int(config["metadata_port"]), config["region"], _log_stream)
    metadata.serve_in_thread()
    install(Image(root=Path(config["containers"]), path=config["path"],
                  plumbing=config.get("plumbing", {}), capacity=int(config.get("capacity", 2)),
                  metadata_url=f"http://127.0.0.1:{config['metadata_port']}{ECS_PREFIX}"))
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
