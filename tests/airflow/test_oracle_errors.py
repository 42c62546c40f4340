"""What Metaflow's ``airflow create`` refuses, flowstacks refuses with the same message (except
``@trigger_on_finish``, which flowstacks supports): each case is a flow file deployed by both."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from flowstacks.errors import MetaflowRuleError
from flowstacks.load.project import ProjectDir
from flowstacks.render.airflow import dag_context

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

HEAD = "from metaflow import FlowSpec, Parameter, batch, project, schedule, step\n\n"
CASES = {
    "timezone": """
        @schedule(daily=True, timezone='Europe/Paris')
        @project(name='example_project')
        class TzFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
    "foreach_body": """
        @project(name='example_project')
        class BodyFlow(FlowSpec):
            @step
            def start(self):
                self.xs = [1, 2]
                self.next(self.a, foreach='xs')
            @step
            def a(self):
                self.next(self.b)
            @step
            def b(self):
                self.next(self.join)
            @step
            def join(self, inputs):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
    "nested_foreach": """
        @project(name='example_project')
        class NestedFlow(FlowSpec):
            @step
            def start(self):
                self.xs = [1, 2]
                self.next(self.outer, foreach='xs')
            @step
            def outer(self):
                self.ys = [1, 2]
                self.next(self.inner, foreach='ys')
            @step
            def inner(self):
                self.next(self.join_inner)
            @step
            def join_inner(self, inputs):
                self.next(self.join_outer)
            @step
            def join_outer(self, inputs):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
    "split_in_foreach": """
        @project(name='example_project')
        class SplitInForeachFlow(FlowSpec):
            @step
            def start(self):
                self.xs = [1, 2]
                self.next(self.a, foreach='xs')
            @step
            def a(self):
                self.next(self.b, self.c)
            @step
            def b(self):
                self.next(self.join_bc)
            @step
            def c(self):
                self.next(self.join_bc)
            @step
            def join_bc(self, inputs):
                self.next(self.join_xs)
            @step
            def join_xs(self, inputs):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
    "no_default": """
        @project(name='example_project')
        class NoDefaultFlow(FlowSpec):
            alpha = Parameter('alpha', type=int, required=True)
            @step
            def start(self):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
    "batch": """
        @project(name='example_project')
        class BatchFlow(FlowSpec):
            @batch(cpu=1)
            @step
            def start(self):
                self.next(self.end)
            @step
            def end(self):
                pass
        """,
}


def _squash(text: str) -> str:
    """Whitespace folded, and ``*bold*`` marks dropped: the CLI prints an exception's ``*x*``
    as bold ``x``; flowstacks keeps the exception text."""
    return re.sub(r"\s+", " ", text.replace("*", "")).strip()


@pytest.fixture(scope="module")
def oracle():
    from tests.oracle.harness import oracle_available, shared_oracle

    ok, why = oracle_available()
    if not ok:
        pytest.skip(why)
    return shared_oracle()


@pytest.mark.parametrize("case", list(CASES))
def test_same_refusal_as_metaflow(case: str, oracle, tmp_path: Path) -> None:
    flow_file = tmp_path / "flowspecs" / f"{case}.py"
    flow_file.parent.mkdir()
    body = textwrap.dedent(CASES[case])
    cls = re.search(r"class (\w+)\(FlowSpec\)", body).group(1)
    flow_file.write_text(f"{HEAD}{body}\n\nif __name__ == '__main__':\n    {cls}()\n",
                         encoding="utf-8")
    ctx = ProjectDir(tmp_path, "airflow").stack_context("prod")
    with pytest.raises(MetaflowRuleError) as ours:
        dag_context(ctx, ctx.flows[0], "s3://b/p/F/data/00/00", "00")
    out = oracle.run_cli(flow_file, ["airflow", "create", str(tmp_path / "dag.py")],
                         production=True, user="platform-team", check=False)
    assert not (tmp_path / "dag.py").exists()  # Metaflow refused too
    assert _squash(ours.value.message) in _squash(out.stdout + out.stderr)
    assert ctx.flows[0].flow.name in ours.value.where
