"""AWS Data Pipeline backups, both generations (FORMATS.md sections 2 and 3).

Manifest era (emr-dynamodb-tools ``DynamoDBExport``): a ``manifest`` file of version 3
listing the data files, and data lines that are one JSON object per item, without an
``Item`` wrapper, typed with the Java SDK v1 field names::

    {"name":{"s":"Alice"},"visits":{"n":"12"},"tags":{"sS":["a","b"]},"m":{"m":{}},"l":{"l":[]}}

Hive era: no manifest; each line is ``name \\x03 value-json`` pairs joined by ``\\x02``, the
value JSON typed the same way.

Type keys are matched case-insensitively at every level on read (some writers emit
``{"null":true}`` or upper case) and written exactly as emr-dynamodb-tools writes them:
``s n b sS nS bS m l nULL bOOL``. Empty ``l`` and ``m`` are kept: they are legal values that
other readers turn into empty AttributeValues DynamoDB rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.items import MAX_DEPTH, validate_item
from ddbmigrate.model import Item

MANIFEST = "manifest"
"""Name of the manifest file in a manifest-era backup folder."""
MANIFEST_NAME = "DynamoDB-export"
MANIFEST_VERSION = 3
"""The only manifest version emr-dynamodb-tools writes (and so the only one we read)."""

HIVE_ATTRIBUTE_SEPARATOR = b"\x02"
HIVE_NAME_SEPARATOR = b"\x03"

WRITE_KEYS = {
    "S": "s",
    "N": "n",
    "B": "b",
    "SS": "sS",
    "NS": "nS",
    "BS": "bS",
    "M": "m",
    "L": "l",
    "NULL": "nULL",
    "BOOL": "bOOL",
}
"""Wire-form type key -> the key emr-dynamodb-tools writes."""
_READ_KEYS = {written.lower(): wire for wire, written in WRITE_KEYS.items()}


# --- files ------------------------------------------------------------------------------------


def is_hidden(name: str) -> bool:
    """True for files that are not data: ``_SUCCESS``, ``.crc`` files and the like.

    ``name`` may be a path; only its last segment counts.
    """
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return base.startswith(("_", "."))


def parse_manifest(data: bytes, *, name: str) -> list[str]:
    """The data file URLs a version-3 ``manifest`` lists, in its order.

    Only the listed files are data: a failed task can leave stray files in the folder.
    """
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(f"{name} is not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise CorruptDataError(f"{name} is not a JSON object")
    version = record.get("version")
    if version != MANIFEST_VERSION or isinstance(version, bool):
        raise CorruptDataError(
            f"{name} has manifest version {version!r}; only version {MANIFEST_VERSION} "
            "(emr-dynamodb-tools DynamoDBExport) is supported"
        )
    entries = record.get("entries")
    if not isinstance(entries, list):
        raise CorruptDataError(f"{name} has no entries list")
    return [_entry_url(entry, index, name) for index, entry in enumerate(entries)]


def _entry_url(entry: Any, index: int, name: str) -> str:
    url = entry.get("url") if isinstance(entry, dict) else None
    if not isinstance(url, str) or not url:
        raise CorruptDataError(f"{name} entry {index} has no url")
    return url


def manifest_bytes(urls: list[str]) -> bytes:
    """A ``manifest`` exactly as emr-dynamodb-tools lays it out, one entry per line."""
    entries = ",\n".join(orjson.dumps({"url": url, "mandatory": True}).decode() for url in urls)
    header = f'{{"name":"{MANIFEST_NAME}","version":{MANIFEST_VERSION},\n"entries": [\n'
    return f"{header}{entries}\n]}}".encode()


# --- manifest-era lines -----------------------------------------------------------------------


def decode_line(line: bytes, *, validate: bool = True) -> Item:
    """The item of one manifest-era data line. CorruptDataError names the problem.

    ``validate`` also runs ``items.validate_item`` (numbers, base64, sets, depth).
    """
    record = _json(line, "line")
    if not isinstance(record, dict):
        raise CorruptDataError("line is not a JSON object")
    if not record:
        raise CorruptDataError("line is an empty JSON object (an item has attributes)")
    return _to_wire_item(record, validate=validate)


def encode_item_line(item: Item) -> bytes:
    """One manifest-era data line: the item with emr-dynamodb-tools' type keys, a newline."""
    return orjson.dumps(_to_written_item(item), option=orjson.OPT_APPEND_NEWLINE)


# --- Hive-era lines ---------------------------------------------------------------------------


def decode_hive_line(line: bytes, *, validate: bool = True) -> Item:
    """The item of one Hive-era line: ``name\\x03{json}`` pairs joined by ``\\x02``.

    Each pair splits on its first ``\\x03``; the value JSON escapes its own control
    characters, so a ``\\x02`` or ``\\x03`` inside a value never appears raw.
    """
    body = line.rstrip(b"\r\n")
    if not body:
        raise CorruptDataError("line is empty (a Hive-era line holds name\\x03value pairs)")
    record: dict[str, Any] = {}
    for index, pair in enumerate(body.split(HIVE_ATTRIBUTE_SEPARATOR)):
        name, separator, value = pair.partition(HIVE_NAME_SEPARATOR)
        if not separator:
            raise CorruptDataError(f"attribute {index + 1} of the line has no \\x03 separator")
        attribute = _utf8(name, index)
        if attribute in record:
            raise CorruptDataError(f"attribute {attribute!r} appears twice")
        record[attribute] = _json(value, f"value of attribute {attribute!r}")
    return _to_wire_item(record, validate=validate)


def encode_hive_line(item: Item) -> bytes:
    """One Hive-era line and a newline.

    Names are not escaped in this format, so a name holding ``\\x02``, ``\\x03`` or a line
    break cannot be written: CorruptDataError says which.
    """
    for name in item:
        _check_hive_name(name)
    pairs = [
        name.encode() + HIVE_NAME_SEPARATOR + orjson.dumps(value)
        for name, value in _to_written_item(item).items()
    ]
    return HIVE_ATTRIBUTE_SEPARATOR.join(pairs) + b"\n"


def _check_hive_name(name: str) -> None:
    for char, label in (("\x02", "\\x02"), ("\x03", "\\x03"), ("\n", "\\n"), ("\r", "\\r")):
        if char in name:
            raise CorruptDataError(
                f"attribute name {name!r} contains {label}, which the Hive-era Data Pipeline "
                "format cannot represent (names are not escaped)",
                hint="export in the native or manifest-era Data Pipeline format instead",
            )


def _utf8(raw: bytes, index: int) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise CorruptDataError(f"name of attribute {index + 1} is not UTF-8") from exc


def _json(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(f"{what} is not valid JSON ({exc})") from exc


# --- type keys --------------------------------------------------------------------------------


def _to_wire_item(record: dict[str, Any], *, validate: bool) -> Item:
    item = {name: _to_wire(value, name, 1) for name, value in record.items()}
    if validate:
        validate_item(item)
    return item


def _to_wire(value: Any, path: str, depth: int) -> dict[str, Any]:
    """One value with its type key (any case) renamed to the wire form's, recursively."""
    if not isinstance(value, dict) or len(value) != 1:
        raise CorruptDataError(
            f'attribute {path!r} must be an object with exactly one type key, like {{"s": "..."}}'
        )
    ((type_key, payload),) = value.items()
    wire = _READ_KEYS.get(type_key.lower())
    if wire is None:
        known = " ".join(WRITE_KEYS.values())
        raise CorruptDataError(
            f"attribute {path!r} has unknown type key {type_key[:20]!r} (expected one of {known})"
        )
    if wire in _NESTED and isinstance(payload, dict | list):
        if depth > MAX_DEPTH:
            raise CorruptDataError(
                f"attribute {path!r} is nested more than {MAX_DEPTH} levels deep"
            )
        payload = _NESTED[wire](payload, path, depth + 1)
    return {wire: payload}


def _wire_map(payload: Any, path: str, depth: int) -> Any:
    if not isinstance(payload, dict):
        return payload  # validate_item names the wrong JSON type
    return {k: _to_wire(v, f"{path}.{k}", depth) for k, v in payload.items()}


def _wire_list(payload: Any, path: str, depth: int) -> Any:
    if not isinstance(payload, list):
        return payload
    return [_to_wire(v, f"{path}[{i}]", depth) for i, v in enumerate(payload)]


_NESTED: dict[str, Callable[[Any, str, int], Any]] = {"M": _wire_map, "L": _wire_list}


def _to_written_item(item: Item) -> dict[str, Any]:
    try:
        return {name: _to_written(value) for name, value in item.items()}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError(f"item is not in DynamoDB wire form ({exc})") from exc


def _to_written(value: dict[str, Any]) -> dict[str, Any]:
    ((type_key, payload),) = value.items()
    if type_key == "M":
        payload = {k: _to_written(v) for k, v in payload.items()}
    elif type_key == "L":
        payload = [_to_written(v) for v in payload]
    return {WRITE_KEYS[type_key]: payload}
