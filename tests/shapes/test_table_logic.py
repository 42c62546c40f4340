"""How a cell of the decorator table is judged (fast; the oracle run is test_decorator_table.py)."""

from __future__ import annotations

from tests.shapes import table as t

STDERR = """Metaflow 2.19.39 executing LinearFlow for user:alice
Project: shapes, Branch: user.alice

    Argo Workflows error:
    Multi-namespace Kubernetes execution of flows in Argo Workflows is not currently supported.
    Step *work* is trying to override the default Kubernetes namespace *fake-ns*.

"""


def test_metaflow_message_is_the_text_under_the_last_headline():
    assert t.metaflow_message(STDERR) == (
        "Multi-namespace Kubernetes execution of flows in Argo Workflows is not currently "
        "supported. Step work is trying to override the default Kubernetes namespace fake-ns.")


def _cell(mf, fs, key=("linear", "argo"), diffs=()):
    return t.Cell(key[0], key[1], mf, fs, 10, 10 - len(diffs), list(diffs))


def test_verdicts():
    ok, no = t.Side(True), t.Side(False, "Step work is bad.")
    assert _cell(ok, ok).verdict == t.HONOURED
    assert _cell(ok, ok, diffs=["x"]).verdict == t.DISAGREEMENT
    assert _cell(no, t.Side(False, "Step *work* is bad. (hint: do X)")).verdict == t.REFUSED_ALIKE
    assert _cell(no, t.Side(False, "something else")).verdict == t.DISAGREEMENT
    assert _cell(no, ok).verdict == t.DISAGREEMENT
    assert _cell(no, ok, key=("trigger", "step-functions")).verdict == t.EXTENSION
    assert _cell(ok, no).verdict == t.DISAGREEMENT


def test_rows_come_from_the_corpus_docstrings():
    labels = {t.stem(p): t.row_label(p) for p in t.corpus()}
    assert labels["switch"][0] == "Shape"
    assert labels["kubernetes_pvc"] == ("Decorator", "@kubernetes(persistent_volume_claims=...)")
    assert len(labels) >= 50
