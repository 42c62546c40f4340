"""The ``flowstacks`` command line (README: "The command line"). Exit codes: 0 ok, 1 user error,
2 internal error.

``flowstacks names`` is dispatched here to :mod:`flowstacks.cli.names` (argparse) before anything
heavy is imported; every other command is the typer app of :mod:`flowstacks.cli.app`, whose commands
import pulumi only when they need it.
"""

from __future__ import annotations

import sys
import traceback

from flowstacks.errors import FlowstacksError


def _run(argv: list[str]) -> int:
    if argv[:1] == ["names"]:
        from flowstacks.cli.names import run

        return run(argv[1:])
    from flowstacks.cli.app import run_app

    return run_app(argv)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors exit 1 without a traceback, bugs exit 2."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except FlowstacksError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print("flowstacks: internal error (a bug): please report it with the traceback above",
              file=sys.stderr)
        return 2

