"""What a stack deploys, read back from what ``flowstacks synth`` writes (``OUT/<stack>/``).

run-local consumes the deployment as the cloud would: every resource of ``manifest.json`` with its
inputs, the code package objects' files, and the references inside the state machine
definitions (job queues, a shared DynamoDB table) that name infrastructure the stack expects to exist.
Only :func:`synthesize` and :func:`write_packages` call into flowstacks itself.
"""

from __future__ import annotations

import ast
import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from flowstacks.errors import FlowstacksError

PACKAGE_DIR = Path(".flowstacks/packages")  # where `pulumi up` leaves the packages it uploads


@dataclass(frozen=True)
class Target:
    rule: str
    target_id: str
    arn: str
    input: str | None
    role_arn: str | None
    # {"inputPaths": ..., "inputTemplate": ...}: the event's fields into the target's input
    input_transformer: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    schedule: str | None
    pattern: str | None
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True)
class StateMachine:
    logical: str  # the manifest's resource name (the flow)
    name: str
    arn: str
    definition: str
    role_arn: str
    tags: dict[str, str]


@dataclass(frozen=True)
class PackageObject:
    logical: str
    bucket: str
    key: str
    asset: str  # the FileAsset's file name


@dataclass(frozen=True)
class DagFile:
    """An Airflow DAG file the stack uploads into the DAGs bucket (an object with inline content)."""

    logical: str  # the manifest's resource name
    bucket: str
    key: str
    content: str

    @property
    def dag_id(self) -> str:
        return self.key.rsplit("/", 1)[-1][: -len(".py")]


@dataclass(frozen=True)
class InlineObject:
    """An object the stack writes from inline base64 content (an ``IncludeFile`` default)."""

    logical: str
    bucket: str
    key: str
    body: bytes


def dag_settings(source: str, names: tuple[str, ...]) -> dict[str, set[str]]:
    """The constant values a DAG file gives the variables ``names`` in its dict literals (the
    operators' ``env_vars``): read with ``ast``, the DAG is not executed here."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if (isinstance(key, ast.Constant) and key.value in names
                        and isinstance(value, ast.Constant) and isinstance(value.value, str)):
                    found.setdefault(key.value, set()).add(value.value)
    return found


@dataclass
class Deployment:
    """One synthesized stack, as the resources a cloud account would hold."""

    stack: str
    project: str
    folder: Path
    outputs: dict[str, Any]
    resources: list[dict[str, Any]]
    state_machines: list[StateMachine] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    packages: list[PackageObject] = field(default_factory=list)
    dag_files: list[DagFile] = field(default_factory=list)
    objects: list[InlineObject] = field(default_factory=list)

    @property
    def orchestrator(self) -> str:
        return str(self.outputs.get("orchestrator", ""))

    @property
    def namespace(self) -> str:
        return str(self.outputs.get("namespace", ""))

    @property
    def region_account(self) -> tuple[str, str]:
        """From the state machine ARNs the stack exports (``arn:aws:states:REGION:ACCOUNT:...``)."""
        for sm in self.state_machines:
            parts = sm.arn.split(":")
            return parts[3], parts[4]
        return "us-east-1", "123456789012"

    def of_type(self, prefix: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.resources if r["type"].startswith(prefix))

    def flow_of_dag(self, dag_id: str) -> str:
        """The flow whose exported orchestrator object is ``dag_id``."""
        for flow, out in (self.outputs.get("flows") or {}).items():
            if out.get("orchestrator_object") == dag_id:
                return str(flow)
        return dag_id.rsplit(".", 1)[-1]

    def flow_of(self, arn: str) -> str:
        return next((sm.logical for sm in self.state_machines if sm.arn == arn), arn)

    def machine(self, flow: str) -> StateMachine:
        for sm in self.state_machines:
            if flow in (sm.logical, sm.name):
                return sm
        raise FlowstacksError(f"no state machine for flow '{flow}' in stack {self.stack}",
                              where="--flow", hint="flows: " + ", ".join(
                                  sm.logical for sm in self.state_machines))

    def task_parameters(self, resource_prefix: str) -> list[dict[str, Any]]:
        """The ``Parameters`` of every Task state whose Resource starts with ``resource_prefix``,
        in every state machine (Map iterators included)."""
        found: list[dict[str, Any]] = []
        for sm in self.state_machines:
            _walk_states(json.loads(sm.definition), resource_prefix, found)
        return found

    def job_queues(self) -> set[str]:
        return {p["JobQueue"] for p in self.task_parameters("arn:aws:states:::batch:")
                if isinstance(p.get("JobQueue"), str)}

    def dynamodb_tables(self) -> set[str]:
        return {p["TableName"] for p in self.task_parameters("arn:aws:states:::dynamodb:")
                if isinstance(p.get("TableName"), str)}


def _walk_states(definition: dict[str, Any], prefix: str, found: list[dict[str, Any]]) -> None:
    for state in definition.get("States", {}).values():
        if state.get("Type") == "Task" and str(state.get("Resource", "")).startswith(prefix):
            found.append(state.get("Parameters") or {})
        for sub in ("Iterator", "ItemProcessor"):
            if isinstance(state.get(sub), dict):
                _walk_states(state[sub], prefix, found)
        for branch in state.get("Branches", []) or []:
            _walk_states(branch, prefix, found)


def read_deployment(folder: Path) -> Deployment:
    """Read ``folder/manifest.json`` (a ``flowstacks synth`` stack folder)."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FlowstacksError(f"cannot read the synthesized stack: {exc}", where=str(path)) from None
    dep = Deployment(stack=manifest["stack"], project=manifest.get("project", ""), folder=Path(folder),
                     outputs=manifest.get("outputs", {}), resources=manifest["resources"])
    exported = {flow: out.get("orchestrator_object", "")
                for flow, out in (dep.outputs.get("flows") or {}).items()}
    for res in dep.of_type("aws:sfn/stateMachine:"):
        inputs = res["inputs"]
        arn = exported.get(res["name"]) or ""
        dep.state_machines.append(StateMachine(
            logical=res["name"], name=inputs["name"], arn=arn, definition=inputs["definition"],
            role_arn=inputs.get("roleArn", ""), tags=inputs.get("tags") or {}))
    targets: dict[str, list[Target]] = {}
    for res in dep.of_type("aws:cloudwatch/eventTarget:"):
        i = res["inputs"]
        targets.setdefault(i["rule"], []).append(Target(
            rule=i["rule"], target_id=i.get("targetId") or res["name"], arn=i["arn"],
            input=i.get("input"), role_arn=i.get("roleArn"),
            input_transformer=i.get("inputTransformer")))
    for res in dep.of_type("aws:cloudwatch/eventRule:"):
        i = res["inputs"]
        dep.rules.append(Rule(name=i["name"], description=i.get("description", ""),
                              schedule=i.get("scheduleExpression"), pattern=i.get("eventPattern"),
                              targets=tuple(targets.get(i["name"], ()))))
    for res in dep.of_type("aws:s3/bucketObjectv2:"):
        i = res["inputs"]
        source = i.get("source") or {}
        if isinstance(source, dict) and "fileAsset" in source:
            dep.packages.append(PackageObject(res["name"], i["bucket"], i["key"], source["fileAsset"]))
        elif isinstance(i.get("content"), str) and str(i.get("key", "")).endswith(".py"):
            dep.dag_files.append(DagFile(res["name"], i["bucket"], i["key"], i["content"]))
        elif isinstance(i.get("contentBase64"), str):
            dep.objects.append(InlineObject(res["name"], i["bucket"], i["key"],
                                            base64.b64decode(i["contentBase64"])))
    return dep


def package_path(project_dir: Path, deployment: Deployment, package: PackageObject) -> Path | None:
    """The file a package object uploads: where the program writes it, or beside the manifest."""
    for candidate in (Path(project_dir) / PACKAGE_DIR / package.asset,
                      deployment.folder / package.asset):
        if candidate.is_file():
            return candidate
    return None


def synthesize(project_dir: Path, stack: str, orchestrator: str | None, out: Path) -> Deployment:
    """``flowstacks synth --stack STACK --out OUT`` in-process, then read ``OUT/STACK``."""
    from flowstacks.synth.engine import synth

    synth(Path(project_dir), [stack], Path(out), orchestrator)
    return read_deployment(Path(out) / stack)


def write_packages(project_dir: Path, deployment: Deployment, orchestrator: str | None) -> None:
    """Make sure every code package file exists, as ``pulumi up`` would write it before upload.

    ``flowstacks synth`` records the FileAsset by name only (the mock engine reads no asset), so
    when a package is missing the stack's program runs once more as a deployment (Pulumi config
    ``flowstacks:offline`` false), which writes ``<project>/.flowstacks/packages/<sha>.tgz``."""
    missing = [p for p in deployment.packages if package_path(project_dir, deployment, p) is None]
    if not missing:
        return
    try:
        from flowstacks.deploy.program import main
        from flowstacks.synth.engine import run_program, stack_config
    except ImportError as exc:  # the program moved: say so rather than run without packages
        raise FlowstacksError(f"cannot run the stack's program to write code packages: {exc}",
                              where="flowstacks run-local") from None
    config = stack_config(Path(project_dir), deployment.stack)
    if orchestrator:
        config["flowstacks:orchestrator"] = orchestrator
    # the program reads its project from flowstacks:projectDir (default: the current directory,
    # the Pulumi project's own folder); run-local's --project-dir need not be the current one
    config.setdefault("flowstacks:projectDir", str(Path(project_dir).absolute()))
    config = {k: ("false" if k.endswith(":offline") else v) for k, v in config.items()}
    region, account = deployment.region_account
    run_program(deployment.stack, main, region, account, config)
    still = [p.asset for p in missing if package_path(project_dir, deployment, p) is None]
    if still:
        raise FlowstacksError(f"code packages not written: {', '.join(still)}",
                              where=str(Path(project_dir) / PACKAGE_DIR))
