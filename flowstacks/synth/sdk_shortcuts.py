"""What the mock engine changes in the Pulumi SDK while a stack's program runs offline, for speed.

Each shortcut is entered by :func:`mock_run_shortcuts` around one mock run and undone after it;
the real CLI never runs with them. Each gives the mock monitor exactly what the SDK itself would
have sent (tests compare both ways), and each stands aside when the SDK is not the one it was
written against (the pinned version):

- no source positions: the SDK walks the Python stack of every resource
  (``traceback.extract_stack``, a tenth of a synth) to tell the engine where it was declared;
  the mock engine never reads it.
- plain data as is: the SDK serializes inputs node by node through an ``async`` function that
  checks each node for futures, outputs, resources, assets and input types. Plain JSON data
  (dicts with string keys, lists, strings, numbers, booleans, None) holds none of them and
  serializes to itself, so a plain dict or list under an untyped, untranslated property is
  passed on whole (Argo templates have thousands of nodes: a sixth of an Argo synth).
- registered inputs as text: the SDK turns each input into a protobuf ``Struct`` node by node
  in Python, and the mock monitor decodes it again node by node (an Argo template: thousands
  of nodes, a fifth of an Argo synth). While a resource's inputs are prepared for registration
  (``prepare_resource``, in a preview), a plain dict or list whose data the round trip would
  not change (no floats, no integers beyond 2**53, no ``__`` keys, no unknowns: checked on the
  text) is written by orjson (sorted keys, as the monitor records it) and the ``Struct`` gets a
  placeholder string in its place; the monitor takes the text back (:func:`plain_text`) and
  records it as is. A ``Struct`` with placeholders goes nowhere else: outside a preview, where
  the SDK reads the inputs back into outputs, the shortcut stands aside.
- gc frozen: what exists before a stack's program (modules, flows read, earlier stacks'
  summaries) is left out of the cyclic garbage collector's scans while the program runs, and so
  is what survives each full collection during the run (``gc.freeze`` again after it): Pulumi
  makes many short-lived cycles, and every full collection would otherwise walk the whole,
  growing heap again (at 1,000 flows, airflow: 16 -> 9 s of collections for 4 stacks, 23 -> 20
  ms per deployment, peak RSS 837 -> 722 MB). Cycles among frozen objects that become garbage
  are collected once the run ends (unfreeze, then one full collection if the run needed any).
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import itertools
import os
import re
from typing import Any, Iterator

import orjson
import pulumi
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import source_pb2

from flowstacks.render.serialize import orjson_text

_SCALARS = frozenset((str, int, float, bool, type(None)))
_UNTRANSLATED = pulumi.Resource.translate_input_property  # the default: names kept as given


def is_plain(value: Any) -> bool:
    """Whether ``value`` is JSON data built only of dict (string keys), list, str, int, float,
    bool and None: exact types, so subclasses (enums, input types) take the SDK's own path."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and is_plain(v) for k, v in value.items())
    if kind is list:
        return all(is_plain(v) for v in value)
    return False


def _untranslated(transformer: Any) -> bool:
    return transformer is None or getattr(transformer, "__func__", None) is _UNTRANSLATED


# a placeholder: NUL and a per-process token, which no string of a program holds by chance
PLACEHOLDER = f"\x00flowstacks-plain-{os.urandom(8).hex()}:"
_TEXTS: dict[int, str] = {}  # placeholder number -> the JSON text it stands for
_NUMBERS = itertools.count()
_REGISTERING: contextvars.ContextVar[bool] = contextvars.ContextVar("flowstacks_registering",
                                                                      default=False)
_ORJSON = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
           | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS)
# What the Struct round trip would change, in orjson's compact text: a number with a fraction
# or an exponent (floats: integral ones come back as ints) or of 16 digits or more (beyond 2**53
# doubles lose digits), a key starting with "__" (dropped), an unknown. A match inside a string
# ("python:3.11") is looked at again with the strings taken out; "__" and unknowns inside
# strings only send the data the SDK's way: slower, never different.
_NUMBER_CHANGED = re.compile(r'[:,\[]-?\d+(?:[.eE]|\d{15})')
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_KEY_OR_UNKNOWN = re.compile(r'"__|' + re.escape(rpc.UNKNOWN))


def _number_outside_strings(text: str) -> bool:
    """Whether ``_NUMBER_CHANGED`` matches ``text`` (compact JSON) outside its strings. Without
    an escaped quote in the text, a match is inside a string when an odd number of quotes
    precede it: counted for the few matches, much faster than taking every string out of a
    large template (whose strings such as "python:3.11" match the pattern)."""
    if '\\"' not in text:
        for count, match in enumerate(_NUMBER_CHANGED.finditer(text)):
            if count == 64:  # many matches: the regular expression below, in one pass
                break
            if text.count('"', 0, match.start()) % 2 == 0:
                return True
        else:
            return False
    return bool(_NUMBER_CHANGED.search(_STRING.sub("", text)))


def _changed_by_struct(text: str) -> bool:
    # two substring searches: a regular expression's alternation scans much slower
    if '"__' in text or rpc.UNKNOWN in text:
        return True
    return bool(_NUMBER_CHANGED.search(text)) and _number_outside_strings(text)


def as_text(value: Any) -> str | None:
    """``value`` as the compact, key-sorted JSON text the monitor records for it after the
    ``Struct`` round trip, or None when it is not plain data or the round trip would change it.
    orjson refuses every type the SDK would treat specially (outputs, resources, assets,
    subclasses of str, int, dict, list, dataclasses, datetimes, non-string keys, lone
    surrogates, integers beyond 64 bits); a tuple it writes as the list the SDK makes of it, an
    enum as its value, as the SDK does."""
    try:
        text = orjson_text(value, _ORJSON)
    except (orjson.JSONEncodeError, TypeError):
        return None
    return None if _changed_by_struct(text) else text


def plain_text(string: str) -> str | None:
    """The JSON text a placeholder stands for (taken: each is read once), or None."""
    if string.startswith(PLACEHOLDER):
        return _TEXTS.pop(int(string[len(PLACEHOLDER):]))
    return None


def plain_first(serialize_property: Any) -> Any:
    """``serialize_property`` that returns a plain container unchanged (what the SDK's walk
    returns for it, rebuilt node by node), or during a registration's preparation a placeholder
    for its text (see the module's docstring), and otherwise calls the SDK's function."""

    async def serialize(value: Any, deps: Any, property_key: Any, resource_obj: Any = None,
                        input_transformer: Any = None, typ: Any = None,
                        keep_output_values: bool = False,
                        exclude_resource_refs_from_deps: bool = False,
                        return_protobuf_value: bool = False) -> Any:
        if (type(value) in (dict, list) and typ is None and not return_protobuf_value
                and _untranslated(input_transformer)):
            if _REGISTERING.get():
                text = as_text(value)
                if text is not None:
                    number = next(_NUMBERS)
                    _TEXTS[number] = text
                    return f"{PLACEHOLDER}{number}"
            if is_plain(value):
                return value
        return await serialize_property(value, deps, property_key, resource_obj,
                                        input_transformer, typ, keep_output_values,
                                        exclude_resource_refs_from_deps, return_protobuf_value)

    return serialize


@contextlib.contextmanager
def _replaced(module: Any, name: str, make: Any) -> Iterator[None]:
    """``module.name`` replaced by ``make(original)`` for the block; left alone if the SDK has
    no such function (another version)."""
    original = getattr(module, name, None)
    if original is None:
        yield
        return
    setattr(module, name, make(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def registering(prepare_resource: Any) -> Any:
    """``prepare_resource`` during which plain inputs become placeholders (previews only: there
    the SDK reads a registration's serialized inputs nowhere but in the request)."""

    async def prepare(*args: Any, **kwargs: Any) -> Any:
        if not pulumi_settings.is_dry_run() or pulumi_settings.is_legacy_apply_enabled():
            return await prepare_resource(*args, **kwargs)
        token = _REGISTERING.set(True)
        try:
            return await prepare_resource(*args, **kwargs)
        finally:
            _REGISTERING.reset(token)

    return prepare


@contextlib.contextmanager
def _placeholders_cleared() -> Iterator[None]:
    try:
        yield
    finally:
        _TEXTS.clear()  # those of registrations that never reached the monitor


def _empty_stack_trace() -> Any:
    return source_pb2.StackTrace()


# False in a process that ends after its run (a stack process of ``synth --jobs``): the garbage
# of the run goes with the process, and a last full collection of its heap would only cost time
COLLECT_AFTER_RUN = True


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    refrozen = 0

    def freeze_after_full_collections(phase: str, info: dict[str, Any]) -> None:
        nonlocal refrozen
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()
            refrozen += 1

    gc.freeze()
    gc.callbacks.append(freeze_after_full_collections)
    try:
        yield
    finally:
        gc.callbacks.remove(freeze_after_full_collections)
        gc.unfreeze()
        if refrozen and COLLECT_AFTER_RUN:  # a run that needed full collections affords one more
            gc.collect()


@contextlib.contextmanager
def mock_run_shortcuts(text_inputs: bool = True) -> Iterator[None]:
    """All the shortcuts above, for one mock run. ``text_inputs=False`` (a run with secrets in
    its config): registrations keep the SDK's own serialization, so a secret's value reaches
    the engine as the SDK sends it, never as a placeholder inside the secret."""
    with (_replaced(pulumi_resource, "_get_stack_trace", lambda _: _empty_stack_trace),
          _replaced(rpc, "serialize_property", plain_first),
          (_replaced(pulumi_resource, "prepare_resource", registering) if text_inputs
           else contextlib.nullcontext()),
          _placeholders_cleared(),
          _gc_frozen()):
        yield
