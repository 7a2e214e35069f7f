"""Hypothesis strategies for codec round trips: wire_strategies' items, made harder.

Adds what file formats get wrong: attribute names with dots, spaces, quotes, emoji and
control characters; strings holding ``\\x02``/``\\x03`` and other control characters;
numbers with 38 significant digits at both ends of DynamoDB's range; nesting to the
32-level limit; and helpers that spell an item the way Ion reads it back.

Import as ``from codec_strategies import ...`` (same convention as wire_strategies).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from wire_strategies import b64, numbers, raw_bytes

from ddbmigrate.formats import ion
from ddbmigrate.items import MAX_DEPTH, canonical_binary
from ddbmigrate.model import Item

HIVE_UNSAFE = ("\x02", "\x03", "\n", "\r")
"""Characters a Hive-era attribute name cannot hold (names are not escaped there)."""

_CONTROL = ["\x00", "\x01", "\x02", "\x03", "\x1f", "\x7f", "\n", "\t", "\u2028"]
_SYNTAX = ['"', "'", "\\", " ", ".", "$", "{", "}", "[", "]", ":", ",", "::", "null"]
_TRICKY_CHARS = st.sampled_from([*_CONTROL, *_SYNTAX, "é", "€", "\U0001f389"])
tricky_strings = st.lists(st.one_of(_TRICKY_CHARS, st.text(max_size=4)), max_size=6).map("".join)
"""Strings full of characters that need escaping in JSON, Ion or Hive lines."""

tricky_names = st.one_of(
    st.text(min_size=1, max_size=10),
    st.sampled_from(["a.b", "a b", "🎉", "$ion_1_0", "$5", "null", "true", "nan", "Item", "'"]),
    tricky_strings.filter(bool),
)
"""Attribute names: any text, plus names that look like syntax in one of the formats."""

# The extremes of DynamoDB's number range, 38 digits where the format allows.
EXTREME_NUMBERS = (
    "1E-130",
    "-1E-130",
    "9.9999999999999999999999999999999999999E+125",
    "-9.9999999999999999999999999999999999999E+125",
    "12345678901234567890123456789012345678",
    "-0.12345678901234567890123456789012345678",
    "1.2345678901234567890123456789012345678E-93",
    "0",
    "1.50",
    "100",
)
wide_numbers = st.one_of(numbers(), st.sampled_from(EXTREME_NUMBERS))

_scalars = st.one_of(
    tricky_strings.map(lambda s: {"S": s}),
    wide_numbers.map(lambda n: {"N": n}),
    raw_bytes.map(lambda b: {"B": b64(b)}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
    st.lists(tricky_strings, min_size=1, max_size=4, unique=True).map(lambda v: {"SS": v}),
    st.lists(wide_numbers, min_size=1, max_size=4, unique_by=Decimal).map(lambda v: {"NS": v}),
    st.lists(raw_bytes, min_size=1, max_size=4, unique=True).map(
        lambda v: {"BS": [b64(b) for b in v]}
    ),
)


def _nested(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.lists(children, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(tricky_names, children, max_size=3).map(lambda v: {"M": v}),
    )


values = st.recursive(_scalars, _nested, max_leaves=10)
"""Any attribute value: the ten types, empty S/B/L/M, sets of one member, a few levels deep."""


@st.composite
def deep_values(draw: st.DrawFn, depth: int = MAX_DEPTH) -> dict[str, Any]:
    """A value nested exactly ``depth`` M/L levels deep (alternating at random)."""
    value: dict[str, Any] = draw(_scalars)
    for _ in range(depth):
        as_list = draw(st.booleans())
        value = {"L": [value]} if as_list else {"M": {draw(tricky_names): value}}
    return value


codec_items = st.dictionaries(
    tricky_names, st.one_of(values, deep_values()), min_size=1, max_size=6
)
"""Items every codec must carry exactly (Hive: after ``hive_safe``)."""


def hive_safe(item: Item) -> bool:
    """True when no top-level name holds a character the Hive-era format cannot write."""
    return not any(char in name for name in item for char in HIVE_UNSAFE)


def nest(value: dict[str, Any], depth: int) -> dict[str, Any]:
    """``value`` wrapped in ``depth`` alternating L and M levels."""
    for level in range(depth):
        value = {"L": [value]} if level % 2 else {"M": {"k": value}}
    return value


# --- how Ion spells an item when it reads it back ----------------------------------------------


def ion_spelling(item: Item) -> Item:
    """``item`` as the Ion codec returns it: N as ``ion.number_text``, B padded; nothing else.

    The value of every number is unchanged; only its spelling ("+7", "1e5") can differ.
    """
    return {name: _ion_value(value) for name, value in item.items()}


def _ion_value(value: dict[str, Any]) -> dict[str, Any]:
    ((type_key, payload),) = value.items()
    return {type_key: _ION_SPELLING.get(type_key, lambda v: v)(payload)}


def _number(text: str) -> str:
    return ion.number_text(Decimal(text))


_ION_SPELLING: dict[str, Any] = {
    "N": _number,
    "B": canonical_binary,
    "NS": lambda members: [_number(m) for m in members],
    "BS": lambda members: [canonical_binary(m) for m in members],
    "M": ion_spelling,
    "L": lambda members: [_ion_value(v) for v in members],
}
