"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): ``pulumi up -s prod`` runs this."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for `import infra`

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
