"""The mock engine's SDK shortcuts hand the monitor exactly what the SDK itself would (issue 8).

``plain_first`` is compared with the SDK's own ``serialize_property`` / ``serialize_properties`` on
generated JSON data, and shown to step aside for what is not plain data."""

from __future__ import annotations

import asyncio
import enum
import gc

import orjson
import pulumi
import pytest
from hypothesis import given, settings
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc

from flowstacks.synth.sdk_shortcuts import is_plain, mock_run_shortcuts, plain_first
from tests.foundation.test_serialize import JSONISH

SDK = rpc.serialize_property


def run(coroutine):
    return asyncio.new_event_loop().run_until_complete(coroutine)


def serialized(inputs, shortcut: bool):
    """``serialize_properties`` as the engine receives it, with or without the shortcut."""
    if not shortcut:
        return run(rpc.serialize_properties(inputs, {}))
    rpc.serialize_property = plain_first(SDK)
    try:
        return run(rpc.serialize_properties(inputs, {}))
    finally:
        rpc.serialize_property = SDK


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_plain_data_serializes_as_the_sdk_serializes_it(data):
    assert serialized({"spec": data, "kind": "WorkflowTemplate"}, True) == \
        serialized({"spec": data, "kind": "WorkflowTemplate"}, False)
    if isinstance(data, (dict, list)):
        assert run(plain_first(SDK)(data, [], "spec")) == run(SDK(data, [], "spec"))


class Color(str, enum.Enum):
    RED = "red"


@pytest.mark.parametrize("value", [
    {"a": [1, {"b": Color.RED}]},  # a str enum: the SDK writes its value
    {"a": ("x", "y")},  # a tuple is a sequence to the SDK
])
def test_what_is_not_plain_takes_the_sdks_path(value):
    assert not is_plain(value)
    assert serialized({"v": value}, True) == serialized({"v": value}, False)


def test_what_the_sdk_refuses_it_still_refuses():
    for value in ({1: "int key"}, {"a": [object()]}):
        assert not is_plain(value)
        with pytest.raises(Exception) as theirs:
            serialized({"v": value}, False)
        with pytest.raises(theirs.type):
            serialized({"v": value}, True)


def test_an_output_inside_plain_looking_data_is_awaited_by_the_sdk():
    async def both():
        data = {"env": [{"name": "X", "value": pulumi.Output.from_input("from an output")}]}
        return (await plain_first(SDK)(data, [], "spec"), await SDK(data, [], "spec"))

    mine, theirs = run(both())
    assert mine == theirs == {"env": [{"name": "X", "value": "from an output"}]}


def test_typed_or_translated_properties_take_the_sdks_path():
    calls = []

    async def sdk(*args):
        calls.append(args)
        return "sdk"

    fast = plain_first(sdk)
    assert run(fast({"a": 1}, [], "k", None, None, dict)) == "sdk"  # a type to translate by
    assert run(fast({"a": 1}, [], "k", None, lambda k: k.upper())) == "sdk"  # a translator
    assert run(fast({"a": 1}, [], "k", None, None, None, False, False, True)) == "sdk"  # protobuf
    assert run(fast({"a": 1}, [], "k")) == {"a": 1} and len(calls) == 3


def test_shortcuts_are_undone_after_the_run():
    trace = pulumi_resource._get_stack_trace
    callbacks = list(gc.callbacks)
    with mock_run_shortcuts():
        assert rpc.serialize_property is not SDK
        assert pulumi_resource._get_stack_trace is not trace
        assert len(pulumi_resource._get_stack_trace().frames) == 0
        assert gc.get_freeze_count() > 0  # what existed before the run
    assert rpc.serialize_property is SDK and pulumi_resource._get_stack_trace is trace
    assert gc.get_freeze_count() == 0 and gc.callbacks == callbacks


def test_survivors_of_a_full_collection_are_left_out_of_later_ones():
    with mock_run_shortcuts():
        before = gc.get_freeze_count()
        survivors = [[i] for i in range(10_000)]  # noqa: F841 - kept alive on purpose
        gc.collect()
        assert gc.get_freeze_count() >= before + 10_000
        garbage = [[] for _ in range(1000)]
        for a, b in zip(garbage, garbage[1:]):
            a.append(b), b.append(a)  # cycles: only the cyclic collector frees them
        del garbage, a, b
    # the run needed a full collection, so one ran after it: the cycles were freed
    assert gc.get_freeze_count() == 0 and gc.collect() == 0


# --- registered inputs as text (issue 18) ------------------------------------------------------

import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import inspect  # noqa: E402

from google.protobuf import struct_pb2  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pulumi.runtime import mocks as pulumi_mocks  # noqa: E402

from flowstacks.render.serialize import recorded_json  # noqa: E402
from flowstacks.synth import engine, sdk_shortcuts  # noqa: E402
from flowstacks.synth.sdk_shortcuts import PLACEHOLDER, as_text, plain_text  # noqa: E402

# The SDK functions whose behaviour the shortcuts rely on, as read in the pinned version. A new
# Pulumi version that changes one of them fails here: read the change, check sdk_shortcuts.py
# and engine.RecordingMonitor against it, then record the new hashes.
PINNED_PULUMI = "3.272.0"
PINNED_SOURCES = {
    # do_register calls it by its global name; it is what the placeholders are scoped to
    "resource.register_resource": "633fd2207a3851a3",
    "resource.prepare_resource": "ec27af8e12a8d263",  # serialized inputs go into the request only
    "resource.read_resource": "fe8d3624c32db0b7",  # its request reaches ReadResource
    "rpc.resolve_outputs": "18f65c1be3ad95f4",  # reads serialized inputs outside previews only
    "rpc.serialize_properties": "d101e72bd9ececa9",  # calls serialize_property by module global
    "rpc.serialize_property": "7e1361fad73506d2",  # its signature is plain_first's
    "resource._get_stack_trace": "3943b22730169251",
    "mocks.MockMonitor.RegisterResource": "756b6fbc95aee583",  # RecordingMonitor's model
    "mocks.MockMonitor.ReadResource": "f78a652013d273ca",
}


def test_the_sdk_internals_the_shortcuts_rely_on_are_those_of_the_pinned_version():
    from pulumi.runtime import resource as res_module

    modules = {"resource": res_module, "rpc": rpc, "mocks": pulumi_mocks}
    assert importlib.metadata.version("pulumi") == PINNED_PULUMI, (
        "another Pulumi SDK: check sdk_shortcuts.py against it and update PINNED_* here")
    changed = {}
    for name, digest in PINNED_SOURCES.items():
        module, *path = name.split(".")
        obj = modules[module]
        for part in path:
            obj = getattr(obj, part)
        actual = hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]
        if actual != digest:
            changed[name] = actual
    assert not changed, f"SDK functions the shortcuts rely on changed: {changed}"


def struct_round_trip(data):
    """What the monitor recorded for ``data`` before the shortcut: Struct, then _plain."""
    struct = struct_pb2.Struct()
    struct["v"] = data
    return recorded_json(engine._plain(struct.fields["v"]))


@settings(max_examples=400, deadline=None)
@given(st.one_of(JSONISH, st.dictionaries(st.sampled_from(["__k", "a", "b"]), JSONISH)))
def test_text_is_what_the_struct_round_trip_records(data):
    if not isinstance(data, (dict, list)):
        data = [data]
    text = as_text(data)
    if text is not None:
        assert text == struct_round_trip(data)


@pytest.mark.parametrize("data,plain", [
    ({"image": "python:3.11", "n": 100, "ok": True, "none": None}, True),  # "3.11" in a string
    ({"cpu": 1.0}, False),  # comes back as the int 1
    ({"cpu": 0.5}, False),  # floats: always the SDK's way
    ({"big": 2**60}, False),  # doubles lose digits beyond 2**53
    ({"__meta": 1}, False),  # dropped by the monitor
    ({"v": rpc.UNKNOWN}, False),  # an unknown
    ({"v": Color.RED}, True),  # an enum: its value, as the SDK writes it
    ({1: "int key"}, False),
    ({"v": ("a", "b")}, True),  # a tuple: the list the SDK makes of it
])
def test_what_goes_as_text(data, plain):
    assert (as_text(data) is not None) is plain
    if plain:
        assert as_text(data) == struct_round_trip(data)


class Thing(pulumi.CustomResource):
    def __init__(self, name, **props):
        super().__init__("test:index:Thing", name, props)


def program():
    spec = {"templates": [{"name": f"s{i}", "image": "python:3.11", "env": [{"name": "A",
            "value": "x"}], "n": i} for i in range(50)], "empty": {}, "list": []}
    first = Thing("first", spec=spec, metadata={"name": "first"}, count=2)
    Thing("second", spec={"ref": first.id, "plain": {"a": [1, 2]}, "f": 1.5}, items=[{"k": "v"}])
    Thing("third", spec={"cpu": 1.0, "__skip": "x"})


def test_a_run_records_the_same_with_and_without_placeholders(monkeypatch):
    placeholders = []
    real = engine.plain_text

    def counting(string):
        text = real(string)
        if text is not None:
            placeholders.append(text)
        return text

    monkeypatch.setattr(engine, "plain_text", counting)
    _, fast = engine.run_program("prod", program)
    assert len(placeholders) >= 3  # spec and metadata of the first, the plain parts of the second
    assert not sdk_shortcuts._TEXTS  # every text was taken by the monitor
    monkeypatch.setattr(sdk_shortcuts, "registering", lambda prepare: prepare)
    placeholders.clear()
    _, slow = engine.run_program("prod", program)
    assert not placeholders
    assert [r.manifest_line() for r in fast.recorded] == [r.manifest_line() for r in slow.recorded]
    assert fast.recorded[0].inputs["spec"]["templates"][7]["n"] == 7


def test_placeholders_are_taken_once_and_only_with_the_token():
    assert plain_text("\x00flowstacks-plain-0000000000000000:1") is None
    sdk_shortcuts._TEXTS[10**9] = "[1]"
    assert plain_text(f"{PLACEHOLDER}{10**9}") == "[1]"
    assert 10**9 not in sdk_shortcuts._TEXTS



@settings(max_examples=600, deadline=None)
@given(st.recursive(st.one_of(st.integers(-(2**62), 2**62), st.floats(allow_nan=False, allow_infinity=False),
                              st.lists(st.sampled_from(list('a"\\:,[1.e') + ["python:3.11", ":1234567890123456"]),
                                       max_size=8).map("".join)),
                    lambda inner: st.one_of(st.lists(inner, max_size=4),
                                            st.dictionaries(st.text(max_size=3), inner, max_size=4)),
                    max_leaves=20))
def test_numbers_inside_strings_are_told_from_numbers_outside(data):
    """The quote count (no escaped quote in the text) answers as the regular expression over
    the text without its strings."""
    from flowstacks.synth.sdk_shortcuts import _NUMBER_CHANGED, _STRING, _number_outside_strings

    text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
    assert _number_outside_strings(text) == bool(_NUMBER_CHANGED.search(_STRING.sub("", text)))


def test_many_numbers_inside_strings():
    from flowstacks.synth.sdk_shortcuts import _number_outside_strings

    inside = orjson.dumps({"s": ["x:1.5"] * 100}).decode()
    assert not _number_outside_strings(inside)
    assert _number_outside_strings(orjson.dumps({"s": ["x:1.5"] * 100, "z": 1.5}).decode())
