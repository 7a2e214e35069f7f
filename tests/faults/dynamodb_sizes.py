"""Item sizes and capacity units as DynamoDB's documentation states them, for the fault proxy.

Written here from the published rules, not taken from ddbmigrate: the proxy charges the tool
for what it reads and writes, and a tool judged by its own arithmetic cannot be caught out.

Sizes ("DynamoDB item sizes and formats", Developer Guide): an item is the sum of its
attribute names (UTF-8 bytes) and values. A string is its UTF-8 bytes; a number is 1 byte per
two significant digits (leading and trailing zeros trimmed), rounded up, plus 1 byte; a binary
is its raw bytes (the wire carries base64, which is decoded here); null and Boolean are 1 byte;
a list or map is 3 bytes plus 1 byte per element plus the elements (a map element is its name
and its value); a set is the sum of its members.

Capacity ("DynamoDB read and write operations"): a strongly consistent read costs 1 unit per
4 KB, an eventually consistent one half that. GetItem rounds its item up to 4 KB; BatchGetItem
rounds each item up on its own and adds them; Query and Scan add the sizes of all the items of
the page first and round the sum up once. Every read costs at least one rounding step, even of
nothing. A write costs 1 unit per 1 KB of its item, rounded up, at least 1.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import math
from collections.abc import Iterable
from typing import Any

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
LIST_OR_MAP_OVERHEAD = 3
ELEMENT_OVERHEAD = 1


def item_size(item: dict[str, Any]) -> int:
    """The bytes DynamoDB counts for ``item`` (wire form); ValueError if it is not wire form."""
    return sum(_text_size(name) + value_size(value) for name, value in item.items())


def value_size(value: dict[str, Any]) -> int:
    """The bytes of one attribute value in wire form (``{"S": "x"}``), without its name."""
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"not an attribute value: {value!r:.60}")
    ((kind, payload),) = value.items()
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        if not isinstance(payload, list):
            raise ValueError(f"{kind} is not a list")
        return sum(_SCALARS[kind[0]](member) for member in payload)
    if kind == "L" and isinstance(payload, list):
        return _container(value_size(element) for element in payload)
    if kind == "M" and isinstance(payload, dict):
        return _container(_text_size(name) + value_size(v) for name, v in payload.items())
    if kind not in _SCALARS:
        raise ValueError(f"not an attribute value: {value!r:.60}")
    return _SCALARS[kind](payload)


def number_size(text: str) -> int:
    """``ceil(significant digits / 2) + 1``; zero has no significant digit."""
    try:
        digits = list(decimal.Decimal(text).as_tuple().digits)  # leading zeros already gone
    except (decimal.InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a number: {text!r:.60}") from exc
    while digits and digits[-1] == 0:
        digits.pop()
    return math.ceil(len(digits) / 2) + 1


def read_units(sizes: Iterable[int], *, consistent: bool) -> float:
    """Units of a read whose sizes are rounded up to 4 KB one by one (GetItem, BatchGetItem).

    Query and Scan round their page once: pass ``[sum of the item sizes]``."""
    units = sum(max(1, math.ceil(size / READ_UNIT_BYTES)) for size in sizes) or 1
    return float(units) if consistent else units / 2.0


def write_units(size: int) -> float:
    """Units of writing one item of ``size`` bytes."""
    return float(max(1, math.ceil(size / WRITE_UNIT_BYTES)))


def _text_size(text: str) -> int:
    if not isinstance(text, str):
        raise ValueError(f"not a string: {text!r:.60}")
    return len(text.encode("utf-8"))


def _binary_size(text: str) -> int:
    try:
        return len(base64.b64decode(text, validate=True))
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"not base64: {text!r:.60}") from exc


def _container(element_sizes: Iterable[int]) -> int:
    return LIST_OR_MAP_OVERHEAD + sum(ELEMENT_OVERHEAD + size for size in element_sizes)


_SCALARS = {"S": _text_size, "N": number_size, "B": _binary_size}
