"""One `flowstacks synth` reads what every stack shares once: the config is executed once per
process, each stack name is parsed once (plus once per matrix entry when the config is
validated), and a namespace's production token is computed once for all its flows. Before the
stack options were built once and passed down, one `synth --stack test.feature_x` executed the
config 3 times, parsed stack names 13 times and computed the token 7 times (6 flows)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import REPO

MATRIX = 3  # stacks of the example config: each is parsed once when the config is validated


@pytest.fixture
def counts(monkeypatch) -> Counter:
    import flowstacks.load.project
    import flowstacks.model.config
    import flowstacks.naming.deployers
    import flowstacks.naming.stacks

    counted: Counter = Counter()

    def counting(label, function):
        def wrapper(*args, **kwargs):
            counted[label] += 1
            return function(*args, **kwargs)
        return wrapper

    parse = counting("parse_stack", flowstacks.naming.stacks.parse_stack)
    for module in (flowstacks.naming.stacks, flowstacks.model.config, flowstacks.load.project):
        monkeypatch.setattr(module, "parse_stack", parse)
    monkeypatch.setattr(flowstacks.load.project, "load_config",
                        counting("config", flowstacks.load.project.load_config))
    monkeypatch.setattr(flowstacks.naming.deployers, "production_token",
                        counting("token", flowstacks.naming.deployers.production_token))
    return counted


@pytest.mark.parametrize("args,stacks", [(["--stack", "test.feature_x"], 1), (["--all"], 3)])
def test_synth_reads_config_once_parses_each_stack_once_and_makes_each_token_once(
        counts, args, stacks, tmp_path):
    from flowstacks.cli import main

    # one process (--jobs 1): what forked stack processes count is not seen here
    assert main(["synth", *args, "--jobs", "1", "--out", str(tmp_path), "--quiet",
                 "--project-dir", str(REPO)]) == 0
    assert counts == {"config": 1, "parse_stack": stacks + MATRIX, "token": stacks}
