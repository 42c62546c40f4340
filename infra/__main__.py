"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): ``pulumi up -s prod`` runs this.

The Python language host runs it inside ``infra/`` (``runpy.run_path`` of the program folder, as
``__main__``); the project (``flowspecs/``, ``stacks/``) is found from the Pulumi project root, not
the working folder (flowstacks.deploy.options.pulumi_project_root)."""

import sys
from pathlib import Path

# The repository root, so that a checkout runs without `pip install -e .` (requirements.txt
# installs it; this only matters when the package is not installed).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
