"""Every Metaflow user name gets a stack name Pulumi accepts (checked with Pulumi's own rule, written
here from sdk/go/common/tokens/stack_name.go), and distinct users get distinct stacks."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from flowstacks.naming.pulumi_stacks import developer_stack, needs_recorded_user


def pulumi_accepts(name: str) -> bool:
    return name != "" and len(name) <= 100 and re.fullmatch(r"[A-Za-z0-9_.-]*", name) is not None


USERS = st.text(min_size=1, max_size=140).filter(lambda u: u.strip() and u != "root")


@settings(max_examples=1500, deadline=None)
@given(USERS)
def test_every_user_name_gets_a_valid_stack_name(user):
    stack = developer_stack(user)
    assert pulumi_accepts(stack), stack
    assert stack.startswith("user.")
    assert needs_recorded_user(user) == (stack != f"user.{user}")
    if pulumi_accepts(f"user.{user}"):
        assert stack == f"user.{user}"  # the branch name itself whenever Pulumi takes it


@settings(max_examples=800, deadline=None)
@given(USERS, USERS)
def test_distinct_users_get_distinct_stacks(a, b):
    if a != b:
        assert developer_stack(a) != developer_stack(b)


def test_known_odd_names():
    assert developer_stack("alice") == "user.alice"
    assert developer_stack("John.Doe") == "user.John.Doe"
    for user in ("alice@corp.com", "carol+ci", "bob smith", "Jürgen", "x" * 120, "dom/user"):
        stack = developer_stack(user)
        assert pulumi_accepts(stack) and stack != f"user.{user}", user
    assert developer_stack("alice@corp.com").startswith("user.alice_corp.com-")
    assert developer_stack("alice@corp.com") != developer_stack("alice_corp.com")
