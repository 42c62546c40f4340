"""The mock engine's SDK shortcuts hand the monitor exactly what the SDK itself would (issue 8).

``plain_first`` is compared with the SDK's own ``serialize_property`` / ``serialize_properties`` on
generated JSON data, and shown to step aside for what is not plain data."""

from __future__ import annotations

import asyncio
import enum
import gc

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
