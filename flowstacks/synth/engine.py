"""``flowstacks synth``: run the real Pulumi program in-process under Pulumi's mock engine.

No Pulumi CLI and no cloud credentials: ``pulumi.runtime`` is configured with a mock monitor that
records every resource as the provider would receive it and answers with realistic outputs (ARNs
built from region, account and name). Output is written to a temp dir and moved into place only
when every stack succeeded.
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable

import orjson
import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from flowstacks.deploy.artifact_sink import ArtifactSink
from flowstacks.errors import FlowstacksError
from flowstacks.render.artifact import Artifact
from flowstacks.render.serialize import (
    RECORDED_ORJSON, compact_json, json_loads, manifest_json, orjson_text, recorded_json,
)
from flowstacks.synth.sdk_shortcuts import mock_run_shortcuts, plain_text

if TYPE_CHECKING:
    from flowstacks.load.project import ProjectDir

PULUMI_PROJECT = "flowstacks"
SECRET_MARK = "[secret]"


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


class RealisticMocks(pulumi.runtime.Mocks):
    """Mock provider: echoes inputs and adds the ids/ARNs the real provider would compute.

    ``preview``: as in a first ``pulumi preview``, where nothing exists yet: a provider's preview
    echoes the inputs and leaves what only a create computes (ids, ARNs, revisions, etags)
    unknown, so every input made from them is unknown too."""

    def __init__(self, region: str, account: str, preview: bool = False):
        self.region = region
        self.account = account
        self.preview = preview

    def _outputs(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self.preview:  # an empty id and a missing output are unknown to the SDK in a preview
            return "", dict(inputs)
        r, a = self.region, self.account
        # Like a provider, echo the inputs; large documents (definitions, templates) are left
        # out: components read only names, ids and ARNs back, and echoing them doubled the cost.
        out = {k: v for k, v in inputs.items()
               if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 512)}
        rid = inputs.get("name") or name
        if typ == "aws:sfn/stateMachine:StateMachine":
            out["arn"] = _arn("states", r, a, f"stateMachine:{rid}")
        elif typ == "aws:iam/role:Role":
            out["arn"] = f"arn:aws:iam::{a}:role{inputs.get('path', '/')}{rid}"
        elif typ == "aws:iam/policy:Policy":
            out["arn"] = f"arn:aws:iam::{a}:policy{inputs.get('path', '/')}{rid}"
        elif typ == "aws:batch/jobDefinition:JobDefinition":
            out["arn"] = _arn("batch", r, a, f"job-definition/{rid}:1")
            out["revision"] = 1
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            bus = inputs.get("eventBusName", "default")
            out["arn"] = _arn("events", r, a, f"rule/{rid}" if bus == "default" else f"rule/{bus}/{rid}")
        elif typ == "aws:cloudwatch/eventBus:EventBus":
            out["arn"] = _arn("events", r, a, f"event-bus/{rid}")
        elif typ == "aws:s3/bucketObjectv2:BucketObjectv2":
            rid = inputs.get("key", name)
            out["etag"] = inputs.get("etag", "")
        elif typ.startswith("kubernetes:"):
            meta = inputs.get("metadata") or {}
            rid = f"{meta.get('namespace', 'default')}/{meta.get('name', name)}"
        elif typ.startswith("aws:"):
            service = typ.split(":")[1].split("/")[0]
            out.setdefault("arn", _arn(service, r, a, f"{name}"))
        out.setdefault("id", rid)
        return str(rid), out

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        return self._outputs(args.typ, args.name, args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account, "arn": f"arn:aws:iam::{self.account}:user/mock",
                    "userId": "mock"}, None
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "id": self.region}, None
        return {}, None


class Recorded:
    """One registration as the provider received it. The inputs are kept as compact JSON text
    (a tenth of the memory of the same data as Python objects) and decoded when read. ``urn``
    and ``parent`` are the URNs the Pulumi engine gives the resource and its parent (what
    ``pulumi state unprotect`` and ``pulumi stack --show-urns`` name), see :func:`engine_urn`."""

    __slots__ = ("type", "name", "inputs_json", "protect", "custom", "urn", "parent", "retain",
                 "provider")

    def __init__(self, type: str, name: str, inputs_json: str, protect: bool, custom: bool,
                 urn: str = "", parent: str = "", retain: bool = False, provider: str = ""):
        self.type, self.name, self.inputs_json = type, name, inputs_json
        self.protect, self.custom = protect, custom
        self.urn, self.parent = urn, parent
        self.retain = retain  # retainOnDelete: `pulumi destroy` leaves the cloud object
        # the engine URN of the explicit provider it is created with ("" for Pulumi's default
        # provider); kept for tests, not written to the manifest
        self.provider = provider

    @property
    def inputs(self) -> dict[str, Any]:
        return json.loads(self.inputs_json)

    def manifest_line(self) -> str:
        """``compact_json({"inputs", "name", "parent", "protect", ["retainOnDelete",] "type",
        "urn"})`` without decoding the inputs (``retainOnDelete`` only when set)."""
        retain = '"retainOnDelete":true,' if self.retain else ""
        return (f'{{"inputs":{self.inputs_json},"name":{compact_json(self.name)},'
                f'"parent":{compact_json(self.parent)},'
                f'"protect":{"true" if self.protect else "false"},{retain}"type":{compact_json(self.type)},'
                f'"urn":{compact_json(self.urn)}}}')


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(stack: str, project: str, parent_urn: str, type_: str, name: str) -> str:
    """The URN the Pulumi engine gives a resource: its type qualified by the parent's full
    qualified type (``a$b$type``), except under the root stack resource. The SDK's mock monitor
    qualifies by the parent's last type only and keeps the root stack's, so its URNs cannot be
    used in ``pulumi state`` commands; these can."""
    qualified = type_
    if parent_urn:
        parent_type = parent_urn.split("::")[2]
        if parent_type != ROOT_STACK_TYPE:
            qualified = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping each registration as the provider would receive it.

    Registrations are decoded once, straight from the protobuf ``Struct`` into plain JSON data
    (:func:`_plain`), instead of through the SDK's general deserializer and a second pass."""

    def __init__(self, mocks: RealisticMocks):
        super().__init__(mocks)
        self.recorded: list[Recorded] = []
        self.stack_outputs: dict[str, Any] = {}
        self.engine_urns: dict[str, str] = {}  # the mock's URN -> the engine's

    def _engine_urn(self, request: Any, mock_urn: str) -> tuple[str, str]:
        """The engine's URN of this registration and of its parent; remembered, since children
        name their parent by the mock's URN."""
        parent = self.engine_urns.get(request.parent, request.parent)
        urn = engine_urn(pulumi.get_stack(), pulumi.get_project(), parent, request.type,
                         request.name)
        self.engine_urns[mock_urn] = urn
        return urn, parent

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type == ROOT_STACK_TYPE:
            response = super().RegisterResource(request)
            self._engine_urn(request, response.urn)
            return response
        fields = request.object.fields
        _FOUND.texts = found = {}
        inputs = {k: _plain(fields[k]) for k in fields if k[:2] != "__"}
        if found:  # inputs the SDK shortcut sent as text: recorded as they are
            recorded = _recorded_with_texts(inputs, found)
            inputs = json_loads(recorded)  # what the provider would get
        else:
            recorded = recorded_json(inputs)
        # what MockMonitor.RegisterResource does, with the inputs already decoded
        urn = self.make_urn(request.parent, request.type, request.name)
        engine, parent = self._engine_urn(request, urn)
        provider = request.provider.rpartition("::")[0]  # a reference is "<urn>::<id>"
        self.recorded.append(Recorded(request.type, request.name, recorded,
                                      bool(request.protect), bool(request.custom), engine, parent,
                                      bool(request.retainOnDelete),
                                      self.engine_urns.get(provider, provider)))
        if f'"{SECRET_MARK}"' in recorded:  # the provider gets secrets as the SDK decodes them
            inputs = _without_placeholders(rpc.deserialize_properties(request.object), found)
        id_, state = self.mocks.new_resource(pulumi.runtime.MockResourceArgs(
            typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
            resource_id=request.importId, custom=bool(request.custom)))
        outputs = _serialize_plain(state)
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=outputs)

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        """Reads (``Resource.get``) go the SDK's mock way, their inputs' placeholders decoded."""
        _FOUND.texts = found = {}
        for key in request.properties.fields:
            _plain(request.properties.fields[key])  # takes the placeholders' texts
        if found:
            properties = _without_placeholders(rpc.deserialize_properties(request.properties),
                                               found)
            request.properties.Clear()
            request.properties.update(properties)
        return super().ReadResource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            self.stack_outputs = {k: _plain(v) for k, v in request.outputs.fields.items()}
        return super().RegisterResourceOutputs(request)


_FOUND = threading.local()  # the texts met by _plain in this thread's registration


def _recorded_with_texts(inputs: dict[str, Any], found: dict[int, str]) -> str:
    """:func:`recorded_json` of ``inputs`` in which ``orjson.Fragment`` stand for the texts
    ``found`` (by their ``id``); the texts are the same JSON that :func:`recorded_json` writes."""
    try:
        return orjson_text(inputs, RECORDED_ORJSON)
    except (orjson.JSONEncodeError, TypeError):  # what recorded_json writes another way
        def thaw(value: Any) -> Any:
            if type(value) is orjson.Fragment:
                return json_loads(found[id(value)])
            if type(value) is dict:
                return {k: thaw(v) for k, v in value.items()}
            if type(value) is list:
                return [thaw(v) for v in value]
            return value

        return recorded_json(thaw(inputs))


def _without_placeholders(value: Any, found: dict[Any, str]) -> Any:
    """``value`` (deserialized by the SDK) with the placeholders of ``found`` decoded."""
    if type(value) is str:
        if value in found:
            return json_loads(found[value])
        # a placeholder inside a secret: the record shows "[secret]" and never read its text
        text = plain_text(value)
        return value if text is None else _without_placeholders(json_loads(text), found)
    if type(value) is dict:
        return {k: _without_placeholders(v, found) for k, v in value.items()}
    if type(value) is list:
        return [_without_placeholders(v, found) for v in value]
    return value


def _serialize_plain(state: dict[str, Any]) -> Any:
    """``rpc.serialize_properties`` of a mock's plain state, run to completion without an event
    loop. The SDK's own mock monitor uses ``_sync_await``, which gives every executor thread an
    event loop that is never closed; left to the interpreter's shutdown, such a loop can print
    "Exception ignored ... Invalid file descriptor" (seen with standard input closed). Plain data
    never waits on a future; should a state ever hold one, the SDK's way is taken."""
    coroutine = rpc.serialize_properties(state, {})
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    return _sync_await(rpc.serialize_properties(state, {}))


def _plain(value: Any) -> Any:
    """A protobuf ``Value`` as plain JSON data: secrets become ``"[secret]"``, assets their file
    name (the path is machine-specific), unknowns ``None``, keys starting with ``__`` dropped."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        string = value.string_value
        if string[:1] == "\x00":
            text = plain_text(string)  # the SDK shortcut's placeholder for plain data
            if text is not None:
                fragment = orjson.Fragment(text)
                found = getattr(_FOUND, "texts", None)
                if found is not None:
                    found[id(fragment)] = found[string] = text
                return fragment
        return None if string == rpc.UNKNOWN else string
    if kind == "struct_value":
        fields = value.struct_value.fields
        sig = fields.get(rpc._special_sig_key)
        if sig is not None:
            sig = sig.string_value
            if sig == rpc._special_secret_sig:
                return SECRET_MARK
            if sig == rpc._special_asset_sig and "path" in fields:
                return {"fileAsset": PurePosixPath(fields["path"].string_value).name}
            if sig == rpc._special_resource_sig:
                return fields["urn"].string_value
        # not fields.items(): a protobuf map's is collections.abc's generator (slower by a fifth)
        return {k: _plain(fields[k]) for k in fields if k[:2] != "__"}
    if kind == "list_value":
        return [_plain(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "bool_value":
        return value.bool_value
    return None


@dataclass
class StackResult:
    stack: str
    project: str
    resources: list[Recorded]
    outputs: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)
    # made as a first `pulumi preview` sees it: null inputs and outputs are unknown values
    preview: bool = False

    @property
    def _head(self) -> dict[str, Any]:
        head = {"stack": self.stack, "project": self.project, "outputs": self.outputs}
        return {**head, "preview": True} if self.preview else head

    def summary(self) -> "StackResult":
        """The same result without the recorded inputs and artifact contents (for reports)."""
        return StackResult(self.stack, self.project,
                           [Recorded(r.type, r.name, "{}", r.protect, r.custom, r.urn, r.parent, r.retain)
                            for r in self.resources],
                           self.outputs, [Artifact(a.path, "", a.written) for a in self.artifacts],
                           self.preview)

    def _custom_sorted(self) -> list[Recorded]:
        return sorted((r for r in self.resources if r.custom), key=lambda r: (r.type, r.name))

    def manifest(self) -> dict[str, Any]:
        """``{"stack", "project", "outputs", "resources": [{"type", "name", "inputs",
        "protect", "urn", "parent"}]}``, custom resources only, sorted by type and name."""
        return {
            **self._head,
            "resources": [
                {"type": r.type, "name": r.name, "inputs": r.inputs, "protect": r.protect,
                 **({"retainOnDelete": True} if r.retain else {}), "urn": r.urn, "parent": r.parent}
                for r in self._custom_sorted()
            ],
        }

    def manifest_text(self) -> str:
        """:meth:`manifest` as written to ``manifest.json`` (one resource per line)."""
        return manifest_json(self._head, [r.manifest_line() for r in self._custom_sorted()])


def run_program(stack: str, program: Callable[[], Any], region: str = "us-east-1",
                account: str = "123456789012", config: dict[str, str] | None = None,
                project: str = PULUMI_PROJECT, secret_keys: list[str] | None = None,
                mocks: RealisticMocks | None = None,
                preview: bool = True) -> tuple[Any, RecordingMonitor]:
    """Run ``program`` as the Pulumi program of ``stack`` under the recording mocks, as in a
    ``pulumi preview`` (``preview=False``: as in a ``pulumi up``)."""
    monitor = RecordingMonitor(mocks or RealisticMocks(region, account))
    pulumi_settings.ROOT.set(None)
    pulumi_mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=preview,
                           monitor=monitor)
    pulumi_settings.ROOT.set(None)  # run_in_stack creates the root Stack that collects exports
    qualify = lambda k: k if ":" in k else f"{PULUMI_PROJECT}:{k}"  # noqa: E731
    pulumi.runtime.set_all_config({qualify(k): v for k, v in (config or {}).items()},
                                  [qualify(k) for k in secret_keys or []])
    box: dict[str, Any] = {}

    async def body() -> None:  # the program may be asynchronous (flowstacks' is)
        result = program()
        box["result"] = await result if inspect.isawaitable(result) else result

    with mock_run_shortcuts(text_inputs=not secret_keys):
        _sync_await(run_in_stack(body))
    return box.get("result"), monitor


def stack_config(project_dir: Path, stack: str) -> dict[str, str]:
    """The Pulumi config the real CLI would give the program: the stack file's ``config:``."""
    from flowstacks.load.stackfiles import read_stack_config

    config = {}
    for k, v in read_stack_config(project_dir, stack).items():
        # `secure:` values are encrypted by the Pulumi CLI; offline they stay an opaque secret
        config[k] = SECRET_MARK if isinstance(v, dict) and "secure" in v else (
            v if isinstance(v, str) else compact_json(v))
    return config


def synth_stack(project: "ProjectDir | Path", stack: str, orchestrator: str | None = None,
                artifact_dir: Path | None = None, preview: bool = False) -> StackResult:
    """Run the program for one stack and collect resources, exports and artifacts (written
    into ``artifact_dir`` as they are made when given, else kept in memory). ``project``: the
    loaded project, passed on to the program (its config and flows are not read again), or its
    folder (then loaded with ``orchestrator`` as its override). ``preview``: as a first
    ``pulumi preview`` (:class:`RealisticMocks`)."""
    from flowstacks.deploy.program import main
    from flowstacks.load.project import ProjectDir

    if not isinstance(project, ProjectDir):
        project = ProjectDir(Path(project), orchestrator)
    elif orchestrator and orchestrator != project.orchestrator_override:
        raise ValueError(f"{project} has no orchestrator override {orchestrator!r}")
    # the mock provider needs this stack's region and account (a namespace class may have its own)
    from flowstacks.deploy.platform_stack import PLATFORM_STACK

    aws = project.stack_platform("prod" if stack == PLATFORM_STACK else stack)[0].aws
    config = stack_config(project.root, stack)
    sink = ArtifactSink(artifact_dir)
    artifacts, monitor = run_program(
        stack, lambda: main(project, sink, offline=True), aws.region, aws.account_id, config,
        secret_keys=[k for k, v in config.items() if v == SECRET_MARK],
        mocks=RealisticMocks(aws.region, aws.account_id, preview))
    return StackResult(stack=stack, project=monitor.stack_outputs["project"], resources=monitor.recorded,
                       outputs=monitor.stack_outputs, artifacts=list(artifacts or []), preview=preview)


def write_stack(result: StackResult, folder: Path) -> None:
    """``manifest.json`` and the artifacts not written yet."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(result.manifest_text(), encoding="utf-8")
    ArtifactSink(folder).extend(art for art in result.artifacts if not art.written)


def synth(project: "ProjectDir | Path", stacks: list[str], out: Path,
          orchestrator: str | None = None,
          on_stack: Callable[[str], None] | None = None, preview: bool = False,
          jobs: int = 1) -> list[StackResult]:
    """Synthesize ``stacks`` into ``out/<stack>/``; all or nothing. ``project``: the loaded
    project (see :func:`synth_stack`) or its folder (loaded once for all stacks). ``jobs``:
    how many stacks at a time, each in a process of its own when more than one
    (:mod:`flowstacks.synth.parallel`; the same output byte for byte)."""
    from flowstacks.load.project import ProjectDir

    if not isinstance(project, ProjectDir):
        project = ProjectDir(Path(project), orchestrator)
    out = Path(out)
    try:
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(20, "exists and is not a folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise FlowstacksError(f"cannot write {out}: {exc.strerror}", where="--out") from None
    results = []
    try:
        if jobs > 1 and len(stacks) > 1:
            from flowstacks.synth.parallel import synth_parallel

            results = synth_parallel(project, stacks, staging, orchestrator, jobs, on_stack,
                                     preview=preview)
        failed: list[tuple[str, FlowstacksError]] = []
        for stack in stacks if not results else ():
            try:
                result = synth_stack(project, stack, orchestrator, staging / stack,
                                     preview=preview)
            except FlowstacksError as exc:  # the other stacks' errors are reported with it
                failed.append((stack, exc))
                continue
            write_stack(result, staging / stack)
            results.append(result.summary())  # what is written need not stay in memory
            if on_stack:
                on_stack(stack)
        if failed:
            from flowstacks.synth.parallel import StackFailed, StacksFailed

            raise failed[0][1] if len(failed) == 1 else StacksFailed(
                [StackFailed(stack, exc.render()) for stack, exc in failed])
        out.mkdir(exist_ok=True)
        for stack in stacks:
            final = out / stack
            if final.exists():
                shutil.rmtree(final)
            (staging / stack).rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return results
