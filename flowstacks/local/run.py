"""``flowstacks run-local``: synthesize a stack, deploy it into an emulated cloud on this machine,
run its flows there as the cloud would, and check what the Metaflow client finds.

Both backends share the emulated account: the moto server (with
:mod:`flowstacks.local.moto_hooks`) and metaflow-local-service as the metadata service
(:mod:`flowstacks.local.metadata_service`). For Step Functions every ``batch:submitJob.sync`` task
is a local process (:mod:`flowstacks.local.container`); for Airflow the DAG files run in real
Airflow 3, every pod a local process (:mod:`flowstacks.local.airflow_run`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstacks.errors import FlowstacksError
from flowstacks.local.client_check import client_environment
from flowstacks.local.deployment import Deployment, synthesize, write_packages
from flowstacks.local.instance_metadata import REFUSED
from flowstacks.local.provision import Account, provision, put_secrets
from flowstacks.local.report import Reporter
from flowstacks.local.services import Service, start_metadata_service, start_moto
from flowstacks.local.sfn_run import Execution, StepFunctionsSession, TaskRun
from flowstacks.render.serialize import compact_json

INSTALL_HINT = "pip install 'flowstacks[local]' (moto[server], metaflow-local-service)"


@dataclass
class LocalRun:
    """What one run-local did: the deployments (one account), every execution, what the client
    saw."""

    deployments: list[Deployment]
    executions: list[Execution] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)  # pathspec -> client_check answer
    refused: list[str] = field(default_factory=list)
    work: Path | None = None
    seconds: float = 0.0
    service_url: str | None = None
    endpoint: str | None = None
    # DynamoDB table -> the items it holds after the runs (Step Functions foreach state: each
    # stack's own table, issue 16)
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.executions) and all(ex.status == "SUCCEEDED" for ex in self.executions)

    def deployment(self, stack: str) -> Deployment:
        return next(d for d in self.deployments if d.stack == stack)

    def of(self, flow: str, stack: str | None = None) -> list[Execution]:
        return [ex for ex in self.executions if ex.flow == flow and stack in (None, ex.stack)]


def parse_params(items: list[str]) -> dict[str, Any]:
    """``k=v`` pairs; a value that reads as JSON (numbers, booleans) is passed as such."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FlowstacksError(f"'{item}' is not NAME=VALUE", where="--param")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def _require_extra() -> None:
    for module in ("moto", "metaflow_local_service", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            raise FlowstacksError(f"run-local needs the '{module}' package", where="flowstacks run-local",
                                  hint=INSTALL_HINT) from None


def image_path() -> str:
    """The emulated image's PATH: this Python's folder first (it has Metaflow's task
    dependencies, as the deployed image must), then the system's."""
    return f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"


def _datastore_root(dep: Deployment, flow: str) -> str | None:
    machine = dep.machine(flow)
    for params in dep.task_parameters("arn:aws:states:::batch:"):
        env = {v.get("Name"): v.get("Value") for v in
               (params.get("ContainerOverrides") or {}).get("Environment") or []}
        if env.get("SFN_STATE_MACHINE") == machine.name and env.get("METAFLOW_DATASTORE_SYSROOT_S3"):
            return env["METAFLOW_DATASTORE_SYSROOT_S3"]
    return None


def check_runs(run: LocalRun, executions: list[Execution], timeout: float = 300) -> dict[str, Any]:
    """Ask the Metaflow client (own process) about ``executions``, each in its stack's namespace
    and in the other stacks' (see :mod:`flowstacks.local.client_check`)."""
    assert run.work is not None and run.endpoint is not None
    region, _ = run.deployments[0].region_account
    runs = []
    for ex in executions:
        dep = run.deployment(ex.stack)
        runs.append({"flow": ex.flow, "run_id": ex.run_id, "namespace": dep.namespace,
                     "other_namespaces": sorted({d.namespace for d in run.deployments} - {dep.namespace}),
                     "end_task": (ex.task_of("end") or TaskRun("end", 0)).job_id,
                     "datastore_root": ex.datastore_root or _datastore_root(dep, ex.flow)})
    home = Path(tempfile.mkdtemp(prefix="client-", dir=run.work))
    path = home / "request.json"
    path.write_text(compact_json({"service_url": run.service_url, "runs": runs}), encoding="utf-8")
    env = {**client_environment(run.service_url, run.endpoint, region, str(home)),
           "PATH": image_path(), "LANG": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-m", "flowstacks.local.client_check", str(path)],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=home)
    if done.returncode != 0:
        raise FlowstacksError(f"the Metaflow client check failed: {done.stderr[-2000:]}",
                              where="flowstacks run-local")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return {f"{r['flow']}/{r['run_id']}": r for r in answer["runs"]}


def log_tail(account: Account, task: TaskRun, lines: int = 40) -> str:
    """The last lines the failed job's container wrote (CloudWatch Logs, /aws/batch/job), or
    the failed pod's output."""
    if task.log:
        from flowstacks.local.airflow_run import pod_log_tail

        return pod_log_tail(task, lines)
    cause = task.cause if isinstance(task.cause, dict) else {}
    streams = [((a.get("Container") or {}).get("LogStreamName")) for a in cause.get("Attempts") or []]
    streams.append((cause.get("Container") or {}).get("LogStreamName"))
    for stream in [s for s in reversed(streams) if s]:
        try:
            events = account("logs").get_log_events(logGroupName="/aws/batch/job", logStreamName=stream,
                                                    startFromHead=True)["events"]
        except Exception:  # noqa: BLE001 - no log: fall back to the cause below
            continue
        text = [e["message"] for e in events]
        return "\n".join(text[-lines:])
    return str(task.cause or task.error or "")[-4000:]


def _start(session: StepFunctionsSession, dep: Deployment, flows: list[str] | None,
           params: dict[str, Any]) -> None:
    """By hand: the named flows, or every flow that no rule starts; schedules fired on demand;
    flows a rule triggers wait for their event."""
    if flows:
        for flow in flows:
            session.start(dep, flow, params)
        return
    triggered = {t.arn for r in dep.rules if r.pattern for t in r.targets}
    scheduled = {t.arn: r for r in dep.rules if r.schedule for t in r.targets}
    for machine in dep.state_machines:
        if machine.arn in scheduled:
            session.fire_schedule(scheduled[machine.arn])
        elif machine.arn not in triggered:
            session.start(dep, machine.logical, params)


EXECUTED = ("step-functions", "airflow")


def _deploy(project_dir: Path, plans: list[tuple[str, list[str] | None]], orchestrator: str | None,
            work: Path) -> list[Deployment]:
    deployments = []
    for stack, _flows in plans:
        dep = synthesize(project_dir, stack, orchestrator, work / "synth")
        if dep.orchestrator not in EXECUTED:
            raise FlowstacksError(f"run-local executes step-functions and airflow stacks; {stack} deploys "
                                  f"to {dep.orchestrator}", where="--orchestrator",
                                  hint="add --orchestrator step-functions or --orchestrator airflow "
                                       "(Argo needs a cluster: see README)")
        write_packages(project_dir, dep, orchestrator)
        deployments.append(dep)
    kinds = {d.orchestrator for d in deployments}
    if len(kinds) > 1:
        raise FlowstacksError("the stacks of one run-local deploy to one orchestrator; these deploy to "
                              + ", ".join(sorted(kinds)), where="--orchestrator")
    return deployments


def _run_step_functions(run: LocalRun, acct: Account, plans: list[tuple[str, list[str] | None]],
                        params: dict[str, Any], reporter: Reporter, timeout: float) -> list[Execution]:
    session = StepFunctionsSession(acct, run.deployments, reporter)
    for dep, (_stack, flows) in zip(run.deployments, plans):
        _start(session, dep, flows, params)
    return session.follow(timeout)


def _run_airflow(run: LocalRun, acct: Account, moto: Service, plans: list[tuple[str, list[str] | None]],
                 params: dict[str, Any], reporter: Reporter, timeout: float, project_dir: Path
                 ) -> list[Execution]:
    from flowstacks.local.airflow_run import AirflowSession, airflow_python, sync_dags

    assert run.work is not None
    python = airflow_python(project_dir)
    dags = run.work / "airflow" / "dags"
    sync_dags(acct, run.deployments, dags)
    containers = run.work / "containers"
    containers.mkdir(parents=True, exist_ok=True)
    session = AirflowSession(run.deployments, reporter)
    # what the EKS pod identity webhook injects besides the role (the region of the cluster)
    region = acct.region
    request = {"home": str(run.work / "airflow" / "home"), "dags": str(dags), "containers": str(containers),
               "image_path": image_path(), "image_site": str(run.work / "airflow" / "image-site"),
               "plumbing": {**moto.plumbing, "AWS_REGION": region, "AWS_DEFAULT_REGION": region},
               "start": session.start_list(list(zip(run.deployments, [f for _s, f in plans])), params)}
    return session.run(python, request, run.work, timeout)


def run_stacks(project_dir: Path, plans: list[tuple[str, list[str] | None]],
               orchestrator: str | None = None, params: dict[str, Any] | None = None,
               reporter: Reporter | None = None, timeout: float = 1800, keep: bool = False,
               work: Path | None = None, secrets: dict[str, Any] | None = None) -> LocalRun:
    """Synthesize each ``(stack, flows)`` of ``plans``, deploy them into one emulated account
    (as stacks of one AWS account share it), run them, check what the client finds.

    ``secrets`` are put in the account's Secrets Manager first (name -> value), as a platform
    team keeps the secrets ``@secrets`` reads outside the stack."""
    _require_extra()
    reporter = reporter or Reporter()
    started = time.monotonic()
    work = Path(work or tempfile.mkdtemp(prefix="flowstacks-local-"))
    work.mkdir(parents=True, exist_ok=True)
    services: list[Service] = []
    try:
        run = LocalRun(deployments=_deploy(Path(project_dir), plans, orchestrator, work), work=work)
        metadata = start_metadata_service(work)
        services.append(metadata)
        region, account = run.deployments[0].region_account
        moto = start_moto(work, region, account, image_path(), {"METAFLOW_SERVICE_URL": metadata.url})
        services.append(moto)
        run.service_url, run.endpoint = metadata.url, moto.url
        acct = Account(moto.url, region, account)
        put_secrets(acct, secrets or {})
        for dep in run.deployments:
            provision(acct, dep, Path(project_dir))
            objects = (f"{len(dep.dag_files)} DAG files" if dep.orchestrator == "airflow" else
                       f"{len(dep.state_machines)} state machines, {len(dep.rules)} rules")
            reporter.line(f"[bold]{dep.stack}[/bold] deployed into the emulated account {account} "
                          f"({region}): {objects}, {len(dep.packages)} code packages")
        if run.deployments[0].orchestrator == "airflow":
            run.executions = _run_airflow(run, acct, moto, plans, params or {}, reporter, timeout,
                                          Path(project_dir))
        else:
            run.executions = _run_step_functions(run, acct, plans, params or {}, reporter, timeout)
            ddb = acct("dynamodb")
            run.tables = {t: ddb.scan(TableName=t, Select="COUNT")["Count"]
                          for t in ddb.list_tables()["TableNames"]}
        for ex in run.executions:
            for task in ex.failed_tasks or ([] if ex.status == "SUCCEEDED" else [None]):
                reporter.failure(ex, task, log_tail(acct, task) if task else "")
        run.checks = check_runs(run, run.executions)
        run.refused = [line.split(REFUSED, 1)[1].strip() for line in
                       moto.log.read_text(encoding="utf-8", errors="replace").splitlines() if REFUSED in line]
        run.seconds = time.monotonic() - started
        reporter.summary(run.executions, run.checks,
                         {d.stack: d.namespace for d in run.deployments}, run.refused)
        return run
    finally:
        for service in reversed(services):
            service.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def run_local(project_dir: Path, stack: str, orchestrator: str | None = None,
              flows: list[str] | None = None, params: dict[str, Any] | None = None,
              reporter: Reporter | None = None, timeout: float = 1800, keep: bool = False,
              work: Path | None = None, secrets: dict[str, Any] | None = None) -> LocalRun:
    """``flowstacks run-local --stack STACK``: :func:`run_stacks` of one stack."""
    return run_stacks(project_dir, [(stack, flows)], orchestrator, params, reporter, timeout, keep, work,
                      secrets)
