"""The installed distribution: the package `flowstacks` only (a top-level `infra` package in
site-packages would shadow the `infra/` folder most infrastructure repos have), with its templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_wheel_holds_flowstacks_only_with_its_templates(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "--disable-pip-version-check", "-w", str(tmp_path), str(REPO)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("flowstacks-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"flowstacks"}
    assert not any(n.startswith("infra/") for n in names)
    assert "flowstacks/render/airflow/templates/airflow_dag.py.j2" in names
    assert any(n.startswith("flowstacks/adopt/templates/workflows/") for n in names)
