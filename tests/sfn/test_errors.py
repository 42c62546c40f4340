"""Bad input fails before anything is written, with Metaflow's message naming flow and step."""

from __future__ import annotations

import ast

import pytest

from flowstacks.errors import MetaflowRuleError

from .conftest import REPO

TZ_FLOW = '''
from metaflow import FlowSpec, project, schedule, step


@schedule(daily=True, timezone="Europe/Paris")
@project(name="tz_project")
class TzFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
'''


def test_timezone_schedule_fails_and_writes_nothing(tmp_path):
    from flowstacks.synth.engine import synth

    (tmp_path / "flowspecs").mkdir()
    (tmp_path / "flowspecs" / "tz_flow.py").write_text(TZ_FLOW)
    out = tmp_path / "build"
    with pytest.raises(MetaflowRuleError) as exc:
        synth(tmp_path, ["prod"], out, "step-functions")
    assert exc.value.message == "Step Functions does not support scheduling with a timezone."
    assert exc.value.where == "flowspecs/tz_flow.py (TzFlow)"
    assert not out.exists() or not any(out.iterdir())


PURE = sorted(str(p.relative_to(REPO)) for p in (REPO / "flowstacks/render/sfn").glob("*.py")) + [
    "flowstacks/render/walk.py", "flowstacks/render/metaflow_runtime.py", "flowstacks/iam/sfn.py"]
FORBIDDEN_MODULES = {"pulumi", "pulumi_aws", "os", "time", "datetime", "random", "subprocess"}


@pytest.mark.parametrize("path", PURE)
def test_pure_modules_import_no_pulumi_env_clock_or_io(path):
    tree = ast.parse((REPO / path).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "open", f"{path} opens a file"
    assert not imported & FORBIDDEN_MODULES, (path, imported & FORBIDDEN_MODULES)
