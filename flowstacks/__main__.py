"""``python -m flowstacks``: the ``flowstacks`` command."""

import sys

from flowstacks.cli import main

sys.exit(main())
