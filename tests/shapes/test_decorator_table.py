"""Every decorator option and graph shape of tests/shapes/flows x every backend, Metaflow 2.19.39
as the oracle (tests/shapes/table.py says how a cell is judged). ``docs/decorators.md`` is the
table these cells make: regenerate it with ``UPDATE_DECORATORS_DOC=1`` and review the diff.

Run with ``-s`` to see the counts."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import REPO
from tests.oracle.harness import oracle_available
from tests.shapes import table as t

_ok, _why = oracle_available()
pytestmark = [pytest.mark.oracle, pytest.mark.slow, pytest.mark.skipif(not _ok, reason=_why)]

DOC = REPO / "docs" / "decorators.md"
CASES = [(t.stem(p), b) for p in t.corpus() for b in t.BACKENDS]
# Metaflow subprocesses at once: each is CPU-bound for 1-3 s on an idle machine
WORKERS = int(os.environ.get("FLOWSTACKS_TABLE_WORKERS", "3"))


@pytest.fixture(scope="module")
def cells(tmp_path_factory) -> dict[tuple[str, str], t.Cell]:
    pytest.importorskip("kubernetes", reason="argo-workflows create needs the kubernetes client")
    from tests.oracle.harness import shared_oracle

    oracle = shared_oracle()
    home = tmp_path_factory.mktemp("mfhome")
    paths = {t.stem(p): p for p in t.corpus()}

    def metaflow(case):  # the subprocesses, in parallel
        stem, backend = case
        return case, t.run_metaflow(oracle, paths[stem], backend)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        oracle_results = dict(pool.map(metaflow, CASES))
    out = {}
    for (stem, backend), (mf, theirs) in oracle_results.items():
        work = tmp_path_factory.mktemp(f"{stem}-{backend}")
        fs, points, equal, diffs = t.run_flowstacks(paths[stem], backend, theirs, work, home,
                                                   oracle.endpoint)
        out[(stem, backend)] = t.Cell(stem, backend, mf, fs, points, equal, diffs)
    return out


@pytest.mark.parametrize("stem,backend", CASES, ids=[f"{s}-{b}" for s, b in CASES])
def test_cell(cells, stem, backend):
    """A cell agrees with Metaflow (or is a listed extension / cannot-run refusal); a listed
    known disagreement must still disagree, so that fixing it flips its entry."""
    cell = cells[(stem, backend)]
    detail = (f"Metaflow {t._side(cell.metaflow)}\nflowstacks {t._side(cell.flowstacks)}\n"
              + "\n".join(cell.differences[:10]))
    if cell.key in t.KNOWN_DISAGREEMENTS:
        assert cell.verdict == t.DISAGREEMENT, (
            f"{stem} on {backend} now agrees ({cell.verdict}): remove it from "
            f"KNOWN_DISAGREEMENTS ({t.KNOWN_DISAGREEMENTS[cell.key]})\n{detail}")
        return
    assert cell.verdict != t.DISAGREEMENT, detail
    if cell.key in t.EXTENSIONS:
        assert cell.verdict == t.EXTENSION, detail
    if cell.verdict == t.HONOURED and cell.metaflow.accepted:
        assert cell.points > 0, "nothing was compared"


def test_expectation_tables_name_real_cells():
    known = set(CASES)
    for table in (t.EXTENSIONS, t.CANNOT_RUN, t.KNOWN_DISAGREEMENTS):
        assert set(table) <= known, set(table) - known


def test_every_row_has_a_label():
    for path in t.corpus():
        kind, label = t.row_label(path)
        assert kind in ("Shape", "Decorator", "Parameter", "IncludeFile", "Config") or label, path
        assert t.flow_class(path)


def test_document_is_generated_from_the_cells(cells, capsys):
    ordered = [cells[c] for c in CASES]
    text = t.document(ordered)
    n = t.counts(ordered)
    with capsys.disabled():
        print("\ndecorator table: " + ", ".join(f"{k} {v}" for k, v in n.items()))
    if os.environ.get("UPDATE_DECORATORS_DOC") == "1":
        DOC.write_text(text)
    assert DOC.exists(), "run with UPDATE_DECORATORS_DOC=1"
    assert DOC.read_text() == text, "docs/decorators.md is stale: UPDATE_DECORATORS_DOC=1"
