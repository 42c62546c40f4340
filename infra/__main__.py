"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): ``pulumi up -s prod`` runs this."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repo root, for `import infra`
if Path.cwd().resolve() == HERE:
    # The Pulumi CLI runs the program inside its folder (main: infra/); flowstacks reads the project
    # (flowspecs/, stacks/) from the repository root (flowstacks:projectDir defaults to ".").
    os.chdir(HERE.parent)

import pulumi  # noqa: E402
from pulumi.errors import RunError  # noqa: E402

from flowstacks.errors import FlowstacksError  # noqa: E402
from flowstacks.deploy.program import main  # noqa: E402


async def program() -> None:
    """The asynchronous program (``pulumi.run``); a user error is logged without a traceback."""
    try:
        await main()
    except FlowstacksError as exc:
        pulumi.log.error(exc.render())
        raise RunError("flowstacks: the stack's config or flows are invalid (see above)") from None


pulumi.run(program)
