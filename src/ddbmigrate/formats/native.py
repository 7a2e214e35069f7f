"""DynamoDB's native export layout, DYNAMODB_JSON flavour (FORMATS.md section 1).

::

    <prefix>/AWSDynamoDB/<export-id>/_started
    <prefix>/AWSDynamoDB/<export-id>/manifest-summary.json   (+ .md5)
    <prefix>/AWSDynamoDB/<export-id>/manifest-files.json     (+ .md5)
    <prefix>/AWSDynamoDB/<export-id>/data/<part>.json.gz     {"Item": {...}} lines

Field names here are AWS's, byte for byte, so AWS's ImportTable can read what we write and
we can read what AWS's ExportTableToPointInTime writes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.items import check_shape, validate_item
from ddbmigrate.model import Item, PartInfo

EXPORTS_DIR = "AWSDynamoDB"
"""The folder AWS puts every export in, below the user's prefix."""
STARTED_MARKER = "_started"
MANIFEST_SUMMARY = "manifest-summary.json"
MANIFEST_FILES = "manifest-files.json"
DATA_DIR = "data"

FULL_EXPORT_VERSION = "2020-06-30"
FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"
DYNAMODB_JSON = "DYNAMODB_JSON"

# Level 1, not gzip's usual 6: measured here level 6 costs ~47 us of CPU per 1 KB item and
# level 1 ~18 us, against ~40 us for the whole signed Scan + parse. Level 6 would make
# compression the bottleneck of an export; the parts are staging files, and the ~10-15% of
# extra size costs far less than the CPU.
DEFAULT_GZIP_LEVEL = 1

Compression = Literal["gzip", "none"]


# --- item lines -------------------------------------------------------------------------------


def encode_item_line(item: Item) -> bytes:
    """One data line: ``{"Item": {...}}`` and a newline."""
    return orjson.dumps({"Item": item}, option=orjson.OPT_APPEND_NEWLINE)


def decode_trusted_line(line: bytes) -> Item:
    """``decode_item_line`` with only the cheap shape and depth check, for files proven
    intact by their MD5: the MD5 says the file is the one its manifest lists, not that its
    items can be sent (a deep or mistyped item would stop the run instead of being a reject).
    """
    item = decode_item_line(line, validate=False)
    check_shape(item)
    return item


def decode_item_line(line: bytes, *, validate: bool = True) -> Item:
    """The item of one data line. CorruptDataError on bad JSON or shape (callers add file/line).

    ``validate`` also runs ``items.validate_item``: DynamoDB rejects a whole batch for one bad
    item, so a bad line is better named here, with its file and line, than by a failed batch.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(f"line is not valid JSON ({exc})") from exc
    item = record.get("Item") if isinstance(record, dict) else None
    if not isinstance(item, dict):
        hint = " (an incremental export record?)" if isinstance(record, dict) else ""
        raise CorruptDataError(f'line is not an {{"Item": {{...}}}} object{hint}')
    if validate:
        validate_item(item)
    return item


class PartWriter:
    """Builds one data file in memory, streaming lines into a compressor as items arrive.

    ``finish()`` returns ``(data, item_count, md5_b64)``. Output is deterministic (gzip
    mtime 0, no file name), so the same items always give the same bytes and MD5.
    """

    def __init__(
        self, *, compression: Compression = "gzip", level: int = DEFAULT_GZIP_LEVEL
    ) -> None:
        self._buffer = io.BytesIO()
        self._sink: io.BufferedIOBase = self._buffer
        if compression == "gzip":
            self._sink = gzip.GzipFile(
                fileobj=self._buffer, mode="wb", compresslevel=level, mtime=0
            )
        self.suffix = ".json.gz" if compression == "gzip" else ".json"
        """File name suffix for this compression: ``.json.gz`` or ``.json``."""
        self.item_count = 0
        self.raw_bytes = 0
        """Uncompressed bytes written so far (to decide when a part is big enough)."""
        self._finished = False

    def add(self, item: Item) -> None:
        """Append one item."""
        if self._finished:
            raise RuntimeError("PartWriter.add() after finish()")
        line = encode_item_line(item)
        self._sink.write(line)
        self.item_count += 1
        self.raw_bytes += len(line)

    def finish(self) -> tuple[bytes, int, str]:
        """Close the part: ``(stored bytes, item count, base64 MD5 of the stored bytes)``."""
        if not self._finished:
            self._finished = True
            if self._sink is not self._buffer:
                self._sink.close()  # writes the gzip trailer; leaves the BytesIO open
        data = self._buffer.getvalue()
        return data, self.item_count, md5_b64(data)


def iter_raw_lines(data: bytes, *, compressed: bool) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` for each non-blank line, numbered from 1; decompresses lazily.

    Use this with ``decode_item_line`` when bad lines must be counted and skipped rather than
    stop the part (``--max-rejects``); a damaged gzip stream raises CorruptDataError.
    """
    stream: io.BufferedIOBase = io.BytesIO(data)
    if compressed:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    try:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, line
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise CorruptDataError(f"data file is not a valid gzip stream ({exc})") from exc


def iter_part_lines(
    data: bytes, *, compressed: bool, validate: bool = True
) -> Iterator[tuple[int, Item]]:
    """``(line number, item)`` for each item of a data file; blank lines are skipped.

    A bad line raises CorruptDataError naming its line number (callers add the file).
    """
    for number, line in iter_raw_lines(data, compressed=compressed):
        try:
            item = decode_item_line(line, validate=validate)
        except CorruptDataError as exc:
            raise CorruptDataError(f"line {number}: {exc.message}", hint=exc.hint) from exc
        yield number, item


def md5_b64(data: bytes) -> str:
    """Base64 MD5 of ``data``: AWS's ``md5Checksum`` and the content of ``.md5`` side files."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


# --- export ids -------------------------------------------------------------------------------


def new_export_id(now_ms: int, rand: random.Random | None = None) -> str:
    """An id shaped like AWS's: 14-digit zero-padded epoch milliseconds, ``-``, 8 hex digits.

    ``01700000000000-abcd1234``. Ids sort by creation time, which ``latest export`` relies on.
    """
    bits = (rand or random.Random()).getrandbits(32)
    return f"{now_ms:014d}-{bits:08x}"


def export_arn(table_arn: str, export_id: str) -> str:
    """``<table ARN>/export/<export id>``, as AWS names exports."""
    return f"{table_arn}/export/{export_id}"


# --- manifest-summary.json --------------------------------------------------------------------

# Python field -> AWS field, in the order AWS writes them.
_SUMMARY_FIELDS = (
    ("version", "version"),
    ("export_arn", "exportArn"),
    ("start_time", "startTime"),
    ("end_time", "endTime"),
    ("table_arn", "tableArn"),
    ("table_id", "tableId"),
    ("export_time", "exportTime"),
    ("s3_bucket", "s3Bucket"),
    ("s3_prefix", "s3Prefix"),
    ("s3_sse_algorithm", "s3SseAlgorithm"),
    ("s3_sse_kms_key_id", "s3SseKmsKeyId"),
    ("manifest_files_s3_key", "manifestFilesS3Key"),
    ("billed_size_bytes", "billedSizeBytes"),
    ("item_count", "itemCount"),
    ("output_format", "outputFormat"),
    ("export_type", "exportType"),
)
# Present only in incremental exports.
_INCREMENTAL_FIELDS = (
    ("export_from_time", "exportFromTime"),
    ("export_to_time", "exportToTime"),
    ("output_view", "outputView"),
)
# ddbmigrate's own: the MD5 of ddbmigrate-table.json beside the export (absent in AWS's
# exports and in those of ddbmigrate before it was added; see docs/adr/0015).
_DDBMIGRATE_FIELDS = (("table_file_md5", "ddbmigrateTableFileMd5Checksum"),)
_REQUIRED = ("manifestFilesS3Key", "itemCount")


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportSummary:
    """The fields of ``manifest-summary.json`` that ddbmigrate writes or reads."""

    manifest_files_s3_key: str
    """Key of manifest-files.json, written from the bucket root."""
    item_count: int
    """Items in the whole export."""
    export_arn: str = ""
    """``<table ARN>/export/<export id>``."""
    start_time: str = ""
    """When the export started, ``2026-01-01T00:00:00.000Z``."""
    end_time: str = ""
    """When the export finished."""
    export_time: str = ""
    """The point in time the data reflects."""
    table_arn: str = ""
    """ARN of the source table."""
    table_id: str = ""
    """TableId of the source table."""
    s3_bucket: str | None = None
    """Bucket the export was written to; None for a local directory."""
    s3_prefix: str | None = None
    """Prefix the export was written under."""
    s3_sse_algorithm: str | None = "AES256"
    """Server-side encryption of the objects."""
    s3_sse_kms_key_id: str | None = None
    """KMS key, when SSE-KMS was used."""
    billed_size_bytes: int = 0
    """Bytes AWS billed for (for our exports: bytes written)."""
    version: str = FULL_EXPORT_VERSION
    """Manifest version: 2020-06-30 (full) or 2023-08-01 (incremental)."""
    output_format: str = DYNAMODB_JSON
    """DYNAMODB_JSON or ION."""
    export_type: str = FULL_EXPORT
    """FULL_EXPORT or INCREMENTAL_EXPORT; a missing field means FULL_EXPORT."""
    export_from_time: str | None = None
    """Incremental exports only: start of the window."""
    export_to_time: str | None = None
    """Incremental exports only: end of the window."""
    output_view: str | None = None
    """Incremental exports only: NEW_IMAGE or NEW_AND_OLD_IMAGES."""
    table_file_md5: str | None = None
    """ddbmigrate's exports only: base64 MD5 of ddbmigrate-table.json, so an edit of the
    table description is caught like an edit of a data file."""

    def to_json(self) -> bytes:
        """The bytes of manifest-summary.json, AWS's field names in AWS's order."""
        record = {aws: getattr(self, ours) for ours, aws in _SUMMARY_FIELDS}
        for ours, aws in _INCREMENTAL_FIELDS + _DDBMIGRATE_FIELDS:
            if getattr(self, ours) is not None:
                record[aws] = getattr(self, ours)
        return orjson.dumps(record)

    @classmethod
    def from_json(cls, data: bytes) -> ExportSummary:
        """Parse manifest-summary.json; unknown fields are ignored, missing ones take defaults."""
        record = _load_object(data, MANIFEST_SUMMARY)
        missing = [name for name in _REQUIRED if record.get(name) is None]
        if missing:
            raise CorruptDataError(f"{MANIFEST_SUMMARY} has no {', '.join(missing)}")
        values = {
            ours: record[aws]
            for ours, aws in _SUMMARY_FIELDS + _INCREMENTAL_FIELDS + _DDBMIGRATE_FIELDS
            if record.get(aws) is not None
        }
        try:
            values["item_count"] = int(values["item_count"])
            values["billed_size_bytes"] = int(values.get("billed_size_bytes", 0))
        except (TypeError, ValueError) as exc:
            raise CorruptDataError(f"{MANIFEST_SUMMARY}: itemCount is not a number") from exc
        return cls(**values)

    @property
    def is_incremental(self) -> bool:
        """True for an incremental export (records with Keys/NewImage/OldImage)."""
        return self.export_type == INCREMENTAL_EXPORT


def manifest_summary(summary: ExportSummary) -> bytes:
    """The bytes of manifest-summary.json (same as ``summary.to_json()``)."""
    return summary.to_json()


def _load_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(f"{name} is not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise CorruptDataError(f"{name} is not a JSON object")
    return record


# --- manifest-files.json ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ManifestEntry:
    """One line of manifest-files.json: a data file and what it should hold."""

    data_file_s3_key: str
    """Key of the data file as written (usually from the bucket root); see resolve_data_key."""
    item_count: int
    """Items in the file."""
    md5_checksum: str | None = None
    """Base64 MD5 of the stored bytes; None when the manifest has none."""
    etag: str | None = None
    """The S3 ETag at export time (informational)."""


def manifest_files_line(part: PartInfo, *, data_key_prefix: str) -> bytes:
    """One manifest-files.json line for ``part``; its key is written as ``prefix/part.key``."""
    key = f"{data_key_prefix.rstrip('/')}/{part.key}" if data_key_prefix else part.key
    record = {
        "itemCount": part.item_count,
        "md5Checksum": part.md5_b64,
        # S3's ETag of a single PUT is the hex MD5 of the bytes; that is how we upload parts.
        "etag": base64.b64decode(part.md5_b64).hex(),
        "dataFileS3Key": key,
    }
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def manifest_files(parts: list[PartInfo], *, data_key_prefix: str) -> bytes:
    """The bytes of manifest-files.json: one JSON line per part, in the given order."""
    return b"".join(manifest_files_line(p, data_key_prefix=data_key_prefix) for p in parts)


def parse_manifest_files(data: bytes) -> list[ManifestEntry]:
    """Parse manifest-files.json (JSON Lines; blank lines skipped; ``etag`` optional)."""
    entries = []
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            entries.append(_manifest_entry(line, number))
    return entries


def _manifest_entry(line: bytes, number: int) -> ManifestEntry:
    where = f"{MANIFEST_FILES} line {number}"
    record = _load_object(line, where)
    key, count = record.get("dataFileS3Key"), record.get("itemCount")
    if not isinstance(key, str) or not key:
        raise CorruptDataError(f"{where} has no dataFileS3Key")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise CorruptDataError(f"{where} has no valid itemCount")
    md5, etag = record.get("md5Checksum"), record.get("etag")
    return ManifestEntry(
        data_file_s3_key=key,
        item_count=count,
        md5_checksum=md5 if isinstance(md5, str) and md5 else None,
        etag=etag if isinstance(etag, str) else None,
    )


def resolve_data_key(data_file_s3_key: str, *, export_dir: str) -> str:
    """Map a manifest's ``dataFileS3Key`` to a key relative to the export folder.

    AWS writes the key from the bucket root (``migrations/AWSDynamoDB/<id>/data/x.json.gz``),
    sometimes without the prefix, and an export copied elsewhere keeps its old keys. So: the
    part after ``export_dir/`` when the key starts with it; else the part after the last
    ``AWSDynamoDB/<id>/``; else from the first ``data/`` folder; else the key itself.
    A key that climbs out of the folder (``..``) is refused.
    """
    key = data_file_s3_key.lstrip("/")
    folder = export_dir.strip("/")
    if folder and key.startswith(folder + "/"):
        relative = key[len(folder) + 1 :]
    else:
        relative = _after_export_folder(key.split("/"))
    if ".." in relative.split("/"):
        raise CorruptDataError(f"{MANIFEST_FILES} lists a data file outside the export folder")
    return relative


def _after_export_folder(parts: list[str]) -> str:
    for index in range(len(parts) - 3, -1, -1):
        if parts[index] == EXPORTS_DIR:
            return "/".join(parts[index + 2 :])
    if DATA_DIR in parts[:-1]:
        return "/".join(parts[parts.index(DATA_DIR) :])
    return "/".join(parts)
