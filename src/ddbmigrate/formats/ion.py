"""DynamoDB's native export in Amazon Ion text (outputFormat ION, FORMATS.md section 1).

One item per line, each line starting with the Ion version marker::

    $ion_1_0 {Item:{name:"Alice",visits:12.,tags:$dynamodb_SS::["a","b"],avatar:{{AAEC}}}}

Type mapping (AWS's "DynamoDB table export output format"): S string, N decimal, B blob,
BOOL bool, NULL null, M struct, L list, SS/NS/BS lists annotated ``$dynamodb_SS::`` etc.

Numbers never pass through float. Writing, the N text's digits and exponent become an Ion
decimal exactly (``"1.50"`` -> ``1.50``, ``"1E-130"`` -> ``1d-130``, ``"12"`` -> ``12.``).
Reading, an Ion decimal becomes the exact value in one spelling per value (``number_text``:
``12.`` -> ``"12"``, ``6d2`` -> ``"600"``, ``1.50`` -> ``"1.5"``, ``1d-130`` -> ``"1E-130"``).
DynamoDB normalises numbers on write, so only the value matters, and that is exact: no
digit is ever lost, 38-digit numbers and both ends of the range included. Only the spelling
can change across an Ion round trip (``"+7"`` -> ``"7"``, ``"1e5"`` -> ``"100000"``). Ion
floats are refused: a float has already lost digits.

Writing is done here by hand (a few string joins per item) so the bytes are AWS's shape and
stable; reading uses amazon-ion's C-accelerated ``simpleion``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from decimal import Context, Decimal
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import IonType
from amazon.ion.exceptions import IonException
from amazon.ion.simple_types import IonPyNull

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.items import MAX_DEPTH, canonical_binary, validate_item
from ddbmigrate.model import Item

VERSION_MARKER = b"$ion_1_0"
"""The Ion version marker AWS writes at the start of every line."""

SET_ANNOTATIONS = {"SS": "$dynamodb_SS", "NS": "$dynamodb_NS", "BS": "$dynamodb_BS"}
"""Set type -> the annotation AWS puts on its list."""
_SET_TYPES = {annotation: type_ for type_, annotation in SET_ANNOTATIONS.items()}

RECORD_FIELDS = ("Item", "Keys", "NewImage", "OldImage", "Metadata")
"""Top-level fields of full-export lines and incremental-export records."""


# --- writing ----------------------------------------------------------------------------------


def encode_item_line(item: Item) -> bytes:
    """One data line: ``$ion_1_0 {Item:{...}}`` and a newline.

    CorruptDataError when ``item`` is not in wire form (unknown type key, bad N or B text).
    """
    try:
        body = _struct(item)
    except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise CorruptDataError(f"item is not in DynamoDB wire form ({exc})") from exc
    return f"$ion_1_0 {{Item:{body}}}\n".encode()


def encode_record_line(record: dict[str, Item]) -> bytes:
    """One incremental-export line: ``$ion_1_0 {Keys:{...},NewImage:{...}}`` and a newline."""
    try:
        fields = ",".join(f"{_symbol(name)}:{_struct(item)}" for name, item in record.items())
    except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise CorruptDataError(f"record is not in DynamoDB wire form ({exc})") from exc
    return f"$ion_1_0 {{{fields}}}\n".encode()


def ion_decimal(text: str) -> str:
    """The Ion decimal literal with exactly the digits and exponent of the N text ``text``.

    ``"12"`` -> ``12.``, ``"1.50"`` -> ``1.50``, ``"1E-130"`` -> ``1d-130``,
    ``"-1.5E+3"`` -> ``-15d2``. ``Decimal(text)`` is exact (no context is applied).
    """
    sign, digits, exponent = Decimal(text).as_tuple()
    if not isinstance(exponent, int):
        raise ValueError("N value is not a finite decimal number")
    minus = "-" if sign else ""
    coefficient = "".join(map(str, digits))
    if exponent == 0:
        return f"{minus}{coefficient}."
    if -20 <= exponent < 0:
        # Short fractions as AWS writes them (1.50, 0.005) rather than 150d-2.
        padded = coefficient.rjust(1 - exponent, "0")
        return f"{minus}{padded[:exponent]}.{padded[exponent:]}"
    return f"{minus}{coefficient}d{exponent}"


# Ion short strings may not hold raw control characters; escape them and the two specials.
_STRING_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}
_STRING_ESCAPES |= {ord('"'): '\\"', ord("\\"): "\\\\"}
_SYMBOL_ESCAPES = {**_STRING_ESCAPES, ord("'"): "\\'"}
del _SYMBOL_ESCAPES[ord('"')]
# Bare field names: identifiers that are not keywords. Names starting with "$" are always
# quoted: a bare $5 is a symbol id and $ion_... names are reserved.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_KEYWORDS = frozenset({"null", "true", "false", "nan"})


def _string(text: str) -> str:
    return '"' + text.translate(_STRING_ESCAPES) + '"'


def _symbol(name: str) -> str:
    if _IDENTIFIER.fullmatch(name) and name not in _KEYWORDS:
        return name
    return "'" + name.translate(_SYMBOL_ESCAPES) + "'"


def _blob(text: str) -> str:
    return "{{" + canonical_binary(text) + "}}"


def _struct(attributes: dict[str, Any]) -> str:
    return "{" + ",".join(f"{_symbol(k)}:{_value(v)}" for k, v in attributes.items()) + "}"


def _list(values: list[Any]) -> str:
    return "[" + ",".join(_value(v) for v in values) + "]"


def _annotated(type_key: str, render: Callable[[str], str]) -> Callable[[list[str]], str]:
    annotation = SET_ANNOTATIONS[type_key]
    return lambda members: f"{annotation}::[" + ",".join(render(m) for m in members) + "]"


_WRITERS: dict[str, Callable[[Any], str]] = {
    "S": _string,
    "N": ion_decimal,
    "B": _blob,
    "BOOL": lambda flag: "true" if flag else "false",
    "NULL": lambda _: "null",
    "SS": _annotated("SS", _string),
    "NS": _annotated("NS", ion_decimal),
    "BS": _annotated("BS", _blob),
    "M": _struct,
    "L": _list,
}


def _value(value: dict[str, Any]) -> str:
    ((type_key, payload),) = value.items()
    return _WRITERS[type_key](payload)


# --- reading ----------------------------------------------------------------------------------

# 60 digits: room for any legal number (38 digits) so normalize() can never round.
_EXACT = Context(prec=60, Emax=999_999, Emin=-999_999)
_PLAIN_INTEGER_DIGITS = 38


def number_text(value: Decimal) -> str:
    """The N text for an Ion decimal: its exact value, spelled one way per value.

    Trailing zeros are dropped (``1.50`` -> ``"1.5"``): amazon-ion's C reader keeps them
    only up to 34 digits, so keeping them would make the text depend on the reader.
    Integers of up to 38 digits are written plainly (``6d2`` -> ``"600"``, ``12.`` ->
    ``"12"``), as DynamoDB returns them; other numbers as ``str(Decimal)`` (``"1E-130"``,
    ``"0.005"``). DynamoDB stores the same number for either spelling.
    """
    exact = _EXACT.normalize(Decimal(value))  # Decimal(...): IonPyDecimal's str differs
    if exact.is_zero():
        return "0"  # DynamoDB has no negative zero
    exponent = exact.as_tuple().exponent
    assert isinstance(exponent, int)  # the reader only makes finite decimals
    if exponent >= 0 and exact.adjusted() < _PLAIN_INTEGER_DIGITS:
        return format(exact, "f")
    return str(exact)


def decode_item_line(line: bytes, *, validate: bool = True) -> Item:
    """The item of one data line. CorruptDataError on bad Ion or shape (callers add file/line).

    ``validate`` also runs ``items.validate_item`` (digits and range of numbers, sets, depth).
    """
    values = _load(line)
    if len(values) != 1:
        raise CorruptDataError(f"line holds {len(values)} Ion values, expected one item")
    return _item_of(values[0], validate=validate)


def decode_record(line: bytes, *, validate: bool = True) -> dict[str, Item]:
    """The top-level struct of one line, each member converted to wire form.

    For incremental-export lines (``{Metadata:{...},Keys:{...},NewImage:{...}}``) and full
    export lines alike (``{"Item": item}``). ``Metadata`` is converted like an item, so
    ``WriteTimestampMicros`` becomes ``{"N": "..."}`` as in the JSON flavour.
    """
    values = _load(line)
    if len(values) != 1 or values[0].ion_type is not IonType.STRUCT:
        raise CorruptDataError("line is not one Ion struct (an export record)")
    record: dict[str, Item] = {}
    for name, member in _fields(values[0], ""):
        if member.ion_type is not IonType.STRUCT:
            raise CorruptDataError(f"record field {name!r} is not a struct")
        record[name] = _attributes(member, validate=validate, where=f"{name}: ")
    return record


def iter_ion_items(data: bytes, *, validate: bool = True) -> Iterator[tuple[int, Item]]:
    """``(line number, item)`` for each item of an uncompressed ION data file.

    Reads what AWS writes: the version marker on every line, or once at the top (alone on
    its line or before the first item), one item per line; a top-level list of items (the
    shape AWS's ImportTable examples use) is unrolled. A file that is not one value per line
    (pretty-printed Ion) is read from the first such line on as one document; its items are
    then numbered by that line. Errors name the line (and the value's ordinal in a document).
    """
    lines = data.split(b"\n")
    for index, line in enumerate(lines):
        number = index + 1
        if not line.strip():
            continue
        try:
            values = _parse(line)
        except IonException:
            yield from _iter_document(b"\n".join(lines[index:]), number, validate=validate)
            return
        for value in values:
            yield from _items_at(value, f"line {number}", number, validate=validate)


def _iter_document(text: bytes, first_line: int, *, validate: bool) -> Iterator[tuple[int, Item]]:
    try:
        values = _parse(text)
    except IonException as exc:
        raise CorruptDataError(f"line {first_line}: not valid Ion ({_reason(exc)})") from exc
    for ordinal, value in enumerate(values, start=1):
        where = f"line {first_line}, value {ordinal} of a multi-line document"
        yield from _items_at(value, where, first_line, validate=validate)


def _items_at(value: Any, where: str, number: int, *, validate: bool) -> Iterator[tuple[int, Item]]:
    members = value if value.ion_type is IonType.LIST and not value.ion_annotations else [value]
    for member in members:
        try:
            yield number, _item_of(member, validate=validate)
        except CorruptDataError as exc:
            raise CorruptDataError(f"{where}: {exc.message}", hint=exc.hint) from exc


def _load(line: bytes) -> list[Any]:
    try:
        return _parse(line)
    except IonException as exc:
        raise CorruptDataError(f"line is not valid Ion ({_reason(exc)})") from exc


# The C extension reads text values (strings, blobs) into a 4 KB buffer by default and fails
# on longer ones. A larger limit costs ~30 us on every call, so only lines that need it pay:
# 4 MiB holds a 400 KB item's longest value even with every character escaped as \xHH.
_LARGE_TEXT_LIMIT = 4 * 1024 * 1024


def _parse(text: bytes) -> list[Any]:
    try:
        values: list[Any] = simpleion.loads(text, single_value=False)
    except IonException as exc:
        if "BUFFER_TOO_SMALL" not in str(exc):
            raise
        values = simpleion.loads(text, single_value=False, text_buffer_size_limit=_LARGE_TEXT_LIMIT)
    return values


def _reason(exc: IonException) -> str:
    # The C extension's messages are bare codes (IERR_INVALID_SYNTAX); keep them short.
    return str(exc).strip() or type(exc).__name__


def _item_of(value: Any, *, validate: bool) -> Item:
    if value.ion_type is not IonType.STRUCT:
        raise CorruptDataError("line is not an Ion {Item:{...}} struct")
    fields = dict(_fields(value, ""))
    item = fields.get("Item")
    if item is None:
        hint = " (an incremental export record?)" if "Keys" in fields else ""
        raise CorruptDataError(f"line is not an {{Item:{{...}}}} struct{hint}")
    if item.ion_type is not IonType.STRUCT:
        raise CorruptDataError("the Item field is not an Ion struct")
    return _attributes(item, validate=validate, where="")


def _attributes(struct: Any, *, validate: bool, where: str) -> Item:
    try:
        item = {name: _convert(member, name, 1) for name, member in _fields(struct, "")}
        if validate:
            validate_item(item)
    except CorruptDataError as exc:
        raise CorruptDataError(f"{where}{exc.message}", hint=exc.hint) from exc
    return item


def _fields(struct: Any, path: str) -> Iterator[tuple[str, Any]]:
    # Ion structs may repeat a field name; a DynamoDB item or map may not, and keeping the
    # last one (what a dict would do) would silently drop data.
    seen: set[str] = set()
    for name, member in struct.items():
        if name in seen:
            raise CorruptDataError(f"attribute {path + name!r} appears twice")
        seen.add(name)
        yield name, member


def _convert(value: Any, path: str, depth: int) -> dict[str, Any]:
    """One Ion value as a wire-form attribute value; ``path`` names it in errors."""
    if value.ion_annotations:
        return _convert_set(value, path)
    # Before the type table: typed nulls (null.string, ...) carry their type's ion_type.
    if isinstance(value, IonPyNull):
        return {"NULL": True}
    scalar = _SCALARS.get(value.ion_type)
    if scalar is not None:
        return scalar(value)
    if value.ion_type is IonType.STRUCT:
        _check_depth(path, depth)
        members = _fields(value, f"{path}.")
        return {"M": {k: _convert(v, f"{path}.{k}", depth + 1) for k, v in members}}
    if value.ion_type is IonType.LIST:
        _check_depth(path, depth)
        return {"L": [_convert(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]}
    raise CorruptDataError(
        f"attribute {path!r} is an Ion {_type_name(value.ion_type)}, which DynamoDB has no "
        "type for (expected string, decimal, blob, bool, null, struct or list)"
    )


_SCALARS: dict[IonType, Callable[[Any], dict[str, Any]]] = {
    IonType.STRING: lambda value: {"S": str(value)},
    IonType.DECIMAL: lambda value: {"N": number_text(value)},
    # AWS writes decimals; an int from another writer is just as exact.
    IonType.INT: lambda value: {"N": number_text(Decimal(int(value)))},
    IonType.BLOB: lambda value: {"B": base64.b64encode(value).decode("ascii")},
    IonType.BOOL: lambda value: {"BOOL": bool(value)},
}


def _type_name(ion_type: IonType) -> str:
    name = ion_type.name.lower()
    return f"{name} (a float would have lost digits)" if ion_type is IonType.FLOAT else name


def _check_depth(path: str, depth: int) -> None:
    # Checked while converting, not only by validate_item: a hostile file must not be able to
    # make the converter recurse without bound.
    if depth > MAX_DEPTH:
        raise CorruptDataError(f"attribute {path!r} is nested more than {MAX_DEPTH} levels deep")


def _convert_set(value: Any, path: str) -> dict[str, Any]:
    annotations = [getattr(a, "text", a) for a in value.ion_annotations]
    type_key = _SET_TYPES.get(annotations[0]) if len(annotations) == 1 else None
    if type_key is None or value.ion_type is not IonType.LIST:
        raise CorruptDataError(
            f"attribute {path!r} has Ion annotations {annotations!r}; only a list annotated "
            "$dynamodb_SS, $dynamodb_NS or $dynamodb_BS is a DynamoDB set"
        )
    members = [_convert(member, f"{path}[{i}]", 1) for i, member in enumerate(value)]
    wanted = type_key[0]
    for index, member in enumerate(members):
        if wanted not in member:
            got = next(iter(member))
            where = f"{path}[{index}]"
            raise CorruptDataError(f"attribute {where!r} is a {got} inside a {type_key}")
    return {type_key: [member[wanted] for member in members]}
