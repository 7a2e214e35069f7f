"""The error report of a bulk operation, read back into the run's rejects.

StartBulkPutItems writes the records it could not process below the output prefix the run
gave it (``ddbmigrate/runs/<run-id>/bulk/<unit>/report/``). The botocore model says what
the report holds (malformed input and items that fail validation, with the reason) but not
how its lines are spelled, so the reader takes JSON lines (gzip or plain) and looks for the
item, the reason, the source object and the line under the names listed below
(docs/adr/0034-bulk-put-items.md). Whatever it cannot match still becomes a reject: a run
that ended COMPLETED_WITH_ERRORS never exits 0, and its rejects count at least
``FailedItemCount``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import orjson

from ddbmigrate.bulk import BulkResult, report_folder
from ddbmigrate.formats.compression import GZIP_MAGIC, ZSTD_MAGIC, decompress
from ddbmigrate.ports import Store
from ddbmigrate.runs import Reject

ITEM_FIELDS = ("Item", "item", "InputRecord", "Record", "record")
REASON_FIELDS = ("ErrorMessage", "errorMessage", "Message", "message", "Reason", "reason")
CODE_FIELDS = ("ErrorCode", "errorCode", "ErrorType", "errorType")
OBJECT_FIELDS = ("S3Key", "s3Key", "ObjectKey", "objectKey", "InputObjectKey", "SourceObject")
LINE_FIELDS = ("LineNumber", "lineNumber", "Line", "line", "RecordNumber", "recordNumber")


class RejectSink(Protocol):
    """Where rejects go: ``runs.RejectLog`` (it enforces ``--max-rejects``)."""

    def record(self, reject: Reject) -> None: ...


def read_report(store: Store, *, run_id: str, unit: str) -> list[Reject]:
    """Every record of the unit's error report, as rejects (in object and line order)."""
    folder = report_folder(run_id, unit)
    found: list[Reject] = []
    for key in store.list(folder):
        found.extend(_rejects(key, store.get(key)))
    return found


def record_report(
    store: Store, sink: RejectSink, *, run_id: str, unit: str, result: BulkResult
) -> int:
    """Record the report's rejects (and one for failures it does not name); their count."""
    rejects = read_report(store, run_id=run_id, unit=unit)
    missing = max(result.failed, 1 if result.status == "COMPLETED_WITH_ERRORS" else 0)
    missing -= len(rejects)
    if missing > 0:
        rejects.append(_unnamed(result, missing, store.root, report_folder(run_id, unit)))
    for reject in rejects:
        sink.record(reject)
    return len(rejects)


def _unnamed(result: BulkResult, count: int, root: str, folder: str) -> Reject:
    return Reject(
        file=result.arn,
        line=0,
        reason=f"{result.status}: {count} item(s) failed that the error report in "
        f"{root.rstrip('/')}/{folder} does not name",
    )


def _rejects(key: str, data: bytes) -> Iterator[Reject]:
    if data.startswith((GZIP_MAGIC, ZSTD_MAGIC)):
        data = decompress(data, name=key)
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield _reject(key, number, line)


def _reject(key: str, number: int, line: bytes) -> Reject:
    try:
        body = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Reject(key, number, f"error report line: {line[:200]!r}")
    if not isinstance(body, dict):
        return Reject(key, number, f"error report line: {body!r}"[:300])
    item = _first(body, ITEM_FIELDS)
    return Reject(
        file=str(_first(body, OBJECT_FIELDS) or key),
        line=_line(body, number),
        reason=_reason(body),
        item=item if isinstance(item, dict) else None,
    )


def _reason(body: Mapping[str, Any]) -> str:
    code, message = _first(body, CODE_FIELDS), _first(body, REASON_FIELDS)
    text = ": ".join(str(p) for p in (code, message) if p)
    return text or f"error report record: {orjson.dumps(body).decode()[:300]}"


def _line(body: Mapping[str, Any], default: int) -> int:
    value = _first(body, LINE_FIELDS)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _first(body: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if body.get(name) is not None:
            return body[name]
    return None
