"""Export: parallel Scan segments -> gzip DYNAMODB_JSON parts -> the native export layout.

Layout written below the store root (FORMATS.md §1)::

    AWSDynamoDB/<export-id>/_started
    AWSDynamoDB/<export-id>/ddbmigrate-table.json       the source's schema (ours)
    AWSDynamoDB/<export-id>/data/<segment>-<part>.json.gz
    AWSDynamoDB/<export-id>/manifest-files.json (+ .md5)
    AWSDynamoDB/<export-id>/manifest-summary.json (+ .md5)   written last: marks completion

An export without manifest-summary.json is incomplete; readers ignore it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import orjson

from ddbmigrate.engines.local import Cancelled, run_units
from ddbmigrate.formats import native
from ddbmigrate.model import Item, PartInfo, Segment
from ddbmigrate.ports import Clock, NullObserver, Observer, Store, TableReader, TableSchema
from ddbmigrate.retry import RetryPolicy, call_with_retry

TABLE_FILE = "ddbmigrate-table.json"
STEP = "export"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportOptions:
    """How to export one table."""

    segments: int
    """Parallel Scan segments (TotalSegments)."""
    workers: int = 4
    """Segments scanned at once."""
    part_max_items: int = 100_000
    """Items per data file at most; a segment starts a new part after this many."""
    consistent_read: bool = False
    """Strongly consistent Scan (costs twice the RCU)."""
    page_limit: int | None = None
    """Scan Limit per page; None lets DynamoDB fill 1 MB pages."""
    compression_level: int = native.DEFAULT_GZIP_LEVEL
    """gzip level of the data files."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retry policy of each Scan page and each upload."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    export_id: str
    export_dir: str
    """Folder of the export relative to the store root (``AWSDynamoDB/<id>``)."""
    url: str
    item_count: int
    parts: list[PartInfo]
    bytes_written: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "export_id": self.export_id,
            "url": self.url,
            "items": self.item_count,
            "parts": len(self.parts),
            "bytes": self.bytes_written,
            "seconds": round(self.seconds, 3),
        }


def table_file_bytes(schema: TableSchema) -> bytes:
    """``ddbmigrate-table.json``: the source description and what DescribeTable omits."""
    body = {
        "version": 1,
        "Table": schema.description,
        "TimeToLive": {"AttributeName": schema.ttl_attribute} if schema.ttl_attribute else None,
        "Tags": schema.tags,
        "PointInTimeRecoveryEnabled": schema.pitr_enabled,
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def parse_table_file(data: bytes) -> TableSchema:
    """Inverse of :func:`table_file_bytes`."""
    body = orjson.loads(data)
    ttl = body.get("TimeToLive") or {}
    return TableSchema(
        description=body["Table"],
        ttl_attribute=ttl.get("AttributeName"),
        tags=list(body.get("Tags") or []),
        pitr_enabled=bool(body.get("PointInTimeRecoveryEnabled")),
    )


@dataclass(slots=True)
class _SegmentJob:
    reader: TableReader
    store: Store
    export_dir: str
    options: ExportOptions
    clock: Clock
    observer: Observer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, segment: Segment, stop: threading.Event) -> list[PartInfo]:
        rng = random.Random()
        parts: list[PartInfo] = []
        writer = native.PartWriter(level=self.options.compression_level)
        start_key: Item | None = None
        while True:
            if stop.is_set():
                raise Cancelled
            page = call_with_retry(
                lambda key=start_key: self.reader.scan(  # type: ignore[misc]
                    segment=segment,
                    start_key=key,
                    limit=self.options.page_limit,
                    consistent=self.options.consistent_read,
                ),
                policy=self.options.retry,
                clock=self.clock,
                rng=rng,
            )
            for item in page.items:
                writer.add(item)
                if writer.item_count >= self.options.part_max_items:
                    parts.append(self._flush(writer, segment, len(parts)))
                    writer = native.PartWriter(level=self.options.compression_level)
            self.observer.advanced(STEP, len(page.items))
            start_key = page.last_key
            if start_key is None:
                break
        if writer.item_count:
            parts.append(self._flush(writer, segment, len(parts)))
        return parts

    def _flush(self, writer: native.PartWriter, segment: Segment, number: int) -> PartInfo:
        data, count, md5 = writer.finish()
        key = f"data/{segment.index:06d}-{number:05d}.json.gz"
        self.store.put(f"{self.export_dir}/{key}", data)
        return PartInfo(key=key, item_count=count, md5_b64=md5, size=len(data))


def export_table(
    *,
    reader: TableReader,
    schema: TableSchema,
    store: Store,
    options: ExportOptions,
    clock: Clock,
    observer: Observer | None = None,
) -> ExportResult:
    """Scan ``reader``'s table in parallel and write a native export to ``store``."""
    observer = observer or NullObserver()
    started_ms = clock.now_ms()
    started_iso = clock.now_iso()
    t0 = clock.monotonic()
    export_id = native.new_export_id(started_ms)
    export_dir = f"AWSDynamoDB/{export_id}"
    store.put(f"{export_dir}/_started", b"")
    store.put(f"{export_dir}/{TABLE_FILE}", table_file_bytes(schema))
    observer.step_started(STEP, total=_approx_items(schema))
    job = _SegmentJob(reader, store, export_dir, options, clock, observer)
    segments = [Segment(i, options.segments) for i in range(options.segments)]
    per_segment = run_units(job.run, segments, workers=options.workers)
    parts = [p for seg_parts in per_segment for p in seg_parts]
    total = sum(p.item_count for p in parts)
    _write_manifests(
        store=store,
        export_dir=export_dir,
        export_id=export_id,
        schema=schema,
        parts=parts,
        times=(started_iso, clock.now_iso()),
    )
    seconds = clock.monotonic() - t0
    observer.step_finished(STEP, summary=f"{total} items in {len(parts)} parts")
    return ExportResult(
        export_id=export_id,
        export_dir=export_dir,
        url=f"{store.root.rstrip('/')}/{export_dir}",
        item_count=total,
        parts=parts,
        bytes_written=sum(p.size for p in parts),
        seconds=seconds,
    )


def _approx_items(schema: TableSchema) -> int | None:
    count = schema.description.get("ItemCount")
    return int(count) if count is not None else None


def _write_manifests(
    *,
    store: Store,
    export_dir: str,
    export_id: str,
    schema: TableSchema,
    parts: list[PartInfo],
    times: tuple[str, str],
) -> None:
    files = native.manifest_files(parts, data_key_prefix=_key_prefix(store, export_dir))
    store.put(f"{export_dir}/manifest-files.json", files)
    store.put(f"{export_dir}/manifest-files.md5", native.md5_b64(files).encode())
    table_arn = str(schema.description.get("TableArn", ""))
    summary = native.ExportSummary(
        export_arn=f"{table_arn}/export/{export_id}",
        start_time=times[0],
        end_time=times[1],
        export_time=times[0],
        table_arn=table_arn,
        table_id=str(schema.description.get("TableId", "")),
        s3_bucket=_bucket(store),
        s3_prefix=_store_prefix(store),
        manifest_files_s3_key=f"{_key_prefix(store, export_dir)}/manifest-files.json",
        billed_size_bytes=sum(p.size for p in parts),
        item_count=sum(p.item_count for p in parts),
    )
    data = summary.to_json()
    store.put(f"{export_dir}/manifest-summary.md5", native.md5_b64(data).encode())
    store.put(f"{export_dir}/manifest-summary.json", data)


def _bucket(store: Store) -> str | None:
    root = store.root
    return root[5:].split("/", 1)[0] if root.startswith("s3://") else None


def _store_prefix(store: Store) -> str:
    root = store.root
    if root.startswith("s3://"):
        rest = root[5:].split("/", 1)
        return rest[1].strip("/") if len(rest) > 1 else ""
    return root


def _key_prefix(store: Store, export_dir: str) -> str:
    """Keys in manifests are written from the bucket root, as AWS writes them."""
    prefix = _store_prefix(store) if store.root.startswith("s3://") else ""
    return f"{prefix}/{export_dir}" if prefix else export_dir
