"""A YAML emitter for the documents :func:`flowstacks.render.serialize.canonical_yaml` writes,
producing exactly the text libyaml 0.2.5 writes through PyYAML (``CSafeDumper``, sorted keys,
block style, literal blocks for multi-line strings, ``allow_unicode=True``, ``width=120``,
indent 2), without building PyYAML's node tree and without the emitter's calls back into
Python (two resolver calls per scalar): the reviewer YAML of large Argo templates was the
largest part of an Argo synth.

Each step below follows libyaml's ``src/emitter.c`` (0.2.5; the function names are given) for
the subset of documents it accepts:

- a mapping or a sequence at the root; mappings with ``str`` keys; values of the exact types
  ``dict``, ``list``, ``str``, ``bool``, ``int``, ``float`` and ``None``;
- strings of printable ASCII (``\\x20``-``\\x7e``) and ``\\n`` only, written plain, single-quoted
  or as literal blocks; keys of at most 128 characters without a line break.

Anything else (another type, a non-ASCII or control character, a string libyaml would write
double-quoted, a complex ``?`` key) makes :func:`emit` return ``None`` and the caller uses
libyaml itself; so the output never depends on this module's coverage, only its speed does.
``tests/foundation/test_serialize.py`` compares the two on generated documents.
"""

from __future__ import annotations

import re
from typing import Any

WIDTH = 120  # canonical_yaml's width= (libyaml's best_width)
INDENT = 2  # libyaml's default best_indent
STR_TAG = "tag:yaml.org,2002:str"
_MAX_SIMPLE_KEY = 128  # yaml_emitter_check_simple_key: longer keys are written as `? key`
_CACHE_MAX = 200_000  # distinct strings remembered (the caches are cleared beyond)

# printable ASCII and the line feed: the strings whose analysis below is complete
_SUPPORTED = re.compile(r"[\n\x20-\x7e]*").fullmatch
# yaml_emitter_analyze_scalar: a first character that makes a plain scalar impossible in block
# context (flow and block indicators)
_FIRST_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")


class Unsupported(Exception):
    """The document holds something outside this emitter's subset (see the module's doc)."""


def _plain_allowed(s: str) -> bool:
    """libyaml's ``block_plain_allowed`` for a non-empty supported string without line breaks
    (yaml_emitter_analyze_scalar, with flow_level 0 as in every block collection)."""
    if s[0] == " " or s[-1] == " ":  # leading or trailing space
        return False
    if s[:3] in ("---", "..."):
        return False
    first = s[0]
    if first in _FIRST_INDICATORS:
        return False
    if first in "?-" and (len(s) == 1 or s[1] == " "):  # followed by whitespace (or the end)
        return False
    # ':' followed by whitespace or the end; '#' preceded by whitespace
    return not (": " in s or s[-1] == ":" or " #" in s)


class _Forms:
    """What each distinct string becomes, computed once: keys and values have different rules
    (yaml_emitter_select_scalar_style with and without ``simple_key_context``)."""

    def __init__(self, resolve: Any) -> None:
        self._resolve = resolve  # str -> tag, the dumper's resolver with implicit (True, False)
        self.keys: dict[str, str] = {}
        self.values: dict[str, tuple[int, str]] = {}

    def _plain_implicit(self, s: str) -> bool:
        """The serializer's ``plain_implicit``: the text reads back as a string when plain."""
        return self._resolve(s) == STR_TAG

    def key(self, k: str) -> str:
        """The key's text followed by ':'."""
        if len(self.keys) > _CACHE_MAX:
            self.keys.clear()
        if not _SUPPORTED(k) or "\n" in k or len(k) > _MAX_SIMPLE_KEY:
            raise Unsupported(k)
        if k and _plain_allowed(k) and self._plain_implicit(k):
            text = k + ":"
        else:  # single-quoted (allowed: no line break)
            text = "'" + k.replace("'", "''") + "':"
        self.keys[k] = text
        return text

    def value(self, s: str) -> tuple[int, str]:
        """``(PLAIN, text)``, ``(QUOTED, text with its quotes)`` or ``(LITERAL, header)``; the
        representer asks for a literal block when the string has a line break, else plain."""
        if len(self.values) > _CACHE_MAX:
            self.values.clear()
        if not _SUPPORTED(s):
            raise Unsupported(s)
        if "\n" in s:
            # block_allowed: no trailing space, no space before a break (else double-quoted)
            if s[-1] == " " or " \n" in s:
                raise Unsupported(s)
            form = (LITERAL, _literal_header(s))
        elif s and _plain_allowed(s) and self._plain_implicit(s):
            form = (PLAIN, s)
        else:
            form = (QUOTED, "'" + s.replace("'", "''") + "'")
        self.values[s] = form
        return form


PLAIN, QUOTED, LITERAL = 0, 1, 2


def _literal_header(s: str) -> str:
    """yaml_emitter_write_literal_scalar + yaml_emitter_write_block_scalar_hints: '|', the
    indentation indicator when the text starts with a space or a break, and the chomping
    indicator ('-' without a final break, '+' with more than one)."""
    header = "|"
    if s[0] in " \n":
        header += str(INDENT)
    if s[-1] != "\n":
        header += "-"
    elif len(s) == 1 or s[-2] == "\n":
        header += "+"
    return header


def _fold(text: str, col: int, indent: int, lo: int, hi: int) -> tuple[str, int]:
    """``text`` written from column ``col`` with libyaml's folding of plain and single-quoted
    scalars (yaml_emitter_write_plain_scalar / _single_quoted_scalar, allow_breaks): a space at
    index ``lo`` <= i < ``hi`` whose column is beyond the width, between two non-spaces, becomes
    a line break and ``indent`` spaces. Returns the text and the column after it."""
    n = len(text)
    if col + n <= WIDTH + 1:  # no character reaches beyond the width
        return text, col + n
    parts = []
    start = 0  # the first character of the current line, at column line_col
    line_col = col
    # the first space whose column is beyond the width: start + WIDTH + 1 - line_col
    i = text.find(" ", max(lo, WIDTH + 1 - line_col), hi)
    while i != -1:
        if text[i - 1] != " " and text[i + 1] != " ":
            parts.append(text[start:i])
            parts.append("\n" + " " * indent)
            start = i + 1
            line_col = indent
            i = text.find(" ", max(start, start + WIDTH + 1 - indent), hi)
        else:
            i = text.find(" ", i + 1, hi)
    parts.append(text[start:])
    return "".join(parts), line_col + n - start


class Emitter:
    """One per process (its caches outlive documents). :meth:`emit` returns the document's
    text, or None when it holds something outside the subset."""

    def __init__(self, resolve: Any, represent_scalar: Any) -> None:
        self._forms = _Forms(resolve)
        self._resolve = resolve
        self._represent = represent_scalar  # bool/int/float/None -> (tag, text) as PyYAML
        self._scalars: dict[tuple[type, Any], str] = {}

    def emit(self, data: Any) -> str | None:
        out: list[str] = []
        self._plus = False  # the last literal block kept its final breaks ('+')
        try:
            if type(data) is dict and data:
                col, ws, ind = self._mapping(data, 0, 0, True, True, out)
            elif type(data) is list and data:
                col, ws, ind = self._sequence(data, 0, 0, True, True, out)
            else:
                return None
        except Unsupported:
            return None
        # yaml_emitter_emit_document_end: yaml_emitter_write_indent at indent 0
        if not ind or col > 0 or not ws:
            out.append("\n")
        if self._plus:  # open_ended 2 at the stream's end: '...'
            out.append("...\n")
        return "".join(out)

    def _scalar_text(self, value: Any) -> str:
        """A bool, int, float or None as the SafeRepresenter writes it, plain."""
        t = type(value)
        key = (t, value)
        if t is not float:  # -0.0 == 0.0 and NaN != NaN: floats are not remembered
            text = self._scalars.get(key)
            if text is not None:
                return text
        if t not in (bool, int, float, type(None)):
            raise Unsupported(t)
        tag, text = self._represent(value)
        if not _SUPPORTED(text) or "\n" in text or not text or not _plain_allowed(text) \
                or self._resolve(text) != tag:
            raise Unsupported(text)
        if t is not float:
            if len(self._scalars) > _CACHE_MAX:
                self._scalars.clear()
            self._scalars[key] = text
        return text

    def _value(self, value: Any, parent: int, col: int, ws: bool, ind: bool, in_mapping: bool,
               out: list[str]) -> tuple[int, bool, bool]:
        """A node in a block collection whose indent is ``parent``, the emitter's column,
        ``whitespace`` and ``indention`` flags before it; returns them after it."""
        t = type(value)
        if t is str:
            form = self._forms.values.get(value) or self._forms.value(value)
            kind, text = form
            if kind == LITERAL:
                return self._literal(value, text, parent + INDENT, ws, out)
            if not ws:  # the space before the scalar (or before its opening quote)
                out.append(" ")
                col += 1
            if kind == PLAIN:
                text, col = _fold(text, col, parent + INDENT, 1, len(text) - 1)
            else:
                text, col = _fold(text, col, parent + INDENT, 2, len(text) - 2)
            out.append(text)
            return col, False, False
        if t is dict:
            if value:
                return self._mapping(value, parent + INDENT, col, ws, ind, out)
            out.append("{}" if ws else " {}")  # an empty collection is written in flow style
            return col + (2 if ws else 3), False, False
        if t is list:
            if value:
                # yaml_emitter_emit_block_sequence_item: a sequence in a mapping is indentless
                indentless = in_mapping and not ind
                return self._sequence(value, parent if indentless else parent + INDENT,
                                      col, ws, ind, out)
            out.append("[]" if ws else " []")
            return col + (2 if ws else 3), False, False
        text = self._scalar_text(value)
        if not ws:
            out.append(" ")
            col += 1
        text, col = _fold(text, col, parent + INDENT, 1, len(text) - 1)
        out.append(text)
        return col, False, False

    def _literal(self, s: str, header: str, indent: int, ws: bool, out: list[str]
                 ) -> tuple[int, bool, bool]:
        """yaml_emitter_write_literal_scalar: the header, then each line at ``indent`` (empty
        lines stay empty)."""
        pad = " " * indent
        lines = s.split("\n")
        out.append(("|" if ws else " |") + header[1:] + "\n")
        out.append("\n".join([pad + line if line else "" for line in lines]))
        self._plus = header.endswith("+")
        if s[-1] == "\n":
            return 0, True, True
        return indent + len(lines[-1]), True, False

    def _mapping(self, data: dict, indent: int, col: int, ws: bool, ind: bool, out: list[str]
                 ) -> tuple[int, bool, bool]:
        """A non-empty block mapping whose keys are at ``indent``."""
        keys_get, key_form = self._forms.keys.get, self._forms.key
        values_get, value_form = self._forms.values.get, self._forms.value
        append = out.append
        newline_pad = "\n" + " " * indent
        inner = indent + INDENT  # the indent of the values' scalars
        try:
            ordered = sorted(data)
        except TypeError:  # keys of several types: PyYAML's sort refuses them as well
            raise Unsupported(data) from None
        for k in ordered:
            if type(k) is not str:
                raise Unsupported(k)
            # yaml_emitter_write_indent
            if not ind or col > indent or (col == indent and not ws):
                line = newline_pad
            elif col < indent:
                line = " " * (indent - col)
            else:
                line = ""
            text = keys_get(k) or key_form(k)
            col = indent + len(text)
            value = data[k]
            if type(value) is str:  # the common case, inline
                kind, vtext = values_get(value) or value_form(value)
                if kind == LITERAL:
                    append(line + text)
                    col, ws, ind = self._literal(value, vtext, inner, False, out)
                    continue
                col += 1
                if col + len(vtext) <= WIDTH + 1:  # nothing to fold
                    col += len(vtext)
                elif kind == PLAIN:
                    vtext, col = _fold(vtext, col, inner, 1, len(vtext) - 1)
                else:
                    vtext, col = _fold(vtext, col, inner, 2, len(vtext) - 2)
                append(line + text + " " + vtext)
                ws = ind = False
            else:
                append(line + text)
                col, ws, ind = self._value(value, indent, col, False, False, True, out)
        return col, ws, ind

    def _sequence(self, data: list, indent: int, col: int, ws: bool, ind: bool, out: list[str]
                  ) -> tuple[int, bool, bool]:
        """A non-empty block sequence whose '-' are at ``indent``."""
        newline_pad = "\n" + " " * indent
        for item in data:
            if not ind or col > indent or (col == indent and not ws):
                out.append(newline_pad + "-")
            elif col < indent:
                out.append(" " * (indent - col) + "-")
            else:
                out.append("-")
            # yaml_emitter_write_indicator("-", need_whitespace, not whitespace, indention)
            col, ws, ind = self._value(item, indent, indent + 1, False, True, False, out)
        return col, ws, ind
