"""The code package: Metaflow's layout, deterministic, and usable by the task command."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from flowstacks.load import code_package as pkg

from .conftest import REPO


@pytest.fixture(scope="module")
def scoring_package(contexts):
    from flowstacks.deploy.packages import build_flow_package

    ctx = contexts["prod"]
    return build_flow_package(ctx, ctx.flow("ScoringFlow"), REPO)


def _members(package: pkg.CodePackage) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(package.blob), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_layout(scoring_package):
    members = _members(scoring_package)
    assert {"scoring_flow.py", "train_flow.py", "common.py"} <= set(members)
    assert "flowstacks_config.py" not in members  # not flow code (imports infra)
    assert ".mf_code/metaflow/__init__.py" in members
    assert not any("__pycache__" in m for m in members)
    assert json.loads(members[".mf_meta/CONFIG"]) == {
        "user_configs": {"settings": [{"threshold": 0.8, "table": "scores"}, False]}}
    info = json.loads(members[".mf_meta/INFO"])
    assert info["script"] == "scoring_flow.py" and info["metaflow_version"] == "2.19.39"
    assert json.loads(members[".mf_install"]) == {"version": 1, "module_files": []}


def test_content_address(scoring_package):
    import hashlib

    assert scoring_package.sha == hashlib.sha1(scoring_package.blob).hexdigest()
    # under prod's own datastore root (issue 16)
    assert scoring_package.url == (f"s3://example-metaflow/metaflow/prod/ScoringFlow/data/"
                                   f"{scoring_package.sha[:2]}/{scoring_package.sha}")


def test_deterministic():
    files = {"b.py": b"x", "a.py": b"y"}
    one = pkg.build_code_package(files, "F", "s3://b/p")
    two = pkg.build_code_package(dict(reversed(list(files.items()))), "F", "s3://b/p")
    assert one.blob == two.blob and one.sha == two.sha
    assert pkg.build_code_package({"a.py": b"z"}, "F", "s3://b/p").sha != one.sha


def test_task_can_run_the_flow_from_the_package(scoring_package, tmp_path):
    """What the task command does after the download: extract, put .mf_code first on
    PYTHONPATH, run ``python <flow>.py``; the Config value comes from the package (kv.settings)."""
    with tarfile.open(fileobj=io.BytesIO(scoring_package.blob), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "USER": "tester",
           "PYTHONPATH": str(tmp_path / ".mf_code"), "METAFLOW_EXTRACTED_ROOT": str(tmp_path),
           "METAFLOW_FLOW_CONFIG_VALUE": json.dumps({"settings": "kv.settings"}),
           "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path / "ds")}
    code = ("import runpy, sys; sys.argv = ['scoring_flow.py', '--no-pylint', 'run']; "
            "import metaflow; print('MFROOT', metaflow.__file__); "
            "runpy.run_path('scoring_flow.py', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    # Metaflow itself comes from the package, and the prod Config value (0.8, not the 0.5 of
    # the flow's default file, absent from the package) from .mf_meta/CONFIG.
    assert f"MFROOT {tmp_path}/.mf_code/metaflow/__init__.py" in result.stdout
    assert "scored with threshold 0.8 on scores" in result.stdout + result.stderr


def test_packages_sharing_their_first_segment_keep_their_own_sha():
    """The SHA-1 state after a shared first segment is reused: each package's sha is still
    the SHA-1 of its own bytes."""
    shared = pkg.segment({"metaflow/a.py": b"x" * 5000})
    packages = [pkg.assemble([shared, pkg.segment({f"f{i}.py": bytes([i])})], "F", "s3://b/p")
                for i in range(3)] + [pkg.assemble([pkg.segment({"other.py": b"y"})], "F", "s3://b/p")]
    packages.append(pkg.assemble([shared, pkg.segment({"f0.py": bytes([0])})], "F", "s3://b/p"))
    for package in packages:
        assert package.sha == hashlib.sha1(package.blob).hexdigest()
    assert len({p.sha for p in packages[:4]}) == 4 and packages[4].sha == packages[0].sha
