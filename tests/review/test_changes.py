"""The deployment classifier on small hand-made manifests: create/update/replace/delete, what the
engine refuses for protected resources, and the commands printed for a protected deletion."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from flowstacks.review.changes import classify

OBJ = "aws:s3/bucketObjectv2:BucketObjectv2"
SM = "aws:sfn/stateMachine:StateMachine"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"


def record(type_: str, name: str, inputs: dict[str, Any], protect: bool = True,
           parent: str = "flowstacks:sfn:Flow", **extra: Any) -> dict[str, Any]:
    urn = f"urn:pulumi:prod::flowstacks::{parent}${type_}::{name}"
    return {"type": type_, "name": name, "inputs": inputs, "protect": protect, "urn": urn,
            "parent": "", **extra}


def manifest(*resources: dict[str, Any], stack: str = "prod") -> dict[str, Any]:
    return {"stack": stack, "project": "p", "outputs": {}, "resources": list(resources)}


def by_name(plan) -> dict[str, Any]:
    return {c.name: c for c in plan.changes}


def test_each_action_and_its_reason():
    base = manifest(
        record(SM, "A", {"name": "a", "definition": '{"States": {"x": 1}}', "type": "STANDARD"}),
        record(SM, "B", {"name": "b", "definition": "{}", "type": "STANDARD"}),
        record(OBJ, "pkg", {"bucket": "b", "key": "k/1", "sourceHash": "1"}),
        record(SM, "Gone", {"name": "g"}),
        record(SM, "Same", {"name": "s"}),
    )
    head = manifest(
        record(SM, "A", {"name": "a", "definition": '{"States": {"x": 2}}', "type": "STANDARD"}),
        record(SM, "B", {"name": "b", "definition": "{}", "type": "EXPRESS"}),
        record(OBJ, "pkg", {"bucket": "b", "key": "k/2", "sourceHash": "2"}),
        record(SM, "New", {"name": "n"}),
        record(SM, "Same", {"name": "s"}),
    )
    plan = classify(base, head)
    changes = by_name(plan)
    assert {n: c.action for n, c in changes.items()} == {
        "A": "update", "B": "replace", "pkg": "replace", "Gone": "delete", "New": "create"}
    # JSON held in a string is compared as structure: the path names what changed inside it
    assert [p for p, _, _ in changes["A"].paths] == ["definition.States.x"]
    assert changes["B"].replacing == ("type",) and changes["pkg"].replacing == ("key",)
    assert "`key` forces replacement" in changes["pkg"].why()
    assert "internal/service/s3/object.go" in changes["pkg"].why()
    assert plan.counts() == {"create": 1, "update": 1, "replace": 2, "delete": 1}
    # what can stop the deployment comes first
    assert [c.action for c in plan.changes] == ["replace", "replace", "delete", "create", "update"]


def test_protection_follows_the_engine():
    """Replacing needs protect in the state and in the program; deleting needs it in the state."""
    base = manifest(record(OBJ, "p1", {"bucket": "b", "key": "1"}),
                    record(OBJ, "p2", {"bucket": "b", "key": "1"}),
                    record(OBJ, "p3", {"bucket": "b", "key": "1"}, protect=False),
                    record(OBJ, "gone", {"bucket": "b", "key": "g"}, retainOnDelete=True),
                    record(OBJ, "gone-test", {"bucket": "b", "key": "g"}, protect=False))
    head = manifest(record(OBJ, "p1", {"bucket": "b", "key": "2"}),
                    record(OBJ, "p2", {"bucket": "b", "key": "2"}, protect=False),
                    record(OBJ, "p3", {"bucket": "b", "key": "2"}, protect=True))
    changes = by_name(classify(base, head))
    assert changes["p1"].blocked  # protected on both sides
    assert not changes["p2"].blocked  # the program unprotects it in the same update
    assert not changes["p3"].blocked  # not protected in the state yet
    # a retained delete is still a delete of a protected resource: the engine refuses it
    assert changes["gone"].blocked and changes["gone"].retained
    assert "[protected, retained]" in changes["gone"].label()
    assert not changes["gone-test"].blocked


def test_unprotect_commands_name_each_protected_deletion_then_deploy():
    base = manifest(record(SM, "RefreshFlow", {"name": "r"}),
                    record(OBJ, "RefreshFlow-code-package", {"bucket": "b", "key": "k"},
                           parent="flowstacks:package:CodePackage"),
                    record(SM, "Unprotected", {"name": "u"}, protect=False),
                    record(SM, "Kept", {"name": "k"}))
    head = manifest(record(SM, "Kept", {"name": "k"}))
    plan = classify(base, head)
    commands = plan.unprotect_commands()
    assert commands[-1] == "pulumi up -s prod"
    unprotected = [shlex.split(c) for c in commands[:-1]]
    assert all(argv[:4] == ["pulumi", "state", "unprotect", "-s"] and argv[4] == "prod"
               for argv in unprotected)
    # each URN is one shell word, quoted (URNs hold `$`), and only protected ones are listed
    assert sorted(argv[5] for argv in unprotected) == sorted(
        r["urn"] for r in base["resources"] if r["name"] in ("RefreshFlow", "RefreshFlow-code-package"))
    assert all(f"'{argv[5]}'" in c for argv, c in zip(unprotected, commands))
    report = "\n".join(plan.blocked_report())
    assert report.startswith("BLOCKED: `pulumi up -s prod` would fail: 2 change(s)")
    assert all(c in report for c in commands)


def test_kubernetes_identity_and_role_ref():
    def binding(name: str, role: str, subject: str) -> dict[str, Any]:
        return record(BINDING, "rb", {"apiVersion": "rbac.authorization.k8s.io/v1",
                                      "kind": "RoleBinding",
                                      "metadata": {"name": name, "namespace": "mf"},
                                      "roleRef": {"kind": "Role", "name": role},
                                      "subjects": [{"name": subject}]})

    def action(old, new):
        return classify(manifest(old), manifest(new)).changes[0]

    assert action(binding("a", "r", "s1"), binding("a", "r", "s2")).action == "update"
    assert action(binding("a", "r", "s"), binding("a", "r2", "s")).replacing == ("roleRef",)
    assert action(binding("a", "r", "s"), binding("b", "r", "s")).replacing == ("metadata.name",)


def test_an_uncatalogued_type_is_assumed_to_replace():
    old = record("pulumi:providers:aws", "default", {"region": "us-east-1"})
    new = record("pulumi:providers:aws", "default", {"region": "eu-west-1"})
    change = classify(manifest(old), manifest(new)).changes[0]
    assert change.action == "replace" and change.blocked and change.uncatalogued
    assert "not in the replacement catalog" in change.why()


def test_only_the_same_stack_can_be_classified():
    with pytest.raises(ValueError, match="not the same stack"):
        classify(manifest(stack="prod"), manifest(stack="test.x"))


def test_manifests_without_urns_match_by_type_and_name():
    old = {"type": SM, "name": "A", "inputs": {"name": "a", "definition": "1"}, "protect": True}
    new = dict(old, inputs={"name": "a", "definition": "2"})
    change = classify(manifest(old), manifest(new)).changes[0]
    assert change.action == "update" and change.urn == f"{SM}::A"


def test_review_markdown_stays_under_the_limit_with_the_blocking_report_first():
    from flowstacks.review.diff import FlowChange, StackDiff, render_markdown

    names = [f"pkg{i}" for i in range(40)]
    base = manifest(*(record(OBJ, n, {"bucket": "b", "key": f"{n}/1", "content": "x" * 300})
                      for n in names), record(SM, "Gone", {"name": "g"}))
    head = manifest(*(record(OBJ, n, {"bucket": "b", "key": f"{n}/2", "content": "y" * 300})
                      for n in names))
    plan = classify(base, head)
    d = StackDiff("prod", "prod", {"F": FlowChange("F", resources=plan.changes)}, plan, "main")
    full = render_markdown(d)
    assert full.index("BLOCKED") < full.index("| F | 0 | 0 | 40 | 1 | - |") < full.index("```diff")
    small = render_markdown(d, limit=12_000)
    assert len(small) <= 12_000 and "Details cut at 12000 characters" in small
    assert small.count("```") % 2 == 0  # every code block closed
    assert "pulumi up -s prod" in small  # the remedy is never cut


@pytest.mark.parametrize("count,limit", [(60, 30_000), (100, 30_000), (400, 20_000)])
def test_review_markdown_keeps_the_deletion_commands_within_the_limit(count, limit):
    from flowstacks.review.diff import FlowChange, StackDiff, render_markdown

    base = manifest(*(record(SM, f"Flow{i}", {"name": f"f{i}"}) for i in range(count)))
    plan = classify(base, manifest())
    d = StackDiff("prod", "prod", {"F": FlowChange("F", resources=plan.changes)}, plan, "main")
    text = render_markdown(d, limit=limit)
    assert len(text) <= limit and text.count("```") % 2 == 0
    commands = [line for line in text.splitlines() if line.startswith("  pulumi state unprotect")]
    if count == 60:  # the URNs of the listed changes go (the commands name them), all else stays
        assert "more lines" not in text and "      urn:pulumi:" not in text
        assert len(commands) == count and "  pulumi up -s prod" in text
    elif count == 100:  # the changes listed are cut, the commands are not
        assert "more lines: run `flowstacks diff` locally" in text
        assert len(commands) == count and "  pulumi up -s prod" in text
        assert "to remove them on purpose run:" in text
    else:  # more commands than fit: cut, and said so
        assert 0 < len(commands) < count and "Details cut at 20000 characters" in text
