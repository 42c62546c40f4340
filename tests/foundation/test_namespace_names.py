"""flowstacks.naming.namespace: the start a namespace's Step Functions names share and whether a
name belongs to a namespace, checked against names made by flowstacks.naming itself (which the
oracle test checks against Metaflow)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstacks.naming.deployers import eventbridge_rule_name, sfn_state_machine_name
from flowstacks.naming.namespace import (
    eventbridge_namespace_prefix, sfn_name_in_namespace, sfn_namespace_prefix,
)
from flowstacks.naming.settings import NamingSettings

projects = st.text("abcz019_", min_size=1, max_size=70)
branches = st.one_of(st.sampled_from(["prod", "prod.staging", "test.feature_x", "user.alice"]),
                     st.builds(lambda k, b: f"{k}.{b}", st.sampled_from(["prod", "test"]),
                               st.text("abz09_", min_size=1, max_size=60)))
flows = st.from_regex(r"[A-Z][A-Za-z0-9_]{0,60}", fullmatch=True)
prefixes = st.one_of(st.none(), st.sampled_from(["Team", "team", "team_platform_shared_prefix_v2",
                                                 "p" * 45]))


@settings(max_examples=1500, deadline=None)
@given(project=projects, branch=branches, flow=flows, prefix=prefixes)
def test_every_name_of_a_namespace_belongs_to_it(project, branch, flow, prefix):
    machine = sfn_state_machine_name(f"{project}.{branch}.{flow}", prefix)
    rule = eventbridge_rule_name(machine)
    for name in (machine, rule, eventbridge_rule_name(f"{machine}-after-Up-abcdefgh")):
        assert sfn_name_in_namespace(name, branch, prefix), name
    # the deployer role's patterns: every name of the namespace starts with them
    assert machine.startswith(sfn_namespace_prefix(project, branch, prefix)[:len(machine) - 17]) \
        or machine.startswith(sfn_namespace_prefix(project, branch, prefix))
    assert sfn_name_in_namespace(sfn_namespace_prefix(project, branch, prefix) + "*", branch, prefix)
    assert sfn_name_in_namespace(eventbridge_namespace_prefix(project, branch, prefix) + "*",
                                 branch, prefix)


@settings(max_examples=800, deadline=None)
@given(project=projects, flow=flows, prefix=prefixes)
def test_an_unhashed_name_of_another_namespace_does_not_belong(project, flow, prefix):
    machine = sfn_state_machine_name(f"{project}.prod.staging.{flow}", prefix)
    if len(machine) <= 60:  # whole names say their branch exactly
        assert not sfn_name_in_namespace(machine, "prod", prefix)
        assert not sfn_name_in_namespace(machine, "test.staging", prefix)


@pytest.mark.parametrize("name,branch,prefix,ok", [
    ("Team_example_project.test.feature_x.TrainFlow", "test.feature_x", "Team", True),
    ("Team_example_project.test.feature_x.TrainFlow", "test.feature_x", None, False),
    ("Team_example_project.prod.TrainFlow", "test.feature_x", "Team", False),
    # a prefixed hashed name: the 60 characters it keeps include the prefix
    (sfn_state_machine_name("example_project.test.feature_x.ThisIsAVeryLongFlowClassName", "Team"),
     "test.feature_x", "Team", True),
    (sfn_state_machine_name("example_project.test.other_branch_here.ThisIsAVeryLongFlowName",
                            "Team"), "test.feature_x", "Team", False),
    # IAM ARN patterns: the literal part must reach the end of the branch...
    ("example_project.prod.*", "prod", None, True),
    ("example_project.*", "prod", None, False),
    ("example_project.pr*", "prod", None, False),
    # ...unless it is cut where Metaflow cuts (60 characters for state machines, 47 for rules)
    (sfn_namespace_prefix("example_project", "test." + "b" * 50) + "*", "test." + "b" * 50, None, True),
    (eventbridge_namespace_prefix("example_project", "test." + "b" * 50) + "*",
     "test." + "b" * 50, None, True),
    (sfn_namespace_prefix("example_project", "test." + "b" * 50) + "*", "test.other", None, False),
])
def test_name_in_namespace_cases(name, branch, prefix, ok):
    assert sfn_name_in_namespace(name, branch, prefix) is ok


def test_namespace_prefixes_cut_where_metaflow_cuts():
    assert sfn_namespace_prefix("example_project", "prod") == "example_project.prod."
    assert sfn_namespace_prefix("example_project", "prod", "Team") == "Team_example_project.prod."
    # a prefix the name already starts with is not added again (resolve_state_machine_name)
    assert sfn_namespace_prefix("example_project", "prod", "example") == "example_project.prod."
    long = sfn_namespace_prefix("example_project", "test." + "b" * 60)
    assert len(long) == 60 and len(eventbridge_namespace_prefix("example_project", "test." + "b" * 60)) == 47


def test_naming_settings_export_only_what_differs_from_metaflow():
    assert NamingSettings().exported() == {}
    settings_ = NamingSettings("Team", 2)
    assert settings_.exported() == {"state_machine_prefix": "Team", "production_token_index": 2}
    assert NamingSettings.from_exported(settings_.exported()) == settings_
    assert NamingSettings.from_exported(None) == NamingSettings()
