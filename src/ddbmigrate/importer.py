"""Import: the files of a SourcePlan -> BatchWriteItem batches -> the destination table.

Every file is checked against what its manifest promises (MD5 of the stored bytes, item
count) before its items are trusted. A line that does not parse, an item the destination
would refuse (wrong key type) or does refuse, a damaged file: each becomes a reject with file,
line and reason in the run's rejects file; the run stops past ``max_rejects``. Unprocessed
items are sent again with backoff until none are left: nothing is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ddbmigrate.checkpoint import Ledger
from ddbmigrate.engines.local import Cancelled, Engine, Shared, ThreadEngine
from ddbmigrate.errors import (
    CorruptDataError,
    DestinationNotEmptyError,
    NotFoundError,
    RejectedItemError,
    TransientError,
)
from ddbmigrate.formats import codecs, incremental, native
from ddbmigrate.formats.compression import decompressed_chunks, read_chunks, verify
from ddbmigrate.formats.detect import SourceFile, SourcePlan
from ddbmigrate.items import item_size, key_bytes, key_of
from ddbmigrate.model import Item, KeySchema, Segment
from ddbmigrate.ports import (
    Budget,
    Clock,
    NullObserver,
    Observer,
    Store,
    TableReader,
    TableWriter,
    Unlimited,
    WriteRequest,
)
from ddbmigrate.retry import RetryPolicy, check_deadline, metered
from ddbmigrate.runs import Reject, RejectLog

STEP = "import"
MAX_BATCH_ITEMS = 25
# BatchWriteItem's 16 MB request limit, less room for the request envelope.
MAX_BATCH_BYTES = 16 * 1024 * 1024 - 64 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportOptions:
    """How to import one source."""

    workers: int = 4
    """Files written at once."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retry policy of each BatchWriteItem call."""
    deadline: float | None = None
    """``clock.monotonic()`` after which the step stops with StepTimeoutError (resumable)."""
    max_stalled_rounds: int = 40
    """Rounds in a row in which DynamoDB accepted none of a batch's unprocessed items before
    the run stops (with the file unfinished, never with items dropped)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import wrote."""

    item_count: int
    """Items written (puts), or changes applied (puts and deletes) for incremental exports."""
    files: int
    seconds: float
    rejected: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "items": self.item_count,
            "files": self.files,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
        }


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


def check_key(item: Item, key: KeySchema) -> str | None:
    """Why the destination would refuse this item's key, or None when it is fine."""
    for attr in (key.partition, key.sort):
        if attr is None:
            continue
        value = item.get(attr.name)
        if not isinstance(value, dict) or attr.type not in value:
            found = "missing" if value is None else f"of type {next(iter(value), '?')}"
            return f"key attribute {attr.name!r} is {found}; the table needs {attr.type}"
        if value[attr.type] == "":
            return f"key attribute {attr.name!r} is empty; DynamoDB refuses empty keys"
    return None


@dataclass(slots=True)
class _Line:
    file: str
    line: int
    request: WriteRequest
    item: Item
    """The item (put) or key (delete), for rejects and batching."""
    size: int
    """At least DynamoDB's size of ``item``, computed once (batch limits, write units)."""
    key: bytes
    """Canonical bytes of the item's key: a batch must not hold a key twice."""


@dataclass(slots=True)
class _Batch:
    """Up to 25 requests, under 16 MB, with no key twice (DynamoDB refuses duplicates)."""

    key: KeySchema
    lines: list[_Line] = field(default_factory=list)
    size: int = 0
    keys: set[bytes] = field(default_factory=set)

    def fits(self, entry: _Line) -> bool:
        if len(self.lines) >= MAX_BATCH_ITEMS:
            return False
        if self.size + entry.size > MAX_BATCH_BYTES:
            return False
        # A second write of the same key goes in the next batch, so the later one wins.
        return entry.key not in self.keys

    def add(self, entry: _Line) -> None:
        self.lines.append(entry)
        self.size += entry.size
        self.keys.add(entry.key)

    def write_units(self) -> float:
        """WCU the batch will consume: 1 per started KB of each item (a delete costs 1)."""
        return float(
            sum(-(-e.size // 1024) if "PutRequest" in e.request else 1 for e in self.lines)
        )


@dataclass(slots=True)
class _Writer:
    """Sends batches: retries per call, resends unprocessed items, isolates refused items."""

    writer: TableWriter
    key: KeySchema
    options: ImportOptions
    clock: Clock
    observer: Observer
    rejects: RejectLog
    budget: Budget
    units_per_byte: float = 0.0
    """Write units DynamoDB charged per byte of line in the last whole batch: the next
    batch's reservation, so the budget reserves what it will be charged (lines are longer
    than items, and ``ceil(KB)`` per item overshoots when items sit near a KB boundary)."""

    def write_all(self, entries: Iterator[_Line], stop: threading.Event) -> int:
        rng = random.Random()
        batch = _Batch(self.key)
        written = 0
        for entry in entries:
            if stop.is_set():
                raise Cancelled
            check_deadline(self.options.deadline, self.clock, STEP)
            if not batch.fits(entry):
                written += self._send(batch, rng)
                batch = _Batch(self.key)
            batch.add(entry)
        if batch.lines:
            written += self._send(batch, rng)
        return written

    def _send(self, batch: _Batch, rng: random.Random) -> int:
        try:
            charged = self._send_requests([e.request for e in batch.lines], rng, self._units(batch))
            if charged:
                self.units_per_byte = charged / batch.size
        except RejectedItemError:
            return self._send_one_by_one(batch, rng)
        self.observer.advanced(STEP, len(batch.lines))
        return len(batch.lines)

    def _send_one_by_one(self, batch: _Batch, rng: random.Random) -> int:
        """DynamoDB refuses a whole batch for one bad item and does not say which: find it."""
        written = 0
        for entry in batch.lines:
            try:
                self._send_requests([entry.request], rng)
            except RejectedItemError as exc:
                self.rejects.record(Reject(entry.file, entry.line, str(exc), entry.item))
                continue
            written += 1
            self.observer.advanced(STEP, 1)
        return written

    def _units(self, batch: _Batch) -> float:
        if self.units_per_byte:
            return max(float(len(batch.lines)), self.units_per_byte * batch.size)
        return batch.write_units()

    def _send_requests(
        self, requests: list[WriteRequest], rng: random.Random, units: float | None = None
    ) -> float:
        """Send until nothing is left; return what the first call was charged when it took
        the whole batch (else 0)."""
        pending = requests
        stalled = 0
        charged = 0.0
        while pending:
            result = metered(
                lambda p=pending: self.writer.batch_write(p),  # type: ignore[misc]
                budget=self.budget,
                expected=_write_units(pending) if units is None else units,
                consumed=lambda r: r.consumed,
                policy=self.options.retry,
                clock=self.clock,
                rng=rng,
            )
            stalled = stalled + 1 if len(result.unprocessed) == len(pending) else 0
            if stalled >= self.options.max_stalled_rounds:
                raise TransientError(
                    f"{self.writer.table_name!r} accepted none of {len(pending)} items for "
                    f"{stalled} rounds in a row; stopping before anything is lost",
                    hint="raise the table's write capacity or lower --write-percent, then re-run",
                )
            if result.unprocessed:
                if stalled:  # DynamoDB took nothing: the table is at its limit, back off
                    self.budget.on_throttled()
                self.clock.sleep(self.options.retry.delay(stalled, rng))
            if units is not None and not result.unprocessed:
                charged = result.consumed
            pending = result.unprocessed
            units = None
        return charged


@dataclass(slots=True)
class _FileReader:
    """Turns one source file into write requests, recording what cannot be written."""

    store: Store
    plan: SourcePlan
    key: KeySchema
    rejects: RejectLog

    def payload(self, file: SourceFile) -> BinaryIO | None:
        """The file, open and proven intact (its MD5, or else a full decompression pass),
        or None when the whole file was rejected. Nothing of a damaged file is written; the
        caller closes it. Files are read in chunks, never held whole."""
        try:
            data = self.store.open_read(file.key)
        except NotFoundError as exc:
            self.rejects.record(Reject(file.key, 0, f"file is missing: {exc}"))
            return None
        try:
            problem = self._problem(file, data)
        except BaseException:
            data.close()
            raise
        if problem is not None:
            data.close()
            self.rejects.record(Reject(file.key, 0, problem))
            return None
        data.seek(0)
        return data

    def _problem(self, file: SourceFile, data: BinaryIO) -> str | None:
        if file.md5:
            digest = hashlib.md5(usedforsecurity=False)
            for chunk in read_chunks(data):
                digest.update(chunk)
            actual = base64.b64encode(digest.digest()).decode("ascii")
            if actual != file.md5:
                return (
                    f"MD5 {actual} does not match the manifest's {file.md5}; "
                    "the file was damaged or replaced"
                )
            return None
        try:
            verify(read_chunks(data), name=file.key)
        except CorruptDataError as exc:
            return str(exc)
        return None

    def lines(self, file: SourceFile, data: BinaryIO) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of the file's records, decompressed as they are read."""
        chunks = decompressed_chunks(read_chunks(data), name=file.key)
        try:
            yield from codecs.stream_lines(chunks, self.plan.format)
        except CorruptDataError as exc:  # proven intact above, so only if the store lied
            self.rejects.record(Reject(file.key, 0, str(exc)))

    def _decoder(self, file: SourceFile) -> codecs.LineDecoder:
        """Lines of a native JSON file whose MD5 matched its manifest are exactly what
        DynamoDB's Scan returned, so they skip the item check (a third of the import's CPU);
        DynamoDB itself still refuses a bad item, which then becomes a reject as usual."""
        if self.plan.format == "native-json" and file.md5:
            return native.decode_trusted_line
        return codecs.line_decoder(self.plan.format)

    def items(self, file: SourceFile, data: BinaryIO, seen: list[int]) -> Iterator[_Line]:
        """Put requests for every good line; a reject for every bad one. ``seen[0]`` counts
        the records read, good or bad, to check against the manifest."""
        decode = self._decoder(file)
        for number, line in self.lines(file, data):
            seen[0] += 1
            try:
                item = decode(line)
            except CorruptDataError as exc:
                self.rejects.record(Reject(file.key, number, str(exc)))
                continue
            problem = check_key(item, self.key)
            if problem:
                self.rejects.record(Reject(file.key, number, problem, item))
                continue
            # The line's length bounds the item's size from above (JSON adds type keys and
            # quotes; base64 is longer than the bytes) and costs nothing to know.
            request = {"PutRequest": {"Item": item}}
            yield _Line(
                file.key, number, request, item, len(line), key_bytes(key_of(item, self.key))
            )

    def changes(self, file: SourceFile, data: BinaryIO) -> Iterator[tuple[int, incremental.Change]]:
        """Incremental records of one file; bad ones become rejects."""
        decode = codecs.change_decoder(self.plan.format)
        for number, line in self.lines(file, data):
            try:
                change = decode(line)
            except CorruptDataError as exc:
                self.rejects.record(Reject(file.key, number, str(exc)))
                continue
            problem = check_key(change.key, self.key)
            if problem:
                self.rejects.record(Reject(file.key, number, problem, change.key))
                continue
            yield number, change


def import_source(
    *,
    store: Store,
    plan: SourcePlan,
    writer: TableWriter,
    key: KeySchema,
    options: ImportOptions,
    rejects: RejectLog,
    clock: Clock,
    observer: Observer | None = None,
    budget: Budget | None = None,
    ledger: Ledger | None = None,
    engine: Engine | None = None,
) -> ImportResult:
    """Write every item of ``plan`` to ``writer``'s table; check counts on the way.

    Files run on ``engine`` (default: ``options.workers`` threads of this process).

    With a ledger, files it records as imported are not read again, and every file is
    recorded once all its items are written.
    """
    observer = observer or NullObserver()
    t0 = clock.monotonic()
    observer.step_started(STEP, total=plan.total_items)
    reader = _FileReader(store, plan, key, rejects)
    sender = _Writer(writer, key, options, clock, observer, rejects, budget or Unlimited())
    if plan.incremental:
        total = _apply_changes(plan, reader, sender)
    else:
        job = _FileJob(reader, sender, ledger, ledger.imported_files() if ledger else {})
        engine = engine or ThreadEngine(options.workers)
        shared = Shared(forward=(ledger, rejects), notify=(observer,), budgets=(sender.budget,))
        total = sum(engine.run(job.run, plan.files, shared=shared))
    if plan.total_items is not None and not plan.incremental and rejects.count == 0:
        _check_total(total, plan.total_items)
    observer.step_finished(STEP, summary=f"{total} items from {len(plan.files)} files")
    rejects.raise_if_any()
    return ImportResult(item_count=total, files=len(plan.files), seconds=clock.monotonic() - t0)


@dataclass(slots=True)
class _FileJob:
    reader: _FileReader
    sender: _Writer
    ledger: Ledger | None
    done: dict[str, int]

    def run(self, file: SourceFile, stop: threading.Event) -> int:
        if file.key in self.done:
            self.sender.observer.advanced(STEP, self.done[file.key])
            return self.done[file.key]
        data = self.reader.payload(file)
        if data is None:
            return 0
        seen = [0]
        with data:
            written = self.sender.write_all(self.reader.items(file, data, seen), stop)
        if file.item_count is not None and seen[0] != file.item_count:
            self.reader.rejects.record(
                Reject(
                    file.key, 0, f"holds {seen[0]} records but its manifest says {file.item_count}"
                )
            )
        if self.ledger is not None:
            self.ledger.save_imported(file.key, written)
        return written


def _apply_changes(plan: SourcePlan, reader: _FileReader, sender: _Writer) -> int:
    """Incremental exports: the newest change per key across all files, then puts/deletes."""
    changes: list[tuple[int, str, incremental.Change]] = []
    for file in plan.files:
        data = reader.payload(file)
        if data is not None:
            with data:
                changes += [(n, file.key, c) for n, c in reader.changes(file, data)]
    newest = incremental.newest_per_key([c for _, _, c in changes])
    # newest_per_key returns the very objects it was given: find where each came from.
    where = {id(c): (f, n) for n, f, c in changes}
    entries = (
        _line(*where[id(c)], incremental.to_write_request(c), c.new_image or c.key, sender.key)
        for c in newest
    )
    return sender.write_all(entries, threading.Event())


def _line(file: str, number: int, request: WriteRequest, item: Item, key: KeySchema) -> _Line:
    return _Line(file, number, request, item, item_size(item), key_bytes(key_of(item, key)))


def _write_units(requests: list[WriteRequest]) -> float:
    """WCU a batch will consume: 1 per started KB of each item (a delete costs 1)."""
    units = 0
    for request in requests:
        put = request.get("PutRequest")
        units += -(-item_size(put["Item"]) // 1024) if put else 1
    return float(units)


def _check_total(total: int, expected: int) -> None:
    if total != expected:
        raise CorruptDataError(
            f"imported {total} items but manifest-summary.json says {expected}",
            hint="the export's files do not add up to its manifest; export again",
        )
