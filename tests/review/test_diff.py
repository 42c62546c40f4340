"""`flowstacks diff`: normalised per-flow changes, deletions visible, bounded Markdown."""

from __future__ import annotations

import shutil

import pytest

from flowstacks.review.diff import diff_stacks, render_markdown, render_text
from tests.conftest import REPO

ORCH = "argo"  # the cheapest backend to synthesize; the diff itself is backend-agnostic


@pytest.fixture(scope="module")
def branch_diff():
    return diff_stacks(REPO, "prod", "test.feature_x", ORCH)


def test_same_stack_has_no_change():
    d = diff_stacks(REPO, "prod", "prod", ORCH)
    assert d.empty and d.plan is not None and not d.plan.changes and not d.plan.blocked
    assert render_text(d) == f"prod: no change (deployed: {REPO})\n"
    assert "No change." in render_markdown(d)


def test_names_are_normalised_only_real_changes_show(branch_diff):
    changed = {name: c for name, c in branch_diff.flows.items() if not c.empty}
    # ScoringFlow reads another Config file in prod: that is a real change and it shows
    assert "Config values differ" in changed["ScoringFlow"].notes
    body = render_text(branch_diff).split("\n", 1)[1]
    assert "feature_x" not in body and "mfprj-" not in body
    # no resource appears as added/removed merely because its namespace name differs
    assert all(not c.added and not c.removed for c in branch_diff.flows.values())


def test_deleted_flow_is_visible_before_it_happens(tmp_path):
    head = tmp_path / "head"
    shutil.copytree(REPO / "flowspecs", head / "flowspecs")
    shutil.copytree(REPO / "stacks", head / "stacks")
    (head / "flowspecs" / "refresh_flow.py").unlink()
    d = diff_stacks(head, "test.feature_x", "test.feature_x", ORCH, base_project_dir=REPO)
    refresh = d.flows["RefreshFlow"]
    assert any("flow removed" in n and "DELETE" in n for n in refresh.notes)
    assert refresh.resources and {r.action for r in refresh.resources} == {"delete"}
    # test stacks are not protected: the deletion goes through
    assert not d.plan.blocked and not d.plan.unprotect_commands()
    assert "RefreshFlow" in render_markdown(d)


def test_markdown_stays_under_the_limit(branch_diff):
    small = render_markdown(branch_diff, limit=1500)
    assert len(small) <= 1500
    assert "Details cut at 1500 characters" in small
    assert small.startswith("### flowstacks: `test.feature_x` vs `prod`")
    assert "| flow | added | removed | changed | notes |" in small
