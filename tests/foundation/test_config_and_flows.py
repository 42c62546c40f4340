"""The Python config, zero-config projects, and reading the example flows with Metaflow."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from flowstacks.errors import FlowstacksError, MetaflowRuleError
from flowstacks.model.config import ProjectConfig
from flowstacks.load.project import ProjectDir, load_config
from tests.conftest import REPO


def test_example_flows_are_read_with_their_shapes():
    flows = {f.name: f for f in ProjectDir(REPO).default_flows}
    assert sorted(flows) == ["FeaturesFlow", "ProjectFlow", "PublishFlow", "RefreshFlow",
                             "ScoringFlow", "TrainFlow"]
    train = flows["TrainFlow"]
    assert [s.name for s in train.steps] == ["start", "train", "pick_best", "end"]
    start, work = train.step("start"), train.step("train")
    assert start.type == "foreach" and start.foreach_param == "regions"
    assert work.retry_times == 2 and work.timeout_seconds == 7200
    assert work.decorator("resources").attributes["memory"] == 16384
    assert train.step("pick_best").type == "join"
    assert {p.name: p.default for p in train.parameters} == {"learning_rate": 0.01, "epochs": 10}
    features = flows["FeaturesFlow"]
    assert features.step("start").type == "split"
    assert features.step("start").next == ("clicks", "purchases")
    assert features.step("join").in_funcs == ("clicks", "purchases")
    assert flows["RefreshFlow"].schedule.aws_expression == "0 0 * * ? *"
    assert [u.flow for u in flows["PublishFlow"].trigger_on_finish] == ["TrainFlow"]
    assert flows["ScoringFlow"].configs[0].value == {"threshold": 0.5, "table": "scores_dev"}
    assert all(f.project.name == "example_project" for f in flows.values())


def test_config_differs_per_branch():
    project = ProjectDir(REPO)
    prod = project.stack_context("prod").flow("ScoringFlow").flow
    test = project.stack_context("test.feature_x").flow("ScoringFlow").flow
    assert prod.configs[0].value["threshold"] == 0.8
    assert test.configs[0].value["threshold"] == 0.5


def test_config_project_name_from_config_expr():
    from flowstacks.load.flows import load_flow
    from tests.conftest import VECTOR_FLOWS

    flow = load_flow(VECTOR_FLOWS / "config_project_flow.py", VECTOR_FLOWS)
    assert flow.project.name == "cfg_project"
    other = load_flow(VECTOR_FLOWS / "config_project_flow.py", VECTOR_FLOWS,
                      {"cfg": VECTOR_FLOWS / "project_config_other.json"})
    assert other.project.name == "other_cfg_project"


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "flowspecs").mkdir(parents=True)
    for name, text in files.items():
        (tmp_path / "flowspecs" / name).write_text(textwrap.dedent(text))
    return tmp_path


FLOW = """
from metaflow import FlowSpec, project, step

@project(name='zc')
class ZeroFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_zero_config(tmp_path):
    root = _project(tmp_path, {"zero_flow.py": FLOW, "helpers.py": "X = 1\n"})
    project = ProjectDir(root, "argo")
    assert project.project_name == "zc"
    assert project.stacks() == ["prod"]
    ctx = project.stack_context("test.anything")
    assert ctx.orchestrator == "argo"
    assert [f.flow.name for f in ctx.flows] == ["ZeroFlow"]
    assert ctx.flows[0].argo_template_name == "zc.test.anything.zeroflow"


def test_broken_flow_file_names_the_file(tmp_path):
    root = _project(tmp_path, {"bad_flow.py": FLOW.replace("@step\n    def end", "@step\n    def end(\n")})
    with pytest.raises(FlowstacksError) as err:
        ProjectDir(root).default_flows
    assert "bad_flow.py" in err.value.where
    root2 = _project(tmp_path / "b", {"boom_flow.py": "import nonexistent_module_xyz\n" + FLOW})
    with pytest.raises(FlowstacksError) as err:
        ProjectDir(root2).default_flows
    assert "boom_flow.py" in err.value.where
    assert "nonexistent_module_xyz" in err.value.message


def test_invalid_config_names_field_and_file(tmp_path):
    root = _project(tmp_path, {"zero_flow.py": FLOW, "flowstacks_config.py": """
        from flowstacks.model.config import ProjectConfig, StackSpec
        CONFIG = ProjectConfig(stacks=[StackSpec(name="test.Foo")])
    """})
    with pytest.raises(FlowstacksError) as err:
        ProjectDir(root).config
    assert err.value.where == "flowspecs/flowstacks_config.py:3"
    assert "StackSpec.name" in err.value.message
    assert "lowercase alphanumeric" in err.value.message


@pytest.mark.parametrize("kwargs,field", [
    ({"aws": {"account_id": "12"}}, "aws.account_id"),
    ({"aws": {"datastore_root": "/tmp/x"}}, "aws.datastore_root"),
    ({"orchestrators": {"prod": "lambda"}}, "orchestrators.prod"),
    ({"stacks": [{"name": "user.bob"}]}, "stacks.0.name"),
    ({"stacks": [{"name": "prod"}, {"name": "prod"}]}, "stacks listed twice"),
    ({"project": "Bad-Name"}, "project"),
    ({"unknown_field": 1}, "unknown_field"),
])
def test_config_validation(kwargs, field):
    with pytest.raises(ValidationError) as err:
        ProjectConfig.model_validate(kwargs)
    assert field in str(err.value)


def test_stack_not_in_matrix_and_conflicting_project_attributes(tmp_path):
    with pytest.raises(FlowstacksError) as err:
        ProjectDir(REPO).stack_context("test.unknown")
    assert "not in the branch matrix" in err.value.message
    root = _project(tmp_path, {"pinned_flow.py": FLOW.replace("@project(name='zc')",
                                                             "@project(name='zc', branch='pinned')")})
    with pytest.raises(MetaflowRuleError) as err:
        ProjectDir(root).stack_context("test.other")
    assert err.value.message == ("You cannot pass branch as both a command-line argument and an "
                                 "attribute of the @project decorator.")
    assert "pinned_flow.py" in err.value.where
    with pytest.raises(FlowstacksError) as err:
        ProjectDir(root).stack_context("prod")
    assert "not stack 'prod'" in err.value.message


def test_example_config_loads():
    config = load_config(REPO)
    assert config is not None and config.project == "example_project"
    from flowstacks.naming.stacks import parse_stack

    prod, staging, test = (parse_stack(s) for s in ("prod", "prod.staging", "test.feature_x"))
    assert config.orchestrator_for(prod) == "step-functions"
    assert config.orchestrator_for(staging) == "argo"
    assert config.protect(prod) and config.protect(staging) and not config.protect(test)
