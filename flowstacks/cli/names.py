"""``flowstacks names`` with the standard library's argparse: it answers without importing
typer, rich, pydantic or pulumi, so it starts about as fast as Metaflow's own CLI (issue 8).
:mod:`flowstacks.cli` dispatches to it before building the typer app; the app lists it too."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flowstacks.errors import FlowstacksError

HELP = "What Metaflow would call FLOW_FILE: names, token, namespace, per deployer."


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flowstacks names", description=HELP)
    p.add_argument("flow_file", type=Path, metavar="FLOW_FILE", help="a Metaflow flow file")
    p.add_argument("--branch", help="as Metaflow's --branch")
    p.add_argument("--production", action="store_true", help="as Metaflow's --production")
    p.add_argument("--config", action="append", default=[], metavar="NAME=FILE",
                   help="a Config file, as Metaflow's --config NAME FILE (repeatable)")
    p.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    p.add_argument("--project-dir", type=Path, default=Path("."),
                   help="folder that holds flowspecs/ (default: .)")
    return p


def run(argv: list[str]) -> int:
    """Parse ``argv`` (after ``names``) and print the names; usage errors exit 1."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed usage or help
        return 0 if exc.code in (0, None) else 1
    from flowstacks.load.metaflow_env import read_metaflow_env
    from flowstacks.cli.resolve import names_for_file
    from flowstacks.render.serialize import canonical_json

    configs = {}
    for item in args.config:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise FlowstacksError(f"'{item}' is not NAME=FILE", where="--config")
        configs[name] = Path(file)
    path = args.flow_file if args.flow_file.is_absolute() else args.project_dir / args.flow_file
    result = names_for_file(path, args.branch, args.production, read_metaflow_env(), configs).dump()
    if args.as_json:
        print(canonical_json(result), end="")
    else:
        _print_names(result)
    return 0


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _print_names(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['project_flow_name']}", show_header=True)
    table.add_column("name")
    table.add_column("value", overflow="fold")
    for key, value in _flatten(result):
        table.add_row(key, "-" if value is None else str(value))
    Console(width=160).print(table)
