"""The pure layers stay pure: no pulumi, no environment, no clock, no I/O (DESIGN §5)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PURE = ["flowstacks/model", "flowstacks/naming", "flowstacks/render", "flowstacks/iam"]
FORBIDDEN_MODULES = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "time", "datetime", "subprocess",
                     "socket", "requests", "boto3", "metaflow")
FORBIDDEN_CALLS = {"open", "getenv", "now", "utcnow", "today", "time", "read_text", "write_text",
                   "read_bytes", "write_bytes", "urandom", "getcwd"}


def pure_files() -> list[Path]:
    return sorted(p for d in PURE for p in (REPO / d).rglob("*.py"))


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_pure_module(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"line {node.lineno}: imports {name}")
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            problems.append(f"line {node.lineno}: reads os.environ")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: calls {name}()")
    assert not problems, f"{path.relative_to(REPO)} is not pure: {problems}"


def test_only_serialize_dumps_json() -> None:
    offenders = []
    for path in (REPO / "flowstacks").rglob("*.py"):
        if path.name == "serialize.py":
            continue
        text = path.read_text()
        if "json.dumps" in text or "yaml.dump" in text or "yaml.safe_dump" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_names_command_does_not_import_pulumi() -> None:
    import subprocess
    import sys

    code = ("import sys; import flowstacks.cli, flowstacks.cli.resolve, flowstacks.load.flows, flowstacks.load.project; "
            "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_names_answers_without_the_heavy_libraries() -> None:
    """`flowstacks names` must start about as fast as Metaflow's CLI (issue 8): it runs on
    argparse and Metaflow alone, without typer, rich, pydantic or pulumi (PyYAML is left out:
    Metaflow's vendored yaml loads it)."""
    import os
    import subprocess
    import sys

    code = ("import io, sys, contextlib; from flowstacks.cli import main; out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out): code = main(['names', sys.argv[1], '--json'])\n"
            "heavy = {'typer', 'rich', 'pydantic', 'pulumi', 'pulumi_aws', 'click'}\n"
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & heavy))")
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "flowspecs" / "project_flow.py")],
                         capture_output=True, text=True, cwd=REPO, check=True,
                         env={**os.environ, "USER": "alice"})
    assert out.stdout.strip() == "0 []"
