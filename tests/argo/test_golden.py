"""Golden files: every example flow x namespace kind (prod, test.<b>, user.<u>), as the reviewer
reads them in ``argo/<name>.yaml``. Regenerate with ``UPDATE_GOLDEN=1`` and review the diff."""

from __future__ import annotations

import os

import pytest

from tests.argo import helpers as h
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "argo"
CASES = [(kind, stack, fd.flow.name) for kind, stack in h.GOLDEN_KINDS.items()
         for fd in h.context(stack).flows]


@pytest.mark.parametrize("kind,stack,flow", CASES, ids=[f"{k}:{f}" for k, _, f in CASES])
def test_golden(kind, stack, flow):
    ctx = h.context(stack)
    content = h.render(ctx, ctx.flow(flow)).artifact().content
    path = GOLDEN / kind / f"{flow}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with UPDATE_GOLDEN=1"
    assert content == path.read_text(encoding="utf-8"), f"{path} differs; review, then UPDATE_GOLDEN=1"


def test_no_stale_goldens():
    expected = {f"{k}/{f}.yaml" for k, _, f in CASES}
    present = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.yaml")}
    assert present == expected
