"""Helpers for items in DynamoDB wire form: keys, sizes, canonical bytes, structural checks.

Items stay in wire form (``{"n": {"N": "1.50"}, "b": {"B": "AAE="}}``) everywhere. The only
place a number is parsed is the canonicalisation below, and only to normalise its text.

Canonical form (``canonical_bytes``), used for digests and for comparing keys:

- attribute names and map keys sorted (orjson ``OPT_SORT_KEYS``), type keys upper-cased;
- N: the value DynamoDB stores. Leading/trailing zeros and the exponent's spelling do not
  matter (``"1.50" == "1.5"``, ``"100" == "1E+2" == "1e2"``, ``"-0" == "0"``); the text is
  ``str(Decimal.normalize())`` under a 60-digit context, so 38-digit numbers are never rounded;
- B: decoded bytes re-encoded as padded standard base64 (``"AAE"`` == ``"AAE="``);
- SS and BS sorted by their canonical text, NS sorted by numeric value;
- S, BOOL, NULL, L order: unchanged.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Iterable
from decimal import Context, Decimal
from typing import Any

import orjson

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.model import Item, KeySchema

TYPE_KEYS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})
"""The ten DynamoDB attribute types, as wire form spells them."""

MAX_DEPTH = 32
"""DynamoDB's limit on nested M/L levels."""

# 38 significant digits is DynamoDB's limit; 60 leaves room for non-normalised spellings
# ("1.5000…0") so normalize() never rounds. The default context (28 digits) would.
_NUMBERS = Context(prec=60, Emax=999_999, Emin=-999_999)


# --- keys -------------------------------------------------------------------------------------


def key_of(item: Item, key: KeySchema) -> Item:
    """The key attributes of ``item``, partition key first.

    Raises CorruptDataError when a key attribute is missing or has the wrong type: such an
    item cannot be written to (or compared with) a table with this key.
    """
    out: Item = {}
    for attr in (key.partition, key.sort):
        if attr is None:
            continue
        value = item.get(attr.name)
        if not isinstance(value, dict) or attr.type not in value:
            raise CorruptDataError(
                f"item has no key attribute {attr.name!r} of type {attr.type} "
                f"(the table's key is {key})"
            )
        out[attr.name] = value
    return out


def key_text(key_item: Item) -> str:
    """Readable, stable text for a key, in the key's own order: ``name="Alice", city="Seattle"``.

    S is shown JSON-quoted, N as written, B as ``base64:…``. Never raises: it is for reports.
    """
    return ", ".join(f"{name}={_scalar_text(value)}" for name, value in key_item.items())


def _scalar_text(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((type_key, payload),) = value.items()
        if type_key == "S" and isinstance(payload, str):
            return orjson.dumps(payload).decode()
        if type_key == "N" and isinstance(payload, str):
            return payload
        if type_key == "B" and isinstance(payload, str):
            return f"base64:{payload}"
    return orjson.dumps(value, default=repr).decode()


def key_bytes(key_item: Item) -> bytes:
    """Canonical bytes of a key: equal for equal keys whatever their attribute order/spelling."""
    return canonical_bytes(key_item)


# --- size -------------------------------------------------------------------------------------
# The rules from "Item sizes and formats" in the DynamoDB developer guide:
#   attribute name: its UTF-8 length (map keys too);
#   S: UTF-8 length; B: decoded length; BOOL, NULL: 1;
#   N: about 1 byte per 2 significant digits + 1 (leading/trailing zeros are not stored);
#   L, M: 3 bytes + 1 byte per element + the elements; SS/NS/BS: the sum of the members.
# AWS calls the N rule approximate, so capacity estimates built on this are estimates too.


def item_size(item: Item) -> int:
    """DynamoDB's size of ``item`` in bytes (what the 400 KB limit and capacity count)."""
    return sum(_utf8_size(name) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((type_key, payload),) = value.items()
    # S and N are most values: skip the table lookup for them (this runs per attribute).
    if type_key == "S":
        return len(payload) if payload.isascii() else len(payload.encode())
    if type_key == "N":
        return _number_size(payload)
    return _SIZERS[type_key](payload)


def _number_size(text: str) -> int:
    if text.isdigit():
        mantissa = text.strip("0")
    else:
        mantissa = text.lower().partition("e")[0].lstrip("+-").replace(".", "").strip("0")
    digits = max(1, len(mantissa))
    return (digits + 1) // 2 + 1


def _binary_size(text: str) -> int:
    # Decoded length from the base64 length, without decoding: 3 bytes per 4 characters.
    chars = len(text.rstrip("="))
    return chars * 3 // 4


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _map_size(payload: dict[str, Any]) -> int:
    return 3 + sum(1 + _utf8_size(k) + _value_size(v) for k, v in payload.items())


def _list_size(payload: list[Any]) -> int:
    return 3 + sum(1 + _value_size(v) for v in payload)


_SIZERS: dict[str, Callable[[Any], int]] = {
    "S": _utf8_size,
    "N": _number_size,
    "B": _binary_size,
    "BOOL": lambda _: 1,
    "NULL": lambda _: 1,
    "SS": lambda members: sum(_utf8_size(m) for m in members),
    "NS": lambda members: sum(_number_size(m) for m in members),
    "BS": lambda members: sum(_binary_size(m) for m in members),
    "M": _map_size,
    "L": _list_size,
}


# --- canonical form ---------------------------------------------------------------------------


def canonical_bytes(item: Item) -> bytes:
    """Deterministic bytes of ``item`` for digests (see the module docstring for the rules).

    Raises CorruptDataError when the item is not in wire form or holds an invalid N or B.
    """
    try:
        canon = {name: _canon_value(value) for name, value in item.items()}
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise CorruptDataError(f"item is not in DynamoDB wire form ({exc})") from exc
    return orjson.dumps(canon, option=orjson.OPT_SORT_KEYS)


def item_hash(item: Item) -> int:
    """128-bit hash of ``canonical_bytes(item)`` (BLAKE2b, 16-byte digest)."""
    digest = hashlib.blake2b(canonical_bytes(item), digest_size=16).digest()
    return int.from_bytes(digest, "big")


def canonical_number(text: str) -> str:
    """The text DynamoDB's stored value of ``text`` canonicalises to (``"1.50"`` -> ``"1.5"``)."""
    if _is_canonical_integer(text):
        return text
    if text.isascii() and text.lstrip("-").isdigit() and text.count("-") <= 1:
        return _canonical_integer(text)
    try:
        value = Decimal(text)
        if value.is_zero():
            return "0"  # DynamoDB has no negative zero and no zero with an exponent.
        if value.is_finite():
            return str(_NUMBERS.normalize(value))
    except ArithmeticError as exc:  # InvalidOperation, Overflow: not a DynamoDB number
        raise ValueError("N value is not a decimal number in DynamoDB's range") from exc
    raise ValueError("N value is not a finite decimal number")


def _is_canonical_integer(text: str) -> bool:
    # The commonest number by far ("12"): no sign, no leading or trailing zero.
    return text.isdigit() and text.isascii() and text[0] != "0" and text[-1] != "0"


def _canonical_integer(text: str) -> str:
    # Most numbers are plain integers: spell them as str(Decimal.normalize()) does, without
    # building a Decimal ("0012" -> "12", "1200" -> "1.2E+3", "-0" -> "0").
    sign = "-" if text[0] == "-" else ""
    digits = text.lstrip("-").lstrip("0")
    if not digits:
        return "0"
    significant = digits.rstrip("0")
    if len(significant) == len(digits):
        return sign + digits
    fraction = "." + significant[1:] if len(significant) > 1 else ""
    return f"{sign}{significant[0]}{fraction}E+{len(digits) - 1}"


def canonical_binary(text: str) -> str:
    """Padded standard base64 of the bytes ``text`` decodes to (padding may be missing)."""
    bare = text.rstrip("=")
    raw = binascii.a2b_base64(bare + "=" * (-len(bare) % 4), strict_mode=True)
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def _canon_value(value: dict[str, Any]) -> dict[str, Any]:
    ((type_key, payload),) = value.items()
    # Fast paths for the commonest types; S is canonical as it stands.
    if type_key == "S" and type(payload) is str:
        return value
    if type_key == "N":
        return value if _is_canonical_integer(payload) else {"N": canonical_number(payload)}
    upper = type_key.upper()
    return {upper: _CANON[upper](payload)}


def _canon_numbers(members: list[str]) -> list[str]:
    return sorted((canonical_number(m) for m in members), key=Decimal)


_CANON: dict[str, Callable[[Any], Any]] = {
    "S": str,
    "N": canonical_number,
    "B": canonical_binary,
    "BOOL": bool,
    "NULL": bool,
    "SS": sorted,
    "NS": _canon_numbers,
    "BS": lambda members: sorted(canonical_binary(m) for m in members),
    "M": lambda payload: {k: _canon_value(v) for k, v in payload.items()},
    "L": lambda payload: [_canon_value(v) for v in payload],
}


# --- structural check -------------------------------------------------------------------------

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# An integer of at most 38 digits is always within DynamoDB's limits: the fast path.
_SHORT_INTEGER = re.compile(r"-?\d{1,38}", re.ASCII)
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)
MAX_DIGITS = 38
"""DynamoDB's limit on significant digits of a number."""
MIN_EXPONENT, MAX_EXPONENT = -130, 125
"""DynamoDB's range as adjusted exponents: 1E-130 .. 9.99…E+125."""


def validate_item(item: Item) -> None:
    """Check that ``item`` is well-formed wire form; CorruptDataError names the bad attribute.

    Structure, JSON types, DynamoDB's number rules (at most 38 significant digits, magnitude
    1E-130 to 9.99…E+125), base64 of B, set rules (non-empty, no two members equal by value)
    and the nesting limit; not the 400 KB size limit. Messages never quote values.
    """
    if not isinstance(item, dict):
        raise CorruptDataError(f"item must be a JSON object, not {_json_type(item)}")
    for name, value in item.items():
        try:
            _check_value(value, 1)
        except _Invalid as exc:
            path = name + "".join(reversed(exc.path))
            raise CorruptDataError(f"attribute {path!r} {exc.problem}") from None


def check_shape(item: Any) -> None:
    """The cheap part of :func:`validate_item`: every value is ``{TYPE: payload}`` with a
    payload of the JSON type its type key needs, and nothing is nested deeper than DynamoDB
    allows. Number text, base64 and set members are left to DynamoDB.

    This runs on every line, even of a file whose MD5 matched its manifest: an MD5 proves
    the file is the one listed, not that what it holds can be sent. Without it a deep item
    fails to encode and a ``{"S": 123}`` stops the run. CorruptDataError, worded as
    ``validate_item`` words it, when something is wrong.
    """
    if type(item) is not dict or not _values_ok(item.values(), 1):
        validate_item(item)  # slow, but only for a bad item: it names the attribute
        raise CorruptDataError("item is not in DynamoDB wire form")  # pragma: no cover


def _values_ok(values: Iterable[Any], depth: int) -> bool:
    # Mirrors _check_value's rules and depth count, builds no message, and loops in place:
    # a call per value would cost more than the check (this runs on the import's hot path).
    for value in values:
        if type(value) is not dict or len(value) != 1:
            return False
        ((type_key, payload),) = value.items()
        if type_key in _TEXT_TYPES and type(payload) is str:
            continue  # S, N and B are most values
        kind = _SHAPES.get(type_key)
        if kind is None or not _is_exactly(payload, kind):
            return False
        if type_key in ("M", "L"):
            inner = payload.values() if kind is dict else payload
            if depth > MAX_DEPTH or not _values_ok(inner, depth + 1):
                return False
        elif type_key == "NULL":
            if payload is not True:
                return False
        elif kind is list and not _set_ok(payload):
            return False
    return True


def _is_exactly(payload: Any, kind: type) -> bool:
    return type(payload) is kind


def _set_ok(members: list[Any]) -> bool:
    return bool(members) and all(type(m) is str for m in members)


# Type key -> the JSON type its payload must have.
_SHAPES: dict[str, type] = {
    "S": str,
    "N": str,
    "B": str,
    "SS": list,
    "NS": list,
    "BS": list,
    "M": dict,
    "L": list,
    "BOOL": bool,
    "NULL": bool,
}
_TEXT_TYPES = frozenset({"S", "N", "B"})


class _Invalid(Exception):  # noqa: N818 - internal signal, never escapes validate_item
    """A problem found below an attribute; each container on the way up adds its segment.

    Paths are built only when something is wrong, so valid items pay nothing for them.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []  # innermost segment first: "[0]", ".b"


def _check_value(value: Any, depth: int) -> None:
    if not isinstance(value, dict) or len(value) != 1:
        raise _Invalid('must be an object with exactly one type key, like {"S": "..."}')
    ((type_key, payload),) = value.items()
    # Fast paths for the commonest valid values; anything else takes the full check.
    if type_key == "S" and type(payload) is str:
        return
    if type_key == "N" and type(payload) is str and _SHORT_INTEGER.fullmatch(payload):
        return
    check = _CHECKS.get(type_key)
    if check is None:
        known = " ".join(sorted(TYPE_KEYS))
        raise _Invalid(f"has unknown type key {type_key[:20]!r} (expected one of {known})")
    check(payload, depth)


def _json_type(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", dict: "an object", list: "an array"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _check_string(payload: Any, _depth: int = 0, *, type_key: str = "S") -> None:
    if not isinstance(payload, str):
        raise _Invalid(f"{type_key} value must be a string, not {_json_type(payload)}")


def _check_number(payload: Any, _depth: int = 0) -> None:
    _check_string(payload, type_key="N")
    if not _NUMBER_TEXT.fullmatch(payload):
        raise _Invalid("N value is not a decimal number")
    problem = number_problem(payload)
    if problem:
        raise _Invalid(problem)


def number_problem(text: str) -> str | None:
    """Why DynamoDB would refuse the decimal ``text`` (digits or range), or None.

    Works on the text alone: no Decimal, so no context can round a 39th digit away.
    Leading and trailing zeros are not significant (DynamoDB does not store them).
    """
    mantissa, _, exponent_text = text.lower().partition("e")
    whole, _, fraction = mantissa.lstrip("+-").partition(".")
    significant = (whole + fraction).strip("0")
    if not significant:
        return None  # zero, however spelled
    if len(significant) > MAX_DIGITS:
        return (
            f"N value has {len(significant)} significant digits "
            f"(DynamoDB allows at most {MAX_DIGITS})"
        )
    if len(exponent_text.lstrip("+-").lstrip("0")) > 6:
        return _OUT_OF_RANGE
    whole = whole.lstrip("0")
    # The adjusted exponent: the power of ten of the first significant digit.
    leading = len(whole) - 1 if whole else -(len(fraction) - len(fraction.lstrip("0")) + 1)
    adjusted = int(exponent_text or "0") + leading
    return _OUT_OF_RANGE if not MIN_EXPONENT <= adjusted <= MAX_EXPONENT else None


_OUT_OF_RANGE = (
    "N value is out of DynamoDB's range "
    "(magnitude 1E-130 to 9.9999999999999999999999999999999999999E+125)"
)


def _check_binary(payload: Any, _depth: int = 0) -> None:
    _check_string(payload, type_key="B")
    if not _BASE64_TEXT.fullmatch(payload):
        raise _Invalid("B value is not standard base64")
    # Padding may be missing (canonical_binary accepts that), but a lone 6-bit group or
    # padding on a short quantum cannot decode to bytes.
    padded = payload.endswith("=")
    if len(payload) % 4 == 1 or (padded and len(payload) % 4 != 0):
        raise _Invalid("B value is not standard base64 (bad length or padding)")


def _check_flag(payload: Any, _depth: int = 0, *, type_key: str = "BOOL") -> None:
    if not isinstance(payload, bool) or (type_key == "NULL" and payload is not True):
        expected = "true" if type_key == "NULL" else "true or false"
        raise _Invalid(f"{type_key} value must be {expected}, not {_json_type(payload)}")


def _set_checker(
    type_key: str, member: Callable[[Any], None], identity: Callable[[str], str] = str
) -> Callable[[Any, int], None]:
    # ``identity`` maps a member to its value: DynamoDB refuses {"NS": ["1", "1.0"]} and
    # {"BS": ["AAE", "AAE="]} as duplicates although their texts differ.
    def check(payload: Any, _depth: int) -> None:
        if not isinstance(payload, list) or not payload:
            raise _Invalid(f"{type_key} value must be a non-empty array")
        for index, value in enumerate(payload):
            _in_container(member, value, f"[{index}]")
        if len(set(payload)) != len(payload) or len(set(map(identity, payload))) != len(payload):
            raise _Invalid(f"{type_key} value has duplicate members")

    return check


def _in_container(check: Callable[..., None], value: Any, segment: str, *args: Any) -> None:
    try:
        check(value, *args)
    except _Invalid as exc:
        exc.path.append(segment)
        raise


def _check_map(payload: Any, depth: int) -> None:
    if not isinstance(payload, dict):
        raise _Invalid(f"M value must be an object, not {_json_type(payload)}")
    _check_depth(depth)
    for name, value in payload.items():
        try:
            _check_value(value, depth + 1)
        except _Invalid as exc:
            exc.path.append(f".{name}")
            raise


def _check_list(payload: Any, depth: int) -> None:
    if not isinstance(payload, list):
        raise _Invalid(f"L value must be an array, not {_json_type(payload)}")
    _check_depth(depth)
    for index, value in enumerate(payload):
        try:
            _check_value(value, depth + 1)
        except _Invalid as exc:
            exc.path.append(f"[{index}]")
            raise


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Invalid(f"is nested more than {MAX_DEPTH} levels deep")


_CHECKS: dict[str, Callable[[Any, int], None]] = {
    "S": _check_string,
    "N": _check_number,
    "B": _check_binary,
    "BOOL": _check_flag,
    "NULL": lambda payload, depth: _check_flag(payload, depth, type_key="NULL"),
    "SS": _set_checker("SS", _check_string),
    "NS": _set_checker("NS", _check_number, canonical_number),
    "BS": _set_checker("BS", _check_binary, canonical_binary),
    "M": _check_map,
    "L": _check_list,
}
