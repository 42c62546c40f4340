"""Assembles the CrossGuard pack (``pulumi preview --policy-pack infra/policypack``).

Only wiring: every rule is a plain function of :mod:`flowstacks.policy.rules`. Enforcement levels
can be changed per rule with ``--policy-pack-config`` (``{"no-wildcard-iam": "advisory"}``); the
rules that check names take the stack's naming settings there too (see
:mod:`flowstacks.policy.crossguard`).
Never import this module in tests: constructing ``PolicyPack`` starts serving.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for `import infra`

from pulumi_policy import (  # noqa: E402
    EnforcementLevel, PolicyConfigSchema, PolicyPack, ResourceValidationPolicy,
)

from flowstacks.policy.crossguard import resource_policies  # noqa: E402

PolicyPack(
    name="flowstacks",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=resource_policies(ResourceValidationPolicy, EnforcementLevel, PolicyConfigSchema),
)
