"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): ``pulumi up -s prod`` runs this."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for `import infra`

from infra.errors import FlowstacksError  # noqa: E402
from infra.program import main  # noqa: E402

try:
    main()
except FlowstacksError as exc:
    import pulumi

    pulumi.log.error(exc.render())
    raise SystemExit(1) from None
