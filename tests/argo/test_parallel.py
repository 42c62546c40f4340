"""``@parallel`` on Argo (``self.next(self.train, num_parallel=N)``), rendered as Metaflow 2.19.39
renders it: the foreach step reports the gang's size and entropy, a jump-off sub-DAG runs one
resource template that creates a Kubernetes JobSet (a control job and N-1 worker jobs), and the
join rebuilds its input paths from the gang's size and entropy. Step Functions and Airflow keep
refusing it with Metaflow's message. The flows: the shape corpus' ``parallel`` and
``tests/argo/flows/parallel/`` (pod options and retries, a gang inside a foreach, ``@catch``,
which Metaflow refuses). The slow tests at the end compare each with Metaflow's own output,
the JobSet manifest down to its text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flowstacks.errors import MetaflowRuleError
from flowstacks.load.project import ProjectDir
from flowstacks.render.argo import render_flow
from flowstacks.render.argo.jobset import WORKER_REPLICAS
from tests.argo import helpers as h
from tests.argo.oracle_compare import parse_manifest
from tests.conftest import REPO

SHAPES = REPO / "tests" / "shapes" / "flows"
FLOWS = REPO / "tests" / "argo" / "flows" / "parallel"
REFUSED = "parallel_catch_flow.py"
ACCEPTED = [SHAPES / "parallel_flow.py",
            *(p for p in sorted(FLOWS.glob("*_flow.py")) if p.name != REFUSED)]


def _context(tmp_path: Path, path: Path, backend: str = "argo"):
    root = tmp_path / f"{path.stem}-{backend}"
    (root / "flowspecs").mkdir(parents=True)
    shutil.copy(path, root / "flowspecs" / path.name)
    ctx = ProjectDir(root, backend, environ={"USER": "alice"}).stack_context("user.alice")
    return ctx, ctx.flows[0]


def _render(tmp_path: Path, path: Path) -> dict:
    ctx, fd = _context(tmp_path, path)
    return render_flow(ctx, fd, h.fixed_package(fd, ctx), "sa").template


def _tasks(template: dict, dag: str) -> dict[str, dict]:
    return {t["name"]: t for t in h.container(template, dag)["dag"]["tasks"]}


def _args(task: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in task["arguments"]["parameters"]}


def _names(params: list[dict]) -> list[str]:
    return [p["name"] for p in params]


def _jobs(template: dict, step: str) -> dict[str, dict]:
    manifest = parse_manifest(h.container(template, step)["resource"]["manifest"])
    return {j["name"]: j for j in manifest["spec"]["replicatedJobs"]}


def _pod(job: dict) -> dict:
    return job["template"]["spec"]["template"]


def _env(job: dict) -> tuple[dict[str, str], dict[str, str]]:
    """(plain values, downward-API field paths) of a replicated job's container."""
    env = _pod(job)["spec"]["containers"][0]["env"]
    return ({e["name"]: e["value"] for e in env if "value" in e},
            {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in env if "valueFrom" in e})


@pytest.mark.parametrize("path", ACCEPTED, ids=[p.stem for p in ACCEPTED])
def test_parallel_templates_are_schema_valid_and_sound(tmp_path, path):
    template = _render(tmp_path, path)
    assert h.schema_errors(template) == []
    assert h.reference_problems(template) == []
    assert h.nulls(template) == []
    # the manifest is text Argo substitutes and the JobSet API reads: valid YAML once the one
    # unquoted expression (the worker count, an integer after substitution) is quoted
    resources = [t for t in template["spec"]["templates"] if "resource" in t]
    assert len(resources) == 1
    text = resources[0]["resource"]["manifest"]
    assert f"replicas: {WORKER_REPLICAS}\n" in text and f"'{WORKER_REPLICAS}'" not in text
    manifest = parse_manifest(text)
    assert (manifest["apiVersion"], manifest["kind"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet")
    assert "&id" not in text and "*id" not in text  # no YAML aliases


def test_the_gang_is_a_foreach_of_one_jobset(tmp_path):
    template = _render(tmp_path, SHAPES / "parallel_flow.py")
    top = _tasks(template, "ParallelFlow")
    assert list(top) == ["start", "start-foreach-parallel", "join", "end"]
    jump = top["start-foreach-parallel"]
    assert jump["withParam"] == "{{tasks.start.outputs.parameters.num-splits}}"
    assert _args(jump)["num-parallel"] == "{{tasks.start.outputs.parameters.num-parallel}}"
    assert _args(jump)["task-id-entropy"] == "{{tasks.start.outputs.parameters.task-id-entropy}}"
    # the foreach step writes the gang's size and entropy (argo_workflows_decorator.task_finished)
    outputs = {p["name"]: p["valueFrom"] for p in h.container(template, "start")["outputs"]["parameters"]}
    assert outputs["num-parallel"] == {"path": "/mnt/out/num_parallel"}
    assert outputs["task-id-entropy"] == {"path": "/mnt/out/task_id_entropy"}
    # the sub-DAG: the @parallel step alone, fed everything through its inputs
    sub = h.container(template, "start-foreach-parallel")
    assert _names(sub["inputs"]["parameters"]) == ["input-paths", "split-index", "num-parallel",
                                                   "task-id-entropy"]
    (train,) = sub["dag"]["tasks"]
    assert "depends" not in train
    assert _args(train)["jobset-name"] == "js-{{inputs.parameters.task-id-entropy}}"
    assert "retryCount" not in _args(train)
    train_template = h.container(template, "train")
    assert set(_args(train)) == set(_names(train_template["inputs"]["parameters"]))
    # the sub-DAG hands the JobSet's labels on to the join
    labels = parse_manifest(train_template["resource"]["manifest"])["metadata"]["labels"]
    for out in train_template["outputs"]["parameters"]:
        label = re.fullmatch(r"\{\.metadata\.labels\.(\w+)\}", out["valueFrom"]["jsonPath"]).group(1)
        assert labels[label] == "{{inputs.parameters.%s}}" % out["name"]
    assert {o["name"]: o["valueFrom"] for o in sub["outputs"]["parameters"]} == {
        "num-parallel": {"parameter": "{{tasks.train.outputs.parameters.num-parallel}}"},
        "task-id-entropy": {"parameter": "{{tasks.train.outputs.parameters.task-id-entropy}}"}}
    # the metaflow/dag annotation lists a num_parallel foreach as a plain step
    assert '"graph_structure": ["start", "train", "join", "end"]' in (
        template["metadata"]["annotations"]["metaflow/dag"])


def test_control_and_workers_share_one_command_and_differ_in_their_role(tmp_path):
    template = _render(tmp_path, SHAPES / "parallel_flow.py")
    jobs = _jobs(template, "train")
    assert list(jobs) == ["control", "worker"]
    assert jobs["control"]["replicas"] == 1
    assert jobs["worker"]["replicas"] == WORKER_REPLICAS
    (control, _), (worker, refs) = _env(jobs["control"]), _env(jobs["worker"])
    assert (control["UBF_CONTEXT"], control["TASK_ID_PREFIX"], control["MF_CONTROL_INDEX"]) == (
        "ubf_control", "control", "0")
    assert (worker["UBF_CONTEXT"], worker["TASK_ID_PREFIX"]) == ("ubf_task", "worker")
    assert "MF_CONTROL_INDEX" not in worker
    name = "{{inputs.parameters.jobset-name}}"
    ns = template["metadata"]["namespace"]
    for env in (control, worker):
        assert env["MF_WORLD_SIZE"] == "{{inputs.parameters.num-parallel}}"
        # the control pod's DNS name under the JobSet's headless service (subdomain)
        assert env["MF_MASTER_ADDR"] == f"{name}-control-0-0.{name}.{ns}.svc.cluster.local"
        assert env["MF_MASTER_PORT"] == "None"  # Metaflow's str(None) without @kubernetes(port=)
        assert env["MF_PARALLEL_CONTROL_TASK_ID"] == "control-{{inputs.parameters.task-id-entropy}}-0"
        assert env["METAFLOW_STEP_NAME"] == "train"
    assert refs["TASK_ID_SUFFIX"] == refs["MF_WORKER_REPLICA_INDEX"] == (
        "metadata.annotations['jobset.sigs.k8s.io/job-index']")
    pods = [_pod(j) for j in jobs.values()]
    assert pods[0]["spec"]["containers"][0]["command"] == pods[1]["spec"]["containers"][0]["command"]
    for pod in pods:
        spec = pod["spec"]
        assert (spec["subdomain"], spec["setHostnameAsFQDN"], spec["restartPolicy"]) == (
            name, True, "Never")
        assert spec["serviceAccountName"] == "sa"
        assert pod["metadata"]["labels"]["task_id_entropy"] == "{{inputs.parameters.task-id-entropy}}"
        # the JobSet has no "out" volume: its outputs are its labels
        assert spec["volumes"] == [] and spec["containers"][0]["volumeMounts"] == []
    # the pod's step command is the same script as a container's, with the gang's task id
    script = pods[0]["spec"]["containers"][0]["command"][2]
    assert "export METAFLOW_TASK_ID=$TASK_ID_PREFIX-{{inputs.parameters.task-id-entropy}}-$TASK_ID_SUFFIX" in script
    assert "--split-index ${MF_CONTROL_INDEX:-$((MF_WORKER_REPLICA_INDEX + 1))} --ubf-context $UBF_CONTEXT" in script
    assert "md5sum" not in script


def _bash(expr: str, env: dict[str, str]) -> str:
    return subprocess.run(["bash", "-c", f"echo {expr}"], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.parametrize("num_parallel", [1, 2, 5])
def test_the_join_reads_exactly_the_task_ids_the_gang_writes(tmp_path, num_parallel):
    """Each gang pod's task id and split index, evaluated by bash from the rendered manifest as
    the JobSet sets them (the job index of each job), are what Metaflow's own
    ``jobset_input_paths`` (run in the join pod, with the arguments the join's command gives it)
    names, and the split indexes are 0..N-1."""
    from metaflow.plugins.argo.jobset_input_paths import generate_input_paths

    template = _render(tmp_path, SHAPES / "parallel_flow.py")
    entropy = "a1b2c3"
    jobs = _jobs(template, "train")
    script = _pod(jobs["control"])["spec"]["containers"][0]["command"][2]
    sub = {"{{inputs.parameters.task-id-entropy}}": entropy}
    task_expr = re.search(r"export METAFLOW_TASK_ID=(\S+)", script).group(1)
    split_expr = re.search(r"--split-index (.*?) --ubf-context", script).group(1)
    for k, v in sub.items():
        task_expr = task_expr.replace(k, v)
    members = []
    for role, count in (("control", 1), ("worker", num_parallel - 1)):
        plain, refs = _env(jobs[role])
        for job_index in range(count):
            env = {k: v for k, v in plain.items() if k in (
                "TASK_ID_PREFIX", "MF_CONTROL_INDEX")}
            env.update({k: str(job_index) for k, path in refs.items() if "job-index" in path})
            members.append((_bash(task_expr, env), int(_bash(split_expr, env))))
    assert sorted(i for _, i in members) == list(range(num_parallel))

    join = h.container(template, "join")
    assert _names(join["inputs"]["parameters"]) == ["num-parallel", "task-id-entropy"]
    command = join["container"]["command"][2]
    assert "export INPUT_PATHS=''" in command
    call = re.search(r"\$\(python -m metaflow\.plugins\.argo\.jobset_input_paths (.*?)\)", command)
    args = call.group(1).replace("{{inputs.parameters.task-id-entropy}}", entropy).replace(
        "{{inputs.parameters.num-parallel}}", str(num_parallel)).split()
    paths = generate_input_paths(*args)
    prefix, _, ids = paths.partition(":")
    assert prefix == "argo-{{workflow.name}}/train/"
    assert ids.split(",") == [task_id for task_id, _ in members]
    # the DAG feeds the join the gang's size and entropy from the foreach step
    top = _tasks(template, "ParallelFlow")
    assert _args(top["join"]) == {
        "num-parallel": "{{tasks.start.outputs.parameters.num-parallel}}",
        "task-id-entropy": "{{tasks.start.outputs.parameters.task-id-entropy}}"}
    assert top["join"]["depends"] == "start-foreach-parallel.Succeeded"


def test_retries_rename_the_jobset_and_reach_the_task_as_an_input(tmp_path):
    template = _render(tmp_path, FLOWS / "parallel_options_flow.py")
    step = h.container(template, "train-model")
    assert step["retryStrategy"] == {"retryPolicy": "Always", "limit": 2,
                                     "backoff": {"duration": "1m"}}
    assert "retryCount" in _names(step["inputs"]["parameters"])
    (task,) = h.container(template, "start-foreach-parallel")["dag"]["tasks"]
    # {{retries}} exists in the DAG task (its template has a retryStrategy), not in the manifest
    assert _args(task)["retryCount"] == "{{retries}}"
    assert _args(task)["jobset-name"] == "js-{{inputs.parameters.task-id-entropy}}{{retries}}"
    jobs = _jobs(template, "train-model")
    plain, _ = _env(jobs["control"])
    assert plain["METAFLOW_RETRY_COUNT"] == "{{inputs.parameters.retryCount}}"
    script = _pod(jobs["control"])["spec"]["containers"][0]["command"][2]
    assert "--retry-count {{inputs.parameters.retryCount}}" in script
    assert "MF_ATTEMPT={{inputs.parameters.retryCount}}" in script
    assert "{{retries}}" not in step["resource"]["manifest"]


def test_kubernetes_options_shape_every_gang_pod(tmp_path):
    template = _render(tmp_path, FLOWS / "parallel_options_flow.py")
    for job in _jobs(template, "train-model").values():
        pod = _pod(job)
        spec, (container,) = pod["spec"], pod["spec"]["containers"]
        plain, _ = _env(job)
        assert container["ports"] == [{"containerPort": 29500}]
        assert plain["MF_MASTER_PORT"] == "29500"
        assert plain["NCCL_DEBUG"] == "INFO"
        assert plain["METAFLOW_TEMPDIR"] == "/metaflow_temp"
        assert container["envFrom"] == [{"secretRef": {"name": "hf-token"}}]
        assert container["resources"]["requests"]["cpu"] == "2"
        assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]} == {
            "tmpfs-ephemeral-volume": "/metaflow_temp", "dhsm": "/dev/shm"}
        assert {v["name"]: v["emptyDir"]["sizeLimit"] for v in spec["volumes"]} == {
            "tmpfs-ephemeral-volume": "4096Mi", "dhsm": "1024Mi"}
        assert spec["nodeSelector"] == {"gpu": "a100"}
        assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert pod["metadata"]["labels"]["team"] == "ml"
        assert pod["metadata"]["annotations"]["owner"] == "ml-team"


def test_a_gang_inside_a_foreach_passes_the_outer_split_on(tmp_path):
    template = _render(tmp_path, FLOWS / "parallel_nested_flow.py")
    jump = _tasks(template, "start-foreach-sizes")["setup-foreach-parallel"]
    assert _args(jump)["root-input-path"] == _args(jump)["input-paths"]
    collect = _tasks(template, "start-foreach-sizes")["collect"]
    assert _args(collect) == {
        "num-parallel": "{{tasks.setup.outputs.parameters.num-parallel}}",
        "task-id-entropy": "{{tasks.setup.outputs.parameters.task-id-entropy}}",
        "split-index": "{{inputs.parameters.split-index}}",
        "root-input-path": "{{inputs.parameters.input-paths}}"}


def _catch_flow(tmp_path: Path):
    return _context(tmp_path, FLOWS / REFUSED)


def test_parallel_with_catch_is_refused_like_metaflow(tmp_path):
    ctx, fd = _catch_flow(tmp_path)
    with pytest.raises(MetaflowRuleError) as err:
        render_flow(ctx, fd, h.fixed_package(fd, ctx), "sa")
    assert err.value.message == ("Step *train* contains a @parallel decorator with the @catch "
                                 "decorator. @catch is not supported with @parallel on Kubernetes.")
    assert "(ParallelCatchFlow.train)" in err.value.where


@pytest.mark.parametrize("backend,name", [("step-functions", "AWS Step Functions"),
                                          ("airflow", "Airflow")])
def test_step_functions_and_airflow_still_refuse_parallel(tmp_path, backend, name):
    ctx, fd = _context(tmp_path, SHAPES / "parallel_flow.py", backend)
    with pytest.raises(MetaflowRuleError) as err:
        if backend == "airflow":
            from flowstacks.render.airflow import dag_context
            from flowstacks.render.airflow.dag import render_dag

            render_dag(dag_context(ctx, fd, "s3://x/y", "0" * 40))
        else:
            from tests.sfn.helpers import render_resolved

            render_resolved(ctx, fd.flow.name, "0" * 40, "s3://x/y")
    assert err.value.message == (f"Deploying flows with @parallel decorator(s) to {name} is not "
                                 "supported currently.")


# -- Metaflow as the oracle ------------------------------------------------------------------
ORACLE_FLOWS = [SHAPES / "parallel_flow.py", *sorted(FLOWS.glob("*_flow.py"))]


def _oracle():
    from tests.oracle.harness import oracle_available, shared_oracle

    ok, why = oracle_available()
    if not ok:
        pytest.skip(why)
    pytest.importorskip("kubernetes", reason="argo-workflows create needs the kubernetes client")
    return shared_oracle()


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("path", ORACLE_FLOWS, ids=[p.stem for p in ORACLE_FLOWS])
def test_parallel_shapes_match_metaflow(tmp_path, path):
    """Each flow through Metaflow's ``argo-workflows create`` and flowstacks, judged as a cell
    of the decorator table (the JobSet manifest compared field by field): both accept with every
    compared field equal, or both refuse with Metaflow's message."""
    h.assert_argo_cell_agrees(tmp_path, path, REFUSED, 500)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("path", ACCEPTED, ids=[p.stem for p in ACCEPTED])
def test_jobset_manifest_text_is_metaflows(tmp_path, path):
    """The manifest text byte for byte: Metaflow's own text is its vendored PyYAML's dump of the
    object it parses back to; flowstacks' text is the same dump of that object once the two kept
    differences inside it are applied (D1: no deployment timestamp; D2: no deployer python
    version in METAFLOW_VERSION, whose value flowstacks writes as it does elsewhere)."""
    import json

    from metaflow._vendor import yaml as mf_yaml

    from tests.argo.oracle_compare import oracle_context, oracle_package
    from tests.oracle.harness import DEPLOY_ENV
    from tests.oracle.platform import with_metaflow_platform
    from tests.shapes import table as t

    oracle = _oracle()
    mf, theirs = t.run_metaflow(oracle, path, "argo")
    assert mf.accepted, mf.message
    template = theirs["workflow_template"]
    (resource,) = [x for x in template["spec"]["templates"] if "resource" in x]
    text = resource["resource"]["manifest"]
    quoted = f"'{WORKER_REPLICAS}'"

    def dump(obj):
        return mf_yaml.dump(obj, default_flow_style=False, indent=2).replace(quoted, WORKER_REPLICAS)

    obj = parse_manifest(text)
    assert dump(obj) == text  # the object is all of the text

    home = tmp_path / "home"
    home.mkdir()
    ctx, fd = _context(tmp_path, path)
    endpoint = next(e["value"] for x in template["spec"]["templates"]
                    for e in (x.get("container") or {}).get("env") or []
                    if e["name"] == "METAFLOW_S3_ENDPOINT_URL")
    ctx = with_metaflow_platform(oracle_context(ctx, t.USER, dict(DEPLOY_ENV), endpoint),
                                 dict(DEPLOY_ENV), home)
    ours = render_flow(ctx, fd, oracle_package(template, fd, ctx.config.aws.datastore_root),
                       ctx.config.kubernetes.service_account).template
    mine = h.container(ours, resource["name"])["resource"]["manifest"]
    metas = [obj["metadata"], *(j["template"]["spec"]["template"]["metadata"]
                                for j in obj["spec"]["replicatedJobs"])]
    for meta in metas:
        del meta["annotations"]["metaflow/deployment_timestamp"]  # D1
    version = json.loads(h.env(ours, "end")["METAFLOW_VERSION"])
    for job in obj["spec"]["replicatedJobs"]:
        for e in job["template"]["spec"]["template"]["spec"]["containers"][0]["env"]:
            if e["name"] == "METAFLOW_VERSION":  # D2
                theirs_version = json.loads(e["value"])
                assert {k: v for k, v in theirs_version.items()
                        if not k.startswith("python_version")} == version
                e["value"] = json.dumps(version)
    assert mine == dump(obj)


def test_the_stack_summary_labels_a_gang_as_num_parallel(tmp_path):
    from flowstacks.render.summary import mermaid

    _, fd = _context(tmp_path, FLOWS / "parallel_nested_flow.py")
    graph = mermaid(fd.flow)
    assert "s_setup -->|num_parallel| s_train" in graph
    assert "s_start -->|foreach sizes| s_setup" in graph
    assert "None" not in graph
