"""The pure layers stay pure (no pulumi, no environment, no clock, no I/O) and import in one
direction only."""

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


# -- import direction of render/ and iam/ ---------------------------------------------------------
RENDER = REPO / "flowstacks" / "render"
IAM = REPO / "flowstacks" / "iam"
# What reads the disk, talks to Pulumi or parses the command line: renderers receive its results.
OUTER_LAYERS = ("flowstacks.load", "flowstacks.deploy", "flowstacks.synth", "flowstacks.cli")


def imported_modules(source: str) -> set[str]:
    """Every module a source imports, ``from a.b import c`` counting as ``a.b`` and ``a.b.c``
    (``c`` may be a module: ``from flowstacks.render import argo``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _imports_under(folder: Path) -> dict[str, set[str]]:
    return {str(p.relative_to(REPO)): imported_modules(p.read_text())
            for p in sorted(folder.rglob("*.py"))}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_imported_modules_sees_every_form() -> None:
    src = "import a.b\nfrom c import d\nfrom . import e\nfrom flowstacks.render import argo\n"
    assert imported_modules(src) == {"a.b", "c", "c.d", "flowstacks.render",
                                     "flowstacks.render.argo"}


def test_render_imports_no_outer_layer() -> None:
    """Renderers are handed what comes from disk (code package sha and URL) as arguments."""
    offenders = sorted(f"{path} imports {m}" for path, mods in _imports_under(RENDER).items()
                       for m in mods if any(_within(m, layer) for layer in OUTER_LAYERS))
    assert offenders == []


def test_render_and_iam_import_in_one_direction() -> None:
    """iam builds documents from render's plain data (StateNeeds, Artifact, serialize); render
    must then not import iam, or the two would be one tangled layer."""
    render_to_iam = sorted(f"{path} imports {m}" for path, mods in _imports_under(RENDER).items()
                           for m in mods if _within(m, "flowstacks.iam"))
    iam_to_render = sorted(f"{path} imports {m}" for path, mods in _imports_under(IAM).items()
                           for m in mods if _within(m, "flowstacks.render"))
    assert not (render_to_iam and iam_to_render), (render_to_iam, iam_to_render)
    assert iam_to_render, "iam is expected to import render's plain types (the chosen direction)"
    assert render_to_iam == []


def test_no_backend_imports_another() -> None:
    """Each backend (a sub-package of render/) takes shared facts from render/ modules, never
    from another backend."""
    backends = sorted(d.name for d in RENDER.iterdir() if (d / "__init__.py").exists())
    assert backends == ["airflow", "argo", "sfn"]
    offenders = []
    for backend in backends:
        for path, mods in _imports_under(RENDER / backend).items():
            offenders += [f"{path} imports {m}" for m in sorted(mods) for other in backends
                          if other != backend and _within(m, f"flowstacks.render.{other}")]
    assert offenders == []


def test_pure_layers_form_no_package_cycle():
    """Between the pure packages imports go one way: naming <- model <- (render, iam), never back."""
    import re

    pure = ["naming", "model", "render", "iam"]
    edges = set()
    for src in pure:
        for path in (REPO / "flowstacks" / src).rglob("*.py"):
            for dst in re.findall(r"^\s*(?:from|import) flowstacks\.([a-z_]+)", path.read_text(), re.M):
                if dst in pure and dst != src:
                    edges.add((src, dst))
    cycles = sorted((a, b) for a, b in edges if (b, a) in edges)
    assert cycles == [], f"package cycles between pure layers: {cycles}"
