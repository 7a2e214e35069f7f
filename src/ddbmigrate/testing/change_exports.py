"""Incremental exports in memory: ``live.ports.ChangeExports`` over a ``FakeStreams`` history.

moto has no ExportTableToPointInTime INCREMENTAL_EXPORT. This writes what AWS writes for one
(FORMATS.md section 1): ``<slot>/AWSDynamoDB/<id>/`` with ``manifest-summary.json``
(``exportType`` INCREMENTAL_EXPORT), ``manifest-files.json`` and one gzip data file of
records ``{"Metadata":…,"Keys":…,"NewImage":…}`` (no NewImage: a delete), the newest change
per key made in the window, taken from the stream's whole history (trimmed records too, as
point-in-time recovery keeps them).
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field

import orjson

from ddbmigrate.errors import ExportFailedError, StreamTrimmedError
from ddbmigrate.formats import native
from ddbmigrate.items import key_bytes
from ddbmigrate.live.ports import ChangeRecord
from ddbmigrate.ports import Store
from ddbmigrate.testing.streams import FakeStreams

BRIDGE_DIR = "bridge"


@dataclass(slots=True)
class FakeChangeExports:
    """Exports of table ``table`` of ``streams`` into ``store``; PITR on since ``pitr_since``
    (epoch seconds), off when None. Exports finish at once."""

    streams: FakeStreams
    table: str
    store: Store
    pitr_since: float | None = 0.0
    started: list[tuple[float, float, str]] = field(default_factory=list)
    """``(start, end, slot)`` of every export started."""
    fail_wait: int = 0
    """The next ``wait_export`` calls that raise (a crash while an export runs)."""
    failed_exports: int = 0
    """The next exports started end FAILED (``wait_export`` raises ExportFailedError)."""
    _failed: set[str] = field(default_factory=set)
    _folders: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_history(self, since: float, gap: Exception) -> None:
        if self.pitr_since is None or self.pitr_since > since:
            raise StreamTrimmedError(f"{gap} (no point-in-time recovery since {since})")

    def start_export(self, start: float, end: float, *, slot: str) -> str:
        with self._lock:
            self.started.append((start, end, slot))
            export_id = f"{len(self.started):05d}-{slot}"
            folder = f"{BRIDGE_DIR}/{slot}/{native.EXPORTS_DIR}/{export_id}"
            self._write(folder, self._changes(start, end))
            self._folders[export_id] = folder
            if self.failed_exports > 0:
                self.failed_exports -= 1
                self._failed.add(export_id)
            return export_id

    def wait_export(self, export_id: str) -> str:
        with self._lock:
            if self.fail_wait > 0:
                self.fail_wait -= 1
                raise KeyboardInterrupt("killed while the export ran")
            if export_id in self._failed:
                raise ExportFailedError(f"export {export_id} is FAILED")
            return self._folders[export_id]

    def _changes(self, start: float, end: float) -> list[ChangeRecord]:
        newest: dict[bytes, ChangeRecord] = {}
        for record in self.streams.history(self.table):
            if start <= record.created < end:
                newest[key_bytes(record.keys)] = record
        return list(newest.values())

    def _write(self, folder: str, changes: list[ChangeRecord]) -> None:
        body = gzip.compress(b"".join(_line(c) for c in changes), mtime=0)
        data_key = f"{folder}/{native.DATA_DIR}/part-00000.json.gz"
        self.store.put(data_key, body)
        files = orjson.dumps(
            {
                "itemCount": len(changes),
                "md5Checksum": native.md5_b64(body),
                "dataFileS3Key": data_key,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        self.store.put(f"{folder}/{native.MANIFEST_FILES}", files)
        summary = native.ExportSummary(
            manifest_files_s3_key=f"{folder}/{native.MANIFEST_FILES}",
            item_count=len(changes),
            version="2023-08-01",
            export_type=native.INCREMENTAL_EXPORT,
            output_view="NEW_IMAGE",
        )
        self.store.put(f"{folder}/{native.MANIFEST_SUMMARY}", summary.to_json())


def _line(change: ChangeRecord) -> bytes:
    record: dict[str, object] = {
        "Metadata": {"WriteTimestampMicros": {"N": str(int(change.created * 1_000_000))}},
        "Keys": change.keys,
    }
    if change.event != "REMOVE" and change.new_image is not None:
        record["NewImage"] = change.new_image
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
