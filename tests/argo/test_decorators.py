"""Argo: the decorator options and refusals of issue 14 on the corpus flows of tests/shapes/flows
(fast, no oracle; tests/shapes/test_decorator_table.py compares the same flows with Metaflow).

Each test renders one corpus flow as a zero-config project and checks what Metaflow 2.19.39's
``_container_templates`` / ``step_init`` would write or refuse (sources named in the modules)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.load.project import ProjectDir
from flowstacks.render.argo import render_flow
from flowstacks.render.argo.events import cron_workflow
from tests.argo import helpers as h

CORPUS = Path(__file__).resolve().parents[1] / "shapes" / "flows"


def _context(tmp_path: Path, stem: str, stack: str = "user.alice", environ=None):
    root = tmp_path / stem
    (root / "flowspecs").mkdir(parents=True)
    shutil.copy(CORPUS / f"{stem}_flow.py", root / "flowspecs")
    for data in CORPUS.iterdir():
        if data.suffix in (".txt", ".json"):
            shutil.copy(data, root / "flowspecs" / data.name)
    ctx = ProjectDir(root, "argo", environ=environ or {"USER": "alice"}).stack_context(stack)
    return ctx, ctx.flows[0]


def _render(tmp_path, stem, **kw):
    ctx, fd = _context(tmp_path, stem, **kw)
    objs = render_flow(ctx, fd, h.fixed_package(fd, ctx), "stack-sa")
    for doc in objs.documents():
        assert h.schema_errors(doc) == [], doc["kind"]
        assert h.nulls(doc) == []
    assert h.reference_problems(objs.template) == []
    return objs


def _work(objs):
    return next(t for t in objs.template["spec"]["templates"] if t["name"] == "work")


def test_persistent_volume_claims_are_volumes_and_mounts(tmp_path):
    work = _work(_render(tmp_path, "kubernetes_pvc"))
    assert {"name": "my-claim", "persistentVolumeClaim": {"claimName": "my-claim"}} in work["volumes"]
    assert {"mountPath": "/mnt/data", "name": "my-claim"} in work["container"]["volumeMounts"]


def test_node_selector_tolerations_secrets_labels_annotations(tmp_path):
    assert _work(_render(tmp_path, "kubernetes_node_selector"))["nodeSelector"] == {"disktype": "ssd"}
    tol = _work(_render(tmp_path, "kubernetes_tolerations"))
    assert tol["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    sec = _work(_render(tmp_path, "kubernetes_secrets"))
    assert sec["container"]["envFrom"] == [{"secretRef": {"name": "my-k8s-secret"}}]
    lab = _work(_render(tmp_path, "kubernetes_labels"))
    assert lab["metadata"]["labels"] == {"team": "ml"}
    assert lab["metadata"]["annotations"]["note"] == "hello"
    assert lab["metadata"]["annotations"]["metaflow/step_name"] == "work"


def test_tmpfs_is_mounted_where_metaflow_tempdir_points(tmp_path):
    work = _work(_render(tmp_path, "kubernetes_tmpfs"))
    env = {e["name"]: e.get("value") for e in work["container"]["env"]}
    assert env["METAFLOW_TEMPDIR"] == "/metaflow_temp"
    assert {"name": "tmpfs-ephemeral-volume",
            "emptyDir": {"sizeLimit": "1024Mi", "medium": "Memory"}} in work["volumes"]
    assert {"mountPath": "/metaflow_temp", "name": "tmpfs-ephemeral-volume"} in \
        work["container"]["volumeMounts"]
    path = _work(_render(tmp_path, "kubernetes_tmpfs_path"))
    env = {e["name"]: e.get("value") for e in path["container"]["env"]}
    assert env["METAFLOW_TEMPDIR"] == "/scratch"
    # no size given: half the memory (kubernetes_decorator.step_init)
    assert {"name": "tmpfs-ephemeral-volume",
            "emptyDir": {"sizeLimit": "2048Mi", "medium": "Memory"}} in path["volumes"]
    plain = _work(_render(tmp_path, "linear"))
    assert "METAFLOW_TEMPDIR" not in {e["name"] for e in plain["container"]["env"]}


def test_shared_memory_sizes_and_mounts_dev_shm(tmp_path):
    work = _work(_render(tmp_path, "kubernetes_shm"))
    assert {"name": "dhsm", "emptyDir": {"sizeLimit": "512Mi", "medium": "Memory"}} in work["volumes"]
    assert {"mountPath": "/dev/shm", "name": "dhsm"} in work["container"]["volumeMounts"]
    plain = _work(_render(tmp_path, "linear"))
    assert {"name": "dhsm", "emptyDir": {"medium": "Memory"}} in plain["volumes"]
    assert all(m["name"] != "dhsm" for m in plain["container"]["volumeMounts"])


def test_a_decorators_service_account_wins(tmp_path):
    objs = _render(tmp_path, "kubernetes_service_account")
    assert _work(objs)["serviceAccountName"] == "team-sa"
    start = next(t for t in objs.template["spec"]["templates"] if t["name"] == "start")
    assert start["serviceAccountName"] == "stack-sa"


def test_a_second_kubernetes_namespace_is_refused_with_metaflows_message(tmp_path):
    ctx, fd = _context(tmp_path, "kubernetes_namespace")
    with pytest.raises(MetaflowRuleError) as err:
        render_flow(ctx, fd, h.fixed_package(fd, ctx), "sa")
    assert err.value.message.startswith("Multi-namespace Kubernetes execution of flows in Argo "
                                        "Workflows is not currently supported.")
    namespace = ctx.config.kubernetes.namespace  # the stack's (metaflow-user: per-class layout)
    assert f"Step *work* is trying to override the default Kubernetes namespace *{namespace}*" in \
        err.value.message
    same = ctx.model_copy(update={"config": ctx.config.model_copy(update={
        "kubernetes": ctx.config.kubernetes.model_copy(update={"namespace": "team-ns"})})})
    objs = render_flow(same, fd, h.fixed_package(fd, same), "sa")
    assert objs.template["metadata"]["namespace"] == "team-ns"


@pytest.mark.parametrize("stem,deco", [("conda", "conda"), ("conda_base", "conda"),
                                       ("pypi", "pypi"), ("pypi_base", "pypi")])
def test_conda_and_pypi_are_refused_with_metaflows_message(tmp_path, stem, deco):
    """Refused while the project loads (for every backend), before anything renders."""
    with pytest.raises(MetaflowRuleError) as err:
        ctx, fd = _context(tmp_path, stem)
        render_flow(ctx, fd, h.fixed_package(fd, ctx), "sa")
    assert err.value.message == (f"@{deco} decorator requires --environment=conda or "
                                 "--environment=pypi or --environment=fast-bakery")
    assert "image" in err.value.hint


def test_parameters_annotation_holds_attribute_names_and_description_keeps_indentation(tmp_path):
    objs = _render(tmp_path, "parameter")
    ann = objs.template["metadata"]["annotations"]
    params = json.loads(ann["metaflow/parameters"])
    assert params["eval-metric"]["python_var_name"] == "eval_metric"
    assert params["eval-metric"]["name"] == "eval-metric"
    assert ann["workflows.argoproj.io/description"] == (
        "A flow with parameters.\n\n        Indented detail line.")


def test_zero_config_owner_is_the_deploying_user(tmp_path):
    ctx, _ = _context(tmp_path, "linear", stack="prod", environ={"USER": "bob"})
    assert ctx.owner == "bob"
    ctx, _ = _context(tmp_path / "x", "linear", stack="prod", environ={"METAFLOW_USER": "carol",
                                                                       "USER": "bob"})
    assert ctx.owner == "carol"
    # no user Metaflow would accept (root): the config's owner
    ctx, _ = _context(tmp_path / "y", "linear", stack="prod", environ={"USER": "root"})
    assert ctx.owner == "flowstacks"


@pytest.mark.parametrize("version,field", [(None, "schedules"), ("3.6", "schedules"),
                                           ("4.0.1", "schedules"), ("3.5", "schedule"),
                                           ("3.4.9", "schedule")])
def test_cron_workflow_schedule_field_follows_the_argo_version(tmp_path, version, field):
    ctx, fd = _context(tmp_path, "schedule_cron")
    k8s = ctx.config.kubernetes.model_copy(update={"argo_version": version})
    ctx = ctx.model_copy(update={"config": ctx.config.model_copy(update={"kubernetes": k8s})})
    cron = cron_workflow(ctx, fd)
    other = {"schedule", "schedules"} - {field}
    assert not other & set(cron["spec"])
    assert cron["spec"][field] == (["0 12 * * ?"] if field == "schedules" else "0 12 * * ?")
    errors = h.schema_errors(cron)
    if field == "schedules":
        assert errors == []
    else:
        # the Argo 4.1.2 schema of the suite no longer knows `schedule` (Argo < 3.6 does)
        assert errors and all("schedule" in e for e in errors)


def test_argo_version_is_validated():
    from pydantic import ValidationError

    from flowstacks.model.config import Kubernetes

    with pytest.raises(ValidationError):
        Kubernetes(argo_version="three")
