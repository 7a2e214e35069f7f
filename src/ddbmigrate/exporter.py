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

from ddbmigrate.checkpoint import Ledger, SegmentState
from ddbmigrate.engines.base import (
    Cancelled,
    Engine,
    Shared,
    ThreadEngine,
    gated_processes,
    requests_per_worker,
)
from ddbmigrate.formats import native
from ddbmigrate.formats.compression import Compression
from ddbmigrate.formats.detect import Format
from ddbmigrate.formats.layout import Layout, PartWriterLike
from ddbmigrate.inflight import InflightGate, Slot
from ddbmigrate.model import Item, PartInfo, Segment
from ddbmigrate.pages import PageSizer
from ddbmigrate.ports import (
    Budget,
    Clock,
    NullObserver,
    Observer,
    ScanPage,
    Store,
    TableReader,
    TableSchema,
    Unlimited,
)
from ddbmigrate.retry import RetryPolicy, check_deadline, metered

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
    part_max_bytes: int = 256 * 1024 * 1024
    """Compressed bytes per data file at most (checked after each page). Parts stream to the
    store as they are written, so this bounds file size, not memory: an import holds one
    file per unit in flight (in memory or a spooled temporary file)."""
    consistent_read: bool = False
    """Strongly consistent Scan (costs twice the RCU)."""
    page_limit: int | None = None
    """Largest Scan Limit per page; None: as many items as one second of the segment's share
    of the budget pays for (``ddbmigrate.pages``), up to DynamoDB's 1 MB."""
    format: Format = "native-json"
    """native-json, native-ion (both in the native export layout) or datapipeline."""
    compression: Compression = "gzip"
    """gzip, zstd or none."""
    compression_level: int | None = None
    """Level of the compressor; None picks a fast one (gzip 1, zstd 3)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retry policy of each Scan page and each upload."""
    deadline: float | None = None
    """``clock.monotonic()`` after which the step stops with StepTimeoutError (resumable)."""


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
    items_before: int = 0
    """Items of ``item_count`` an earlier process exported before it stopped (a resume): the
    rate of this process counts the others only."""

    def to_dict(self) -> dict[str, object]:
        return {
            "export_id": self.export_id,
            "url": self.url,
            "items": self.item_count,
            "parts": len(self.parts),
            "bytes": self.bytes_written,
            "seconds": round(self.seconds, 3),
            "items_before": self.items_before,
        }


@dataclass(slots=True)
class _SegmentJob:
    """Scans one segment into parts; records progress after every part when a ledger is on."""

    reader: TableReader
    store: Store
    layout: Layout
    options: ExportOptions
    clock: Clock
    observer: Observer
    budget: Budget
    ledger: Ledger | None
    resumed: dict[int, SegmentState]
    gate: InflightGate
    """Slots for Scan requests: a segment's pages are sequential, so more requests in
    flight means more segments scanned at once (up to the engine's threads)."""
    processes: int | None
    """Processes with a gate like this one (``gated_processes``): pages share the budget."""

    def run(self, segment: Segment, stop: threading.Event) -> list[PartInfo]:
        state = self.resumed.get(segment.index) or SegmentState(segment.index, segment.total)
        # Parts but no key to continue from: the segment reached its end (done is written
        # with the last part, but a ledger from before that change may lack it).
        if state.done or (state.parts and state.last_key is None):
            return state.parts
        self.observer.advanced(STEP, state.items)
        rng = random.Random()
        writer = self._new_writer(state)
        start_key = state.last_key
        sizer = PageSizer(
            segment.total, consistent=self.options.consistent_read, ceiling=self.options.page_limit
        )
        try:
            while True:
                if stop.is_set():
                    raise Cancelled
                check_deadline(self.options.deadline, self.clock, STEP)
                with self.gate.holding() as slot:
                    page = self._page(segment, start_key, sizer, rng, slot)
                    sizer.observe(len(page.items), page.consumed)
                    writer.add_many(page.items)
                self.observer.advanced(STEP, len(page.items))
                start_key = page.last_key
                if start_key is None:
                    break
                # Parts close at page boundaries, so the recorded LastEvaluatedKey is exact.
                if self._full(writer):
                    self._flush(writer, state, start_key)
                    writer = self._new_writer(state)
        except BaseException:
            writer.abort()  # no half part left behind (a temp file, an open upload)
            raise
        if writer.item_count:
            # The last part and "done" go in one record: a crash between two records would
            # look like a segment never started, and it would be exported twice.
            self._flush(writer, state, None, done=True)
        else:
            writer.abort()
            state.done = True
            state.last_key = None
            self._record(state)
        return state.parts

    def _page(
        self,
        segment: Segment,
        start_key: Item | None,
        sizer: PageSizer,
        rng: random.Random,
        slot: Slot,
    ) -> ScanPage:
        # Sized before each page, so a budget backing off after throttling asks for smaller
        # pages, and one growing back for larger ones.
        plan = sizer.plan(self.budget, self.gate.readers(self.processes))
        return metered(
            lambda: self.reader.scan(
                segment=segment,
                start_key=start_key,
                limit=plan.limit,
                consistent=self.options.consistent_read,
            ),
            budget=self.budget,
            expected=plan.expected,
            consumed=lambda p: p.consumed,
            policy=self.options.retry,
            clock=self.clock,
            rng=rng,
            gate=slot,
        )

    def _full(self, writer: PartWriterLike) -> bool:
        return (
            writer.item_count >= self.options.part_max_items
            or writer.size >= self.options.part_max_bytes
        )

    def _new_writer(self, state: SegmentState) -> PartWriterLike:
        # Part names follow from segment and part number, so a resumed segment rewrites
        # its unfinished part under the same name.
        return self.layout.new_writer(
            self.store, self.layout.part_key(state.index, len(state.parts))
        )

    def _flush(
        self,
        writer: PartWriterLike,
        state: SegmentState,
        last_key: Item | None,
        *,
        done: bool = False,
    ) -> None:
        count, md5, size = writer.finish()
        key = self.layout.part_key(state.index, len(state.parts))
        state.parts.append(PartInfo(key=key, item_count=count, md5_b64=md5, size=size))
        state.last_key = last_key
        state.done = done
        self._record(state)

    def _record(self, state: SegmentState) -> None:
        if self.ledger is not None:
            self.ledger.save_segment(state)


def export_table(
    *,
    reader: TableReader,
    schema: TableSchema,
    store: Store,
    options: ExportOptions,
    clock: Clock,
    observer: Observer | None = None,
    budget: Budget | None = None,
    ledger: Ledger | None = None,
    export_id: str | None = None,
    engine: Engine | None = None,
) -> ExportResult:
    """Scan ``reader``'s table in parallel and write an export to ``store``.

    Segments run on ``engine`` (default: ``options.workers`` threads of this process).

    With a ledger, segments it records as done are not scanned again and unfinished ones
    continue from their last recorded key; ``export_id`` then names the export to continue.
    """
    observer = observer or NullObserver()
    started_iso = clock.now_iso()
    t0 = clock.monotonic()
    export_id = export_id or native.new_export_id(clock.now_ms())
    layout = Layout.for_format(
        options.format,
        compression=options.compression,
        level=options.compression_level,
        export_id=export_id,
        started_iso=started_iso,
    )
    resumed = ledger.segments() if ledger is not None else {}
    layout.start(store, schema)
    observer.step_started(STEP, total=_approx_items(schema))
    engine = engine or ThreadEngine(options.workers)
    gate = InflightGate(requests_per_worker(engine), clock=clock)
    budget = budget or Unlimited()
    job = _SegmentJob(
        *(reader, store, layout, options, clock, observer, budget, ledger, resumed),
        gate=gate,
        processes=gated_processes(engine),
    )
    segments = [Segment(i, options.segments) for i in range(options.segments)]
    shared = Shared(forward=(ledger,), notify=(observer,), budgets=(job.budget,))
    per_segment = engine.run(job.run, segments, shared=shared)
    parts = [p for seg_parts in per_segment for p in seg_parts]
    total = sum(p.item_count for p in parts)
    layout.finish(store, schema=schema, parts=parts, times=(started_iso, clock.now_iso()))
    observer.step_finished(STEP, summary=f"{total:,} items in {len(parts):,} parts")
    return ExportResult(
        export_id=export_id,
        export_dir=layout.folder,
        url=f"{store.root.rstrip('/')}/{layout.folder}",
        item_count=total,
        parts=parts,
        bytes_written=sum(p.size for p in parts),
        seconds=clock.monotonic() - t0,
        items_before=sum(state.items for state in resumed.values()),
    )


def _approx_items(schema: TableSchema) -> int | None:
    count = schema.description.get("ItemCount")
    return int(count) if count is not None else None
