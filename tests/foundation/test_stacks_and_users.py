"""Stack names <-> namespaces, and user resolution from a fake environment and config files."""

from __future__ import annotations

import json

import pytest

from flowstacks.load.metaflow_env import read_metaflow_env
from flowstacks.errors import MetaflowRuleError
from flowstacks.naming.project import resolve_username
from flowstacks.naming.stacks import parse_stack, stack_for


@pytest.mark.parametrize("stack,kind,branch,production,user", [
    ("prod", "prod", None, True, None),
    ("prod.staging", "prod", "staging", True, None),
    ("test.feature_x", "test", "feature_x", False, None),
    ("test.prod", "test", "prod", False, None),
    ("user.alice", "user", None, False, "alice"),
    ("user.John.Doe", "user", None, False, "John.Doe"),
    ("test.123", "test", "123", False, None),
])
def test_parse_stack(stack, kind, branch, production, user):
    ns = parse_stack(stack)
    assert (ns.kind, ns.branch, ns.production, ns.user) == (kind, branch, production, user)
    assert ns.branch_name == stack
    assert stack_for(ns.branch, ns.production, ns.user) == stack


@pytest.mark.parametrize("stack,message", [
    ("test.Foo", "The branch name must contain only lowercase alphanumeric characters and underscores."),
    ("prod.a-b", "The branch name must contain only lowercase alphanumeric characters and underscores."),
    ("test." + "b" * 129, "Branch name is too long. The maximum is 128 characters."),
    ("staging", "'staging' is not a Metaflow namespace."),
    ("user.", "'user.' is not a Metaflow namespace."),
    ("test.", "Stack 'test.' names no branch."),
    ("prod.a.b", "The branch name must contain only lowercase alphanumeric characters and underscores."),
])
def test_parse_stack_rejects_what_metaflow_rejects(stack, message):
    with pytest.raises(MetaflowRuleError) as err:
        parse_stack(stack)
    assert err.value.message == message
    assert "prod.<branch>" in err.value.hint


def test_user_precedence_and_root_skipping():
    env = {"METAFLOW_USER": "root", "SUDO_USER": "", "USERNAME": "root", "USER": "alice"}
    assert resolve_username(env) == "alice"
    assert resolve_username({"USER": "root"}) is None
    assert resolve_username({}) is None
    assert resolve_username({"SUDO_USER": "carol", "USER": "alice"}) == "carol"


def test_user_from_config_files(tmp_path, monkeypatch):
    home = tmp_path / "mfhome"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"METAFLOW_USER": "globaluser"}))
    work = tmp_path / "repo" / "sub"
    work.mkdir(parents=True)
    env = {"METAFLOW_HOME": str(home), "USER": "alice"}
    mfenv = read_metaflow_env(work, env)
    assert resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config) == "globaluser"
    (tmp_path / "repo" / ".metaflow").mkdir()
    (tmp_path / "repo" / ".metaflow" / "config.json").write_text(json.dumps({"METAFLOW_USER": "cfguser"}))
    mfenv = read_metaflow_env(work, env)
    assert resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config) == "cfguser"
    # the env var wins over both files, and an empty env var is not replaced by the files
    mfenv = read_metaflow_env(work, {**env, "METAFLOW_USER": "envuser"})
    assert resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config) == "envuser"
    mfenv = read_metaflow_env(work, {**env, "METAFLOW_USER": ""})
    assert resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config) == "alice"


def test_profile_config(tmp_path):
    (tmp_path / "config_dev.json").write_text(json.dumps({"METAFLOW_USER": "devuser"}))
    mfenv = read_metaflow_env(tmp_path, {"METAFLOW_HOME": str(tmp_path), "METAFLOW_PROFILE": "dev"})
    assert resolve_username(mfenv.env, mfenv.local_config, mfenv.global_config) == "devuser"
