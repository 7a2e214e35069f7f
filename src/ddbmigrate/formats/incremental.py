"""Incremental export records (FORMATS.md section 1): one final state per key per window.

An incremental export (``"exportType": "INCREMENTAL_EXPORT"``) holds change records, not
items::

    {"Metadata":{"WriteTimestampMicros":{"N":"…"}},"Keys":{…},"NewImage":{…}}    put
    {"Metadata":{…},"Keys":{…},"OldImage":{…},"NewImage":{…}}                     update
    {"Metadata":{…},"Keys":{…},"OldImage":{…}}  or  {"Metadata":{…},"Keys":{…}}   delete

A record with a NewImage becomes a put of that image; a record without one becomes a delete
of its Keys. OldImage (present only with the NEW_AND_OLD_IMAGES view) is never needed to
apply a change, so it is checked for shape and otherwise ignored.

Core module: no AWS SDK here. ION records are turned into the same dict shape by the ION
codec and then go through :func:`parse_record`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.items import key_bytes, validate_item
from ddbmigrate.model import Item
from ddbmigrate.ports import WriteRequest

KEY_TYPES = frozenset({"S", "N", "B"})
"""Key attributes are scalars of these types only."""


@dataclass(frozen=True, slots=True)
class Change:
    """The final state of one key in an incremental export window."""

    key: Item
    """The record's ``Keys``: the key attributes, in wire form."""
    new_image: Item | None
    """The item after the write; None means the key was deleted."""
    timestamp_us: int
    """``Metadata.WriteTimestampMicros``: when the write happened, in epoch microseconds."""

    @property
    def is_delete(self) -> bool:
        """True when applying this change removes the key."""
        return self.new_image is None


def decode_json_line(line: bytes) -> Change:
    """The change of one DYNAMODB_JSON incremental line. CorruptDataError when it is bad.

    Callers add the file name and line number to the message.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(f"line is not valid JSON ({exc})") from exc
    if isinstance(record, dict) and "Item" in record and "Keys" not in record:
        raise CorruptDataError(
            'line is an {"Item": ...} line of a full export, not an incremental record',
            hint="the export's manifest-summary.json says INCREMENTAL_EXPORT but this file "
            "holds full-export lines; check that the folder holds one export only",
        )
    return parse_record(record)


def parse_record(record: Any, *, validate: bool = True) -> Change:
    """Check one decoded incremental record and return its Change.

    ``Keys`` must be a non-empty object of S/N/B attributes; ``NewImage``, when present, must
    hold every key attribute with the same value (compared canonically, so ``"1.0"`` equals
    ``"1"``). ``validate`` also checks the images' wire form (``items.validate_item``):
    DynamoDB refuses a whole batch for one bad item, so a bad record is better named here.
    """
    if not isinstance(record, dict):
        raise CorruptDataError("incremental record is not a JSON object")
    keys = _keys(record)
    new_image = _image(record, "NewImage", validate=validate)
    _image(record, "OldImage", validate=validate)
    if new_image is not None:
        _check_image_has_key(new_image, keys)
    return Change(key=keys, new_image=new_image, timestamp_us=_timestamp(record))


def _keys(record: dict[str, Any]) -> Item:
    keys = record.get("Keys")
    if not isinstance(keys, dict) or not keys:
        raise CorruptDataError("incremental record has no Keys (or Keys is empty)")
    try:
        validate_item(keys)
    except CorruptDataError as exc:
        raise CorruptDataError(f"incremental record's Keys: {exc.message}") from exc
    for name, value in keys.items():
        ((type_key, payload),) = value.items()
        if type_key not in KEY_TYPES:
            raise CorruptDataError(f"key attribute {name!r} has type {type_key}, not S, N or B")
        if payload == "":
            raise CorruptDataError(f"key attribute {name!r} is empty")
    return keys


def _image(record: dict[str, Any], field: str, *, validate: bool) -> Item | None:
    if field not in record:
        return None
    image = record[field]
    if not isinstance(image, dict):
        raise CorruptDataError(f"incremental record's {field} is not a JSON object")
    if validate:
        try:
            validate_item(image)
        except CorruptDataError as exc:
            raise CorruptDataError(f"incremental record's {field}: {exc.message}") from exc
    return image


def _check_image_has_key(image: Item, keys: Item) -> None:
    for name, value in keys.items():
        if name not in image:
            raise CorruptDataError(f"incremental record's NewImage lacks key attribute {name!r}")
        if key_bytes({name: image[name]}) != key_bytes({name: value}):
            raise CorruptDataError(
                f"incremental record's NewImage has another value for key attribute {name!r} "
                "than its Keys"
            )


def _timestamp(record: dict[str, Any]) -> int:
    metadata = record.get("Metadata")
    stamp = metadata.get("WriteTimestampMicros") if isinstance(metadata, dict) else None
    text = stamp.get("N") if isinstance(stamp, dict) else None
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise CorruptDataError(
            "incremental record has no Metadata.WriteTimestampMicros "
            '(expected {"N": "<epoch microseconds>"})'
        )
    return int(text)


def newest_per_key(changes: Iterable[Change]) -> list[Change]:
    """The newest change of each key, by ``timestamp_us``; on a tie the later one in input order.

    Returns the very Change objects given (callers may look them up by identity), in the order
    in which each key first appeared. Keys are compared by ``items.key_bytes``, so spellings of
    the same number (``"1.0"``, ``"1"``) are one key.

    Memory: holds one Change per distinct key of the export window. AWS compacts an
    incremental export per key already, so this mostly guards against the same key appearing
    in two files (overlapping windows, or files copied together); a window touching many
    millions of keys needs that many Changes in memory.
    """
    newest: dict[bytes, Change] = {}
    for change in changes:
        identity = key_bytes(change.key)
        held = newest.get(identity)
        if held is None or change.timestamp_us >= held.timestamp_us:
            newest[identity] = change  # re-assigning keeps the key's first position
    return list(newest.values())


def to_write_request(change: Change) -> WriteRequest:
    """The BatchWriteItem entry that applies ``change``: a PutRequest, or a DeleteRequest."""
    if change.new_image is None:
        return {"DeleteRequest": {"Key": change.key}}
    return {"PutRequest": {"Item": change.new_image}}
