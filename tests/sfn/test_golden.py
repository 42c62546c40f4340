"""Golden files: every example flow x namespace kind, as ``flowstacks synth`` writes them.

``tests/golden/step-functions/<kind>/<Flow>.asl.json`` and ``.../<kind>/iam/<purpose>.json``.
Regenerate (and review the diff) with ``UPDATE_GOLDEN=1 pytest tests/sfn/test_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import REPO, STACKS

GOLDEN = REPO / "tests" / "golden" / "step-functions"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _artifacts(synth_out: Path, kind: str, contexts) -> dict[str, str]:
    """golden path (relative to GOLDEN/<kind>) -> content written by synth."""
    ctx, folder = contexts[kind], synth_out / STACKS[kind]
    files = {}
    for dep in ctx.flows:
        path = folder / "step-functions" / f"{dep.state_machine_name}.asl.json"
        files[f"{dep.flow.name}.asl.json"] = path.read_text()
    for path in sorted((folder / "iam").glob(f"{ctx.token_prefix}-*.json")):
        purpose = path.name[len(ctx.token_prefix) + 1:]
        if purpose.startswith(("sfn-", "batch-")):
            files[f"iam/{purpose}"] = path.read_text()
    return files


@pytest.mark.parametrize("kind", list(STACKS))
def test_golden(kind, synth_out, contexts):
    files = _artifacts(synth_out, kind, contexts)
    assert len(files) == 6 + 3
    base = GOLDEN / kind
    if UPDATE:
        for rel, content in files.items():
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_text(content, encoding="utf-8")
    missing = [rel for rel in files if not (base / rel).exists()]
    assert not missing, f"no golden for {missing}: run with UPDATE_GOLDEN=1 and review"
    changed = [rel for rel, content in files.items()
               if (base / rel).read_text(encoding="utf-8") != content]
    assert not changed, f"differs from golden: {changed} (UPDATE_GOLDEN=1 to accept)"
    extra = sorted(p.relative_to(base).as_posix() for p in base.rglob("*.json")
                   if p.relative_to(base).as_posix() not in files)
    assert not extra, f"stale golden files: {extra}"
