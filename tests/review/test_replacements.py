"""The replace-on-change catalog: it covers every resource type flowstacks creates, names only real
input properties of the pinned SDKs, the properties it says flowstacks sets occur in the
synthesized manifests (and the others do not), and docs/provider-replacements.md shows it."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from flowstacks.review.replacements import CATALOG, reason, replacing_paths, touches
from tests.conftest import ORCHESTRATORS, REPO, synthesized

DOC = REPO / "docs" / "provider-replacements.md"


@pytest.fixture(scope="module")
def records() -> dict[str, list[dict[str, Any]]]:
    """Every resource record of the example project's prod and user stacks, by type."""
    out: dict[str, list[dict[str, Any]]] = {}
    for orchestrator in ORCHESTRATORS:
        for stack in ("prod", "user.alice"):
            for r in synthesized(orchestrator, stack).manifest()["resources"]:
                # the explicit providers are not catalogued: a change of their settings is
                # classified as a replacement (the careful answer for an uncatalogued type)
                if not r["type"].startswith("pulumi:providers:"):
                    out.setdefault(r["type"], []).append(r)
    return out


def _lookup(inputs: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(inputs, dict) or part not in inputs:
            return False
        inputs = inputs[part]
    return True


def _args_class(type_: str) -> tuple[Any, Any]:
    """The pinned SDK's Args class of a type token and the module it lives in (``None`` for a
    custom resource, whose inputs are CustomResource's own)."""
    package, module, kind = type_.split(":")
    if package == "aws":
        mod = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
        return getattr(mod, f"{kind}Args"), mod
    group, version = module.split("/")
    if group in ("core", "rbac.authorization.k8s.io"):
        mod = importlib.import_module(f"pulumi_kubernetes.{group.split('.')[0]}.{version}")
        return getattr(mod, f"{kind}InitArgs"), mod
    return None, None


def _inputs_of(cls: Any) -> dict[str, Any]:
    """camelCase input name -> the getter, for an SDK Args class."""
    return {getattr(v.fget, "_pulumi_name", n): v.fget for n, v in vars(cls).items()
            if isinstance(v, property)}


def _nested_class(getter: Any, mod: Any) -> Any:
    """The Args class a nested input holds, read from the getter's annotation."""
    found = re.search(r"ForwardRef\('([\w.]+Args)'\)", str(getter.__annotations__.get("return")))
    assert found, f"{getter} holds no Args class"
    name = found.group(1)
    if name.startswith("_meta."):
        return importlib.import_module("pulumi_kubernetes.meta.v1").ObjectMetaArgs
    return getattr(mod, name)


def _is_sdk_input(type_: str, path: str) -> bool:
    cls, mod = _args_class(type_)
    head, *rest = path.split(".")
    if cls is None:  # argoproj.io custom resources: CustomResource(api_version, kind, metadata, spec)
        if head not in ("apiVersion", "kind", "metadata", "spec") or (rest and head != "metadata"):
            return False
        meta = importlib.import_module("pulumi_kubernetes.meta.v1").ObjectMetaArgs
        return len(rest) <= 1 and all(p in _inputs_of(meta) for p in rest)
    getters = _inputs_of(cls)
    for part in rest:
        if head not in getters:
            return False
        getters = _inputs_of(_nested_class(getters[head], mod))
        head = part
    return head in getters


def test_every_type_flowstacks_creates_is_catalogued_and_no_other(records):
    assert set(records) == set(CATALOG)
    assert len(CATALOG) == 15


def test_catalogued_properties_are_real_inputs_of_the_pinned_sdks():
    for entry in CATALOG.values():
        for prop in entry.paths:
            assert _is_sdk_input(entry.type, prop), (entry.type, prop)
    # the checker itself rejects what is not an input
    assert not _is_sdk_input("aws:s3/bucketObjectv2:BucketObjectv2", "keyPrefix")
    assert not _is_sdk_input("aws:batch/jobDefinition:JobDefinition", "retryStrategy.onExit")
    assert not _is_sdk_input("kubernetes:argoproj.io/v1alpha1:Sensor", "metadata.nam")


def test_properties_flowstacks_sets_occur_in_every_manifest_record(records):
    for entry in CATALOG.values():
        for item in entry.set:
            missing = [r["name"] for r in records[entry.type] if not _lookup(r["inputs"], item.path)]
            assert not missing, (entry.type, item.path, missing)


def test_properties_listed_as_not_set_are_set_nowhere(records):
    """A replace-on-change input flowstacks starts to set must move to ``set`` (and be read
    again in the provider's source)."""
    for entry in CATALOG.values():
        for item in entry.not_set:
            users = [r["name"] for r in records[entry.type] if _lookup(r["inputs"], item.path)]
            assert not users, (entry.type, item.path, users)


def test_every_entry_cites_a_provider_file():
    repos = {"hashicorp/terraform-provider-aws", "pulumi/pulumi-kubernetes"}
    for entry in CATALOG.values():
        for item in entry.set + entry.not_set:
            repo, path, commit = item.source
            assert repo in repos and "/" in path and re.fullmatch(r"[0-9a-f]{12}", commit)
            assert item.why and reason(entry.type, item.path) is item


def test_batch_job_definitions_update_in_place_on_the_pinned_provider():
    """Terraform AWS >= 5.44 (bridged by pulumi-aws 7.51.1) registers a new revision instead of
    forcing a new job definition: only the name (and retry conditions) replace."""
    jobdef = "aws:batch/jobDefinition:JobDefinition"
    assert replacing_paths(jobdef, ["containerProperties.image", "platformCapabilities"]) == []
    assert replacing_paths(jobdef, ["name"]) == ["name"]
    assert replacing_paths(jobdef, ["retryStrategy.evaluateOnExits[0].action"]) == [
        "retryStrategy.evaluateOnExits"]


def test_paths_touch_nested_properties_both_ways():
    assert touches("metadata.name", "metadata.name")
    assert touches("roleRef.name", "roleRef")  # inside the property
    assert touches("metadata", "metadata.name")  # the whole metadata added or removed
    assert not touches("metadata.annotations.x", "metadata.name")
    assert not touches("namePrefix", "name") and not touches("name", "namePrefix")
    assert touches("retryStrategy.evaluateOnExits[1]", "retryStrategy.evaluateOnExits")
    assert replacing_paths("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                           ["subjects[0].name", "roleRef.name"]) == ["roleRef"]
    assert replacing_paths("kubernetes:rbac.authorization.k8s.io/v1:Role", ["rules[0].verbs"]) == []
    assert replacing_paths("pulumi:providers:aws", ["region"]) is None


def test_doc_table_matches_the_catalog():
    text = DOC.read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and ":" in cells[0]:
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(CATALOG)
    for type_, entry in CATALOG.items():
        cells = rows[type_]
        assert re.findall(r"`([\w.]+)`", cells[1]) == [i.path for i in entry.set], type_
        assert re.findall(r"`([\w.]+)`", cells[2]) == [i.path for i in entry.not_set], type_
        for item in entry.set + entry.not_set:
            assert item.source[1] in text
