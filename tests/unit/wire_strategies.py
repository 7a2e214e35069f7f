"""Hypothesis strategies for legal DynamoDB wire-form items, and ways to re-spell them.

Import as ``from wire_strategies import ...``: pytest's default ("prepend") import mode puts
``tests/unit`` (it has no ``__init__.py``) on ``sys.path`` before collecting its tests. The
name is deliberately unusual so it cannot clash with a module of another test folder.
"""

from __future__ import annotations

import base64
import random
from decimal import Context, Decimal
from typing import Any

from hypothesis import strategies as st

from ddbmigrate.model import Item, KeySchema

_CTX = Context(prec=60)
MAX_DIGITS = 38
MIN_ADJUSTED, MAX_ADJUSTED = -130, 125  # DynamoDB's range: 1E-130 .. 9.99…E+125

names = st.text(min_size=1, max_size=12)
strings = st.text(max_size=24)
nonempty_strings = st.text(min_size=1, max_size=24)
raw_bytes = st.binary(max_size=24)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """A decimal string DynamoDB accepts: <= 38 significant digits, within its range."""
    coefficient = draw(st.one_of(st.integers(0, 1000), st.integers(1, 10**MAX_DIGITS - 1)))
    if coefficient == 0:
        return "0"
    digits = len(str(coefficient))
    low, high = MIN_ADJUSTED - (digits - 1), MAX_ADJUSTED - (digits - 1)
    # Mostly everyday magnitudes, sometimes anywhere in DynamoDB's range.
    exponent = draw(st.one_of(st.integers(max(low, -6), min(high, 3)), st.integers(low, high)))
    sign = draw(st.sampled_from(["", "-"]))
    value = Decimal(f"{sign}{coefficient}E{exponent}")
    style = draw(st.sampled_from(["str", "plain", "sci"]))
    if style == "plain" and abs(exponent) < 40:
        return format(value, "f")
    if style == "sci":
        return f"{sign}{coefficient}E{exponent}"
    return str(value)


def _number_identity(text: str) -> Decimal:
    return _CTX.normalize(Decimal(text))


scalars = st.one_of(
    strings.map(lambda s: {"S": s}),
    numbers().map(lambda n: {"N": n}),
    raw_bytes.map(lambda b: {"B": b64(b)}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
    st.lists(strings, min_size=1, max_size=5, unique=True).map(lambda v: {"SS": v}),
    st.lists(numbers(), min_size=1, max_size=5, unique_by=_number_identity).map(
        lambda v: {"NS": v}
    ),
    st.lists(raw_bytes, min_size=1, max_size=5, unique=True).map(
        lambda v: {"BS": [b64(b) for b in v]}
    ),
)


def _nested(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.lists(children, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(names, children, max_size=4).map(lambda v: {"M": v}),
    )


attribute_values = st.recursive(scalars, _nested, max_leaves=12)
"""Any attribute value: the ten types, M and L nested a few levels, empty S/B/L/M included."""

items = st.dictionaries(names, attribute_values, min_size=1, max_size=8)
"""Any item (no key constraints)."""


def _key_value(type_: str) -> st.SearchStrategy[dict[str, Any]]:
    if type_ == "S":
        return nonempty_strings.map(lambda s: {"S": s})
    if type_ == "N":
        return numbers().map(lambda n: {"N": n})
    return st.binary(min_size=1, max_size=16).map(lambda b: {"B": b64(b)})


def keyed_items(key: KeySchema) -> st.SearchStrategy[Item]:
    """Items holding ``key``'s attributes with legal (non-empty) key values."""
    attributes = [key.partition] + ([key.sort] if key.sort else [])
    key_values = st.fixed_dictionaries({a.name: _key_value(a.type) for a in attributes})
    return st.tuples(items, key_values).map(lambda pair: {**pair[0], **pair[1]})


# --- re-spelling: same value, different text ---------------------------------------------------


def respell_number(text: str, rng: random.Random) -> str:
    """Another spelling of the same number: exponent form, trailing zeros, lower-case e, -0."""
    value = Decimal(text)
    if value.is_zero():
        return rng.choice(["0", "-0", "0.000", "0E+5", "-0.0e-3"])
    sign, digits, exponent = value.as_tuple()
    coefficient = "".join(map(str, digits)).lstrip("0") or "0"
    assert isinstance(exponent, int)
    minus = "-" if sign else ""
    zeros = rng.randint(0, 3)
    return rng.choice(
        [
            f"{minus}{coefficient}E{exponent}",
            f"{minus}{coefficient}{'0' * zeros}e{exponent - zeros}",
            f"{minus}{coefficient}E+{exponent}" if exponent >= 0 else text,
        ]
    )


def respell_binary(text: str, rng: random.Random) -> str:
    """The same bytes with or without base64 padding."""
    return text.rstrip("=") if rng.random() < 0.5 else text


def respell(item: Item, rng: random.Random) -> Item:
    """A different spelling of the same item: attribute/map/set order shuffled, numbers and
    binaries re-written, type keys in lower case, all without changing any value."""
    names_ = list(item)
    rng.shuffle(names_)
    return {name: _respell_value(item[name], rng) for name in names_}


def _respell_value(value: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    ((type_key, payload),) = value.items()
    spelled = type_key.lower() if rng.random() < 0.3 else type_key
    return {spelled: _RESPELL[type_key](payload, rng)}


def _shuffled(values: list[Any], rng: random.Random) -> list[Any]:
    out = list(values)
    rng.shuffle(out)
    return out


_RESPELL: dict[str, Any] = {
    "S": lambda v, rng: v,
    "N": respell_number,
    "B": respell_binary,
    "BOOL": lambda v, rng: v,
    "NULL": lambda v, rng: v,
    "SS": _shuffled,
    "NS": lambda v, rng: _shuffled([respell_number(n, rng) for n in v], rng),
    "BS": lambda v, rng: _shuffled([respell_binary(b, rng) for b in v], rng),
    "M": respell,
    "L": lambda v, rng: [_respell_value(x, rng) for x in v],
}
