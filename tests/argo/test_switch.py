"""Switch steps on Argo (``self.next({...}, condition=...)``), rendered as Metaflow 2.19.39 renders
them: a ``when:`` on each case's task, conditional ``depends`` and input paths after the cases, a
steps template that calls itself for a switch that loops on itself. The flows: the shape corpus'
``switch``/``recursive_switch`` and ``tests/argo/flows/switch/`` (a case that skips ahead, a switch
in a static split, in a foreach, nested in a case, and cases that go straight into a foreach join,
which Metaflow refuses). The slow test at the end compares each with Metaflow's own output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.load.project import ProjectDir
from flowstacks.render.argo import render_flow
from flowstacks.render.argo.switch import Conditionals
from tests.argo import helpers as h
from tests.conftest import REPO

SHAPES = REPO / "tests" / "shapes" / "flows"
SWITCH_FLOWS = REPO / "tests" / "argo" / "flows" / "switch"
REFUSED = "switch_foreach_join_flow.py"
ACCEPTED = [SHAPES / "switch_flow.py", SHAPES / "recursive_switch_flow.py",
            *(p for p in sorted(SWITCH_FLOWS.glob("*_flow.py")) if p.name != REFUSED)]


def _context(tmp_path: Path, path: Path):
    root = tmp_path / path.stem
    (root / "flowspecs").mkdir(parents=True)
    shutil.copy(path, root / "flowspecs" / path.name)
    ctx = ProjectDir(root, "argo", environ={"USER": "alice"}).stack_context("user.alice")
    return ctx, ctx.flows[0]


def _render(tmp_path: Path, path: Path):
    ctx, fd = _context(tmp_path, path)
    return render_flow(ctx, fd, h.fixed_package(fd, ctx), "sa").template, fd


def _tasks(template: dict, dag: str | None = None) -> dict[str, dict]:
    name = dag or template["spec"]["entrypoint"]
    return {t["name"]: t for t in h.container(template, name)["dag"]["tasks"]}


def _chosen(switch: str, case: str) -> str:
    return ("({{=(tasks['%s'].status == 'Succeeded' ? tasks['%s'].outputs.parameters"
            "['switch-step'] : nil) == '%s'}})" % (switch, switch, case))


@pytest.mark.parametrize("path", ACCEPTED, ids=[p.stem for p in ACCEPTED])
def test_switch_templates_are_schema_valid_and_sound(tmp_path, path):
    template, _ = _render(tmp_path, path)
    assert h.schema_errors(template) == []
    assert h.reference_problems(template) == []
    assert h.nulls(template) == []


def test_reference_check_catches_a_when_on_an_unknown_task_or_step(tmp_path):
    template, _ = _render(tmp_path, SHAPES / "recursive_switch_flow.py")
    assert h.reference_problems(template) == []
    end = _tasks(template)["end"]
    end["when"] = end["when"].replace("tasks['loop']", "tasks['lop']")
    recursion = h.container(template, "loop")["steps"][1][0]
    recursion["when"] = recursion["when"].replace("loop-internal", "loop-inner")
    problems = h.reference_problems(template)
    assert any("unknown task lop" in p for p in problems)
    assert any("unknown step loop-inner" in p for p in problems)


def test_each_case_runs_when_the_switch_chose_it(tmp_path):
    template, _ = _render(tmp_path, SHAPES / "switch_flow.py")
    tasks = _tasks(template)
    for case in ("fast", "slow"):
        assert tasks[case]["depends"] == "start.Succeeded"
        assert tasks[case]["when"] == _chosen("start", case)
    assert "when" not in tasks["start"]
    # the switch writes the case it chose; the cases do not
    outputs = {o["name"]: o["valueFrom"] for o in h.container(template, "start")["outputs"]["parameters"]}
    assert outputs["switch-step"] == {"path": "/mnt/out/switch_step"}
    assert "switch-step" not in {o["name"] for o in h.container(template, "fast")["outputs"]["parameters"]}
    graph = json.loads(template["metadata"]["annotations"]["metaflow/dag"])["graph_structure"]
    assert graph == ["start", [["fast"], ["slow"]], "end"]


def test_the_step_after_the_cases_takes_whichever_ran(tmp_path):
    template, _ = _render(tmp_path, SHAPES / "switch_flow.py")
    end = _tasks(template)["end"]
    assert end["depends"] == "fast.Succeeded || slow.Succeeded"
    assert "when" not in end
    # the unresolved task id of the case that did not run travels base64-encoded, and
    # conditional_input_paths keeps the one that ran
    script = h.command(template, "end")
    assert "export INPUT_PATHS={{=toBase64(inputs.parameters['input-paths'])}}" in script
    assert "echo $(python -m metaflow.plugins.argo.conditional_input_paths $(echo $INPUT_PATHS) ) " \
           ">> /tmp/mf-input-paths" in script
    assert "export INPUT_PATHS={{inputs.parameters.input-paths}}" in h.command(template, "fast")


def test_recursive_switch_is_a_steps_template_that_calls_itself(tmp_path):
    template, _ = _render(tmp_path, SHAPES / "recursive_switch_flow.py")
    names = [t["name"] for t in template["spec"]["templates"]]
    assert names.index("loop") < names.index("RecursiveSwitchFlow")  # Metaflow's order
    assert _tasks(template)["loop"]["template"] == "loop"
    loop = h.container(template, "loop")
    assert "container" not in loop
    (internal,), (recursion,) = loop["steps"]
    assert internal["template"] == "recursive-loop"
    assert recursion["template"] == "loop"
    assert recursion["when"] == "{{steps.loop-internal.outputs.parameters.switch-step}}==loop"
    assert recursion["arguments"]["parameters"] == [{
        "name": "input-paths",
        "value": "argo-{{workflow.name}}/loop/{{steps.loop-internal.outputs.parameters.task-id}}"}]
    # the last iteration's outputs: the recursion's when it ran, else the first run's
    assert [o["valueFrom"]["expression"] for o in loop["outputs"]["parameters"]] == [
        "(steps['loop-recursion']?.outputs ?? steps['loop-internal']?.outputs).parameters['%s']"
        % out for out in ("task-id", "switch-step")]
    # the step's own container keeps its container name and runs the step
    body = h.container(template, "recursive-loop")
    assert body["container"]["name"] == "loop"
    assert " step loop " in body["container"]["command"][2]
    assert "switch-step" in {o["name"] for o in body["outputs"]["parameters"]}


def test_the_step_after_a_recursive_switch_runs_once_it_exits(tmp_path):
    template, _ = _render(tmp_path, SHAPES / "recursive_switch_flow.py")
    end = _tasks(template)["end"]
    assert end["depends"] == "loop.Succeeded"
    assert end["when"] == _chosen("loop", "end")
    assert "conditional_input_paths $(echo $INPUT_PATHS) loop)" in h.command(template, "end")
    graph = json.loads(template["metadata"]["annotations"]["metaflow/dag"])["graph_structure"]
    assert graph == ["start", "loop", [[]], "end"]


def test_a_case_that_skips_ahead(tmp_path):
    """``meet`` is both a case of the switch and where the other cases meet."""
    template, fd = _render(tmp_path, SWITCH_FLOWS / "switch_skip_flow.py")
    meet = _tasks(template)["meet"]
    assert meet["depends"] == "a2.Succeeded || b.Succeeded || start.Succeeded"
    assert meet["when"] == ("({{tasks.a2.status}}==Succeeded||{{tasks.b.status}}==Succeeded) || "
                            f"({_chosen('start', 'meet')})")
    assert "conditional_input_paths $(echo $INPUT_PATHS) start)" in h.command(template, "meet")
    cond = Conditionals(fd.flow)
    assert cond.is_join(fd.flow.step("meet")) and cond.matching_join("start") == "meet"
    # the steps of the cases run on some paths only; from where they meet on, always
    assert cond.conditional == {"a", "a2", "b"}
    assert "when" not in _tasks(template)["end"]
    assert _tasks(template)["end"]["depends"] == "meet.Succeeded"


def test_a_switch_inside_a_static_split(tmp_path):
    template, _ = _render(tmp_path, SWITCH_FLOWS / "switch_in_split_flow.py")
    tasks = _tasks(template)
    # the join needs one of the switch's cases and the other branch
    assert tasks["merge"]["depends"] == "((lx.Succeeded || ly.Succeeded)) && ((right.Succeeded))"
    assert "when" not in tasks["right"] and "when" not in tasks["merge"]
    graph = json.loads(template["metadata"]["annotations"]["metaflow/dag"])["graph_structure"]
    assert graph == ["start", [["left", [["lx"], ["ly"]]], ["right"]], "merge", "end"]


def test_a_switch_and_a_recursive_switch_inside_a_foreach(tmp_path):
    template, _ = _render(tmp_path, SWITCH_FLOWS / "switch_in_foreach_flow.py")
    body = _tasks(template, "start-foreach-items")
    assert body["pa"]["when"] == _chosen("body", "pa")
    assert body["after"]["depends"] == "pa.Succeeded || pb.Succeeded"
    assert body["last"]["when"] == _chosen("spin", "last")
    spin = h.container(template, "spin")
    # spin is not the body's first step: like Metaflow, no split index is passed along
    for (st,) in spin["steps"]:
        assert {"name": "split-index", "value": "{{inputs.parameters.split-index}}"} \
            not in st["arguments"]["parameters"]
    assert h.container(template, "recursive-spin")["container"]["name"] == "spin"


def test_a_case_that_opens_a_foreach_and_a_nested_switch(tmp_path):
    template, _ = _render(tmp_path, SWITCH_FLOWS / "switch_nested_flow.py")
    tasks = _tasks(template)
    assert tasks["fan-foreach-items"]["when"] == "{{tasks.start.outputs.parameters.switch-step}}==fan"
    assert tasks["c"]["when"] == _chosen("inner", "c")
    assert tasks["inner"]["when"] == _chosen("start", "inner")
    assert tasks["meet"]["depends"] == "c.Succeeded || d.Succeeded || gather.Succeeded"


def test_cases_straight_into_a_foreach_join_are_refused_like_metaflow(tmp_path):
    ctx, fd = _context(tmp_path, SWITCH_FLOWS / REFUSED)
    with pytest.raises(MetaflowRuleError) as err:
        render_flow(ctx, fd, h.fixed_package(fd, ctx), "sa")
    assert err.value.message.startswith(
        "Conditional steps inside a foreach that transition directly into a join step are not "
        "currently supported.")
    assert "*pa*, *pb*" in err.value.message
    assert "SwitchForeachJoinFlow.join" in err.value.where and err.value.hint


def test_flows_without_a_switch_have_no_conditions():
    for _, _, objs in h.all_rendered():
        for t in objs.template["spec"]["templates"]:
            assert not t["name"].startswith("recursive-")
            for task in (t.get("dag") or {}).get("tasks", []):
                assert "when" not in task and "||" not in task.get("depends", "")
            for out in (t.get("outputs") or {}).get("parameters", []):
                assert out["name"] != "switch-step"


# -- Metaflow as the oracle ------------------------------------------------------------------
ORACLE_FLOWS = sorted(SWITCH_FLOWS.glob("*_flow.py"))


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("path", ORACLE_FLOWS, ids=[p.stem for p in ORACLE_FLOWS])
def test_switch_shapes_match_metaflow(tmp_path, path):
    """Each flow through Metaflow's ``argo-workflows create`` and flowstacks, judged as a cell
    of the decorator table: both accept with every compared field equal, or both refuse with
    Metaflow's message. (The corpus' switch/recursive_switch are cells of that table.)"""
    h.assert_argo_cell_agrees(tmp_path, path, REFUSED, 400)
