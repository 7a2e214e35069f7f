"""Import: a native export's parts -> BatchWriteItem batches -> the destination table.

Every part is checked against manifest-files.json (MD5 of the stored bytes, item count) before
its items are trusted, and the total against manifest-summary.json. UnprocessedItems are sent
again with backoff until none are left: nothing is dropped.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from ddbmigrate.engines.local import Cancelled, run_units
from ddbmigrate.errors import (
    CorruptDataError,
    DestinationNotEmptyError,
    NotFoundError,
    RejectedItemError,
    TransientError,
)
from ddbmigrate.exporter import TABLE_FILE, parse_table_file
from ddbmigrate.formats import native
from ddbmigrate.items import item_size, key_bytes, key_of
from ddbmigrate.model import Item, KeySchema, Segment
from ddbmigrate.ports import (
    Clock,
    NullObserver,
    Observer,
    Store,
    TableReader,
    TableSchema,
    TableWriter,
    WriteRequest,
)
from ddbmigrate.retry import RetryPolicy, call_with_retry

STEP = "import"
MAX_BATCH_ITEMS = 25
# BatchWriteItem's 16 MB request limit, less room for the request envelope.
MAX_BATCH_BYTES = 16 * 1024 * 1024 - 64 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportOptions:
    """How to import one export."""

    workers: int = 4
    """Parts written at once."""
    into_existing: bool = False
    """Allow writing into a table that already holds items (items with the same key are
    replaced)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retry policy of each BatchWriteItem call and each download."""
    max_stalled_rounds: int = 40
    """Rounds in a row in which DynamoDB accepted none of a batch's unprocessed items before
    the run stops (with the part unfinished, never with items dropped)."""


@dataclass(frozen=True, slots=True)
class Export:
    """A complete export found in a store."""

    export_dir: str
    summary: native.ExportSummary
    entries: list[native.ManifestEntry]
    schema: TableSchema | None
    """From ddbmigrate-table.json, when the export was made by ddbmigrate."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import wrote."""

    export_dir: str
    item_count: int
    parts: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {"items": self.item_count, "parts": self.parts, "seconds": round(self.seconds, 3)}


def find_export(store: Store, export_id: str | None = None) -> str:
    """The export folder (relative to the store root) that SOURCE points at.

    ``SOURCE`` may be the export folder itself, or a prefix holding ``AWSDynamoDB/<id>/``
    folders: then the newest complete export, or ``export_id``.
    """
    if export_id is None and store.exists("manifest-summary.json"):
        return ""
    complete = sorted(
        key.split("/")[1]
        for key in store.list("AWSDynamoDB/")
        if key.count("/") == 2 and key.endswith("/manifest-summary.json")
    )
    if export_id is not None:
        if export_id not in complete:
            raise NotFoundError(
                f"no complete export {export_id!r} under {store.root}",
                hint="list the exports with: aws s3 ls <staging>/AWSDynamoDB/",
            )
        return f"AWSDynamoDB/{export_id}"
    if not complete:
        raise NotFoundError(
            f"no complete DynamoDB export under {store.root}",
            hint="point at an export folder (…/AWSDynamoDB/<id>/) or at the prefix above it; "
            "an export without manifest-summary.json did not finish",
        )
    return f"AWSDynamoDB/{complete[-1]}"


def load_export(store: Store, export_dir: str) -> Export:
    """Read and check an export's manifests (their .md5 side files too, when present)."""
    summary_bytes = _get_checked(store, _join(export_dir, "manifest-summary.json"))
    summary = native.ExportSummary.from_json(summary_bytes)
    files_bytes = _get_checked(store, _join(export_dir, "manifest-files.json"))
    entries = native.parse_manifest_files(files_bytes)
    listed = sum(e.item_count for e in entries)
    if listed != summary.item_count:
        raise CorruptDataError(
            f"export {store.root}/{export_dir}: manifest-files.json lists {listed} items "
            f"but manifest-summary.json says {summary.item_count}"
        )
    table_key = _join(export_dir, TABLE_FILE)
    schema = parse_table_file(store.get(table_key)) if store.exists(table_key) else None
    return Export(export_dir=export_dir, summary=summary, entries=entries, schema=schema)


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _get_checked(store: Store, key: str) -> bytes:
    data = store.get(key)
    for side in (key.removesuffix(".json") + ".md5", key.removesuffix(".json") + ".checksum"):
        if store.exists(side):
            expected = store.get(side).decode().strip()
            if expected != native.md5_b64(data):
                raise CorruptDataError(
                    f"{store.root}/{key} does not match its checksum file {side}",
                    hint="the export was damaged or changed after it was written",
                )
    return data


def ensure_empty(reader: TableReader, *, into_existing: bool, flag: str) -> None:
    """Refuse a destination that already holds items, unless the user said so."""
    if into_existing:
        return
    page = reader.scan(segment=Segment(0, 1), limit=1)
    if page.items:
        raise DestinationNotEmptyError(
            f"destination table {reader.table_name!r} already holds items",
            hint=f"pass {flag} to write into it anyway (items with the same key are replaced); "
            "a re-run after a stopped import is safe with it",
        )


@dataclass(slots=True)
class _PartJob:
    store: Store
    export: Export
    writer: TableWriter
    key: KeySchema
    options: ImportOptions
    clock: Clock
    observer: Observer

    def run(self, entry: native.ManifestEntry, stop: threading.Event) -> int:
        rng = random.Random()
        key = native.resolve_data_key(entry.data_file_s3_key, export_dir=self.export.export_dir)
        data = self.store.get(_join(self.export.export_dir, key))
        if entry.md5_checksum and native.md5_b64(data) != entry.md5_checksum:
            raise CorruptDataError(
                f"{self.store.root}/{_join(self.export.export_dir, key)}: MD5 does not match "
                "manifest-files.json",
                hint="the file was damaged or replaced after the export; export again",
            )
        batch = _Batch(self.key)
        written = 0
        for line_no, item in native.iter_part_lines(data, compressed=key.endswith(".gz")):
            if stop.is_set():
                raise Cancelled
            if not batch.fits(item):
                written += self._send(batch, rng, key)
                batch = _Batch(self.key)
            batch.add(item, line_no)
        if batch.requests:
            written += self._send(batch, rng, key)
        if written != entry.item_count:
            raise CorruptDataError(
                f"{self.store.root}/{_join(self.export.export_dir, key)} holds {written} items "
                f"but manifest-files.json says {entry.item_count}"
            )
        return written

    def _send(self, batch: _Batch, rng: random.Random, part: str) -> int:
        pending: list[WriteRequest] = batch.requests
        stalled = 0
        while pending:
            try:
                result = call_with_retry(
                    lambda p=pending: self.writer.batch_write(p),  # type: ignore[misc]
                    policy=self.options.retry,
                    clock=self.clock,
                    rng=rng,
                )
            except RejectedItemError as exc:
                raise RejectedItemError(
                    f"{self.writer.table_name!r} rejected an item from {part} "
                    f"lines {batch.first_line}-{batch.last_line}: {exc}",
                    hint=exc.hint,
                ) from exc
            stalled = stalled + 1 if len(result.unprocessed) == len(pending) else 0
            if stalled >= self.options.max_stalled_rounds:
                raise TransientError(
                    f"{self.writer.table_name!r} accepted none of {len(pending)} items for "
                    f"{stalled} rounds in a row; stopping with {part} unfinished",
                    hint="raise the table's write capacity or lower --write-percent, then re-run "
                    "with --into-existing",
                )
            if result.unprocessed:
                self.clock.sleep(self.options.retry.delay(stalled, rng))
            pending = result.unprocessed
        self.observer.advanced(STEP, len(batch.requests))
        return len(batch.requests)


@dataclass(slots=True)
class _Batch:
    """Up to 25 put requests, under 16 MB, with no key twice (DynamoDB refuses duplicates)."""

    key: KeySchema
    requests: list[WriteRequest] = field(default_factory=list)
    size: int = 0
    keys: set[bytes] = field(default_factory=set)
    first_line: int = 0
    last_line: int = 0

    def fits(self, item: Item) -> bool:
        if len(self.requests) >= MAX_BATCH_ITEMS:
            return False
        if self.size + item_size(item) > MAX_BATCH_BYTES:
            return False
        # A second write of the same key goes in the next batch, so the later one wins.
        return key_bytes(key_of(item, self.key)) not in self.keys

    def add(self, item: Item, line_no: int) -> None:
        if not self.requests:
            self.first_line = line_no
        self.last_line = line_no
        self.size += item_size(item)
        self.keys.add(key_bytes(key_of(item, self.key)))
        self.requests.append({"PutRequest": {"Item": item}})


def import_export(
    *,
    store: Store,
    export: Export,
    writer: TableWriter,
    key: KeySchema,
    options: ImportOptions,
    clock: Clock,
    observer: Observer | None = None,
) -> ImportResult:
    """Write every item of ``export`` to ``writer``'s table; check counts on the way."""
    observer = observer or NullObserver()
    t0 = clock.monotonic()
    observer.step_started(STEP, total=export.summary.item_count)
    job = _PartJob(store, export, writer, key, options, clock, observer)
    counts = run_units(job.run, export.entries, workers=options.workers)
    total = sum(counts)
    if total != export.summary.item_count:
        raise CorruptDataError(
            f"imported {total} items but manifest-summary.json says {export.summary.item_count}"
        )
    observer.step_finished(STEP, summary=f"{total} items from {len(counts)} parts")
    return ImportResult(
        export_dir=export.export_dir,
        item_count=total,
        parts=len(counts),
        seconds=clock.monotonic() - t0,
    )
