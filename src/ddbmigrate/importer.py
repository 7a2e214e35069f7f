"""Import: the files of a SourcePlan -> BatchWriteItem batches -> the destination table.

Every file is checked against what its manifest promises (MD5 of the stored bytes, item
count) before its items are trusted. A line that does not parse, an item the destination
would refuse (wrong key type) or does refuse, a damaged file: each becomes a reject with file,
line and reason in the run's rejects file; the run stops past ``max_rejects``. Unprocessed
items are sent again with backoff until none are left: nothing is dropped.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ddbmigrate import destination
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.destination import check_key
from ddbmigrate.engines.base import Cancelled, Engine, Shared, ThreadEngine, requests_per_worker
from ddbmigrate.errors import (
    CorruptDataError,
    NotFoundError,
    RejectedItemError,
    StepTimeoutError,
    ThrottledError,
    TransientError,
)
from ddbmigrate.formats import codecs, incremental, native
from ddbmigrate.formats.compression import Limits, decompressed_chunks, read_chunks
from ddbmigrate.formats.detect import SourceFile, SourcePlan
from ddbmigrate.inflight import InflightGate, Pipeline, RequestGate
from ddbmigrate.items import item_size, key_bytes, key_of
from ddbmigrate.model import Item, KeySchema
from ddbmigrate.ports import (
    Budget,
    Clock,
    NullObserver,
    Observer,
    Store,
    TableWriter,
    Unlimited,
    WriteRequest,
)
from ddbmigrate.retry import RetryPolicy, check_deadline, metered
from ddbmigrate.runs import Reject, RejectLog

STEP = "import"
ensure_empty = destination.ensure_empty  # callers of the import step find it here
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
    max_line_bytes: int = codecs.MAX_LINE_BYTES
    """A data file with a longer line is rejected whole (items are at most 400 KB)."""
    decompression: Limits = field(default_factory=Limits)
    """When a compressed data file is refused as a decompression bomb."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import wrote."""

    item_count: int
    """Items written (puts), or changes applied (puts and deletes) for incremental exports."""
    files: int
    seconds: float
    rejected: int = 0
    items_before: int = 0
    """Items of ``item_count`` an earlier process imported before it stopped (a resume)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "items": self.item_count,
            "files": self.files,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "items_before": self.items_before,
        }


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
    gate: InflightGate
    """BatchWriteItem calls in flight; a file's batches are sent together (Pipeline)."""
    units_per_byte: float = 0.0
    """Write units DynamoDB charged per byte of line in the last whole batch: the next
    batch's reservation, so the budget reserves what it will be charged (lines are longer
    than items, and ``ceil(KB)`` per item overshoots when items sit near a KB boundary)."""

    def write_all(self, entries: Iterator[_Line], stop: threading.Event) -> int:
        """Write every entry; returns once all their batches are written (or one failed).

        Batches go out together, up to the gate's limit; a batch holding a key that an
        earlier batch still in flight writes waits for it (Pipeline), so the later record
        of a key wins as it did when batches went one by one."""
        rng = random.Random()
        batch = _Batch(self.key)
        with Pipeline(self.gate, stop) as pipeline:
            for entry in entries:
                if stop.is_set():
                    raise Cancelled
                check_deadline(self.options.deadline, self.clock, STEP)
                if not batch.fits(entry):
                    pipeline.submit(batch.keys, functools.partial(self._send, batch, rng))
                    batch = _Batch(self.key)
                batch.add(entry)
            if batch.lines:
                pipeline.submit(batch.keys, functools.partial(self._send, batch, rng))
            return pipeline.finish()

    def _send(self, batch: _Batch, rng: random.Random) -> int:
        try:
            charged = self._send_requests([e.request for e in batch.lines], rng, self._units(batch))
            if charged:
                self.units_per_byte = charged / batch.size
        except RejectedItemError:
            return _Isolation(self, rng).run(batch.lines)
        except TransientError as exc:
            if len(batch.lines) == 1 or not _may_be_an_item(exc):
                raise
            return _Isolation(self, rng).run(batch.lines)
        self.observer.advanced(STEP, len(batch.lines))
        return len(batch.lines)

    def _units(self, batch: _Batch) -> float:
        if self.units_per_byte:
            return max(float(len(batch.lines)), self.units_per_byte * batch.size)
        return batch.write_units()

    def _send_requests(
        self, requests: list[WriteRequest], rng: random.Random, units: float | None = None
    ) -> float:
        return send_requests(
            self.writer,
            requests,
            budget=self.budget,
            options=self.options,
            clock=self.clock,
            rng=rng,
            units=units,
            gate=self.gate,
        )


def send_requests(
    writer: TableWriter,
    requests: list[WriteRequest],
    *,
    budget: Budget,
    options: ImportOptions,
    clock: Clock,
    rng: random.Random,
    units: float | None = None,
    gate: RequestGate | None = None,
) -> float:
    """Send one batch until DynamoDB applied every request, under ``budget`` with the retry
    policy and stall guard of ``options``; return what the first call was charged when it
    took the whole batch (else 0). A refused item raises RejectedItemError. Import and the
    live replay (``ddbmigrate.live``) both write through here; ``gate``: the slots of
    requests in flight each attempt takes (``ddbmigrate.inflight``)."""
    pending = requests
    stalled = 0
    charged = 0.0
    while pending:
        result = metered(
            lambda p=pending: writer.batch_write(p),  # type: ignore[misc]
            budget=budget,
            expected=_write_units(pending) if units is None else units,
            consumed=lambda r: r.consumed,
            policy=options.retry,
            clock=clock,
            rng=rng,
            gate=gate,
        )
        stalled = stalled + 1 if len(result.unprocessed) == len(pending) else 0
        if stalled >= options.max_stalled_rounds:
            raise _StalledError(
                f"{writer.table_name!r} accepted none of {len(pending)} items for "
                f"{stalled} rounds in a row; stopping before anything is lost",
                hint="raise the table's write capacity or lower --write-percent, then re-run",
            )
        if result.unprocessed:
            if stalled:  # DynamoDB took nothing: the table is at its limit, back off
                budget.on_throttled()
            clock.sleep(options.retry.delay(stalled, rng))
        if units is not None and not result.unprocessed:
            charged = result.consumed
        pending = result.unprocessed
        units = None
    return charged


SUSPECTS_IN_A_ROW = 3
"""Items in a row that fail alone before DynamoDB itself is checked: with a re-sent item
that went through alone, or, when none has, by taking the failure for DynamoDB's (the run
stops as transient). Bounds what an outage costs before it is called one."""


def _may_be_an_item(exc: TransientError) -> bool:
    """A server error (or a dropped connection) that one item's shape may cause; throttling,
    a stall and a timeout never are."""
    return not isinstance(exc, ThrottledError | StepTimeoutError | _StalledError)


class _StalledError(TransientError):
    """DynamoDB accepted none of a batch's unprocessed items for too many rounds."""


@dataclass(slots=True)
class _Isolation:
    """DynamoDB refuses a whole batch for one bad item and does not say which: the batch is
    re-sent one item at a time to find it.

    A refused item (ValidationException, SerializationException, an item that cannot be
    encoded) is a reject at once. An item that still draws a server error alone after every
    retry is a *suspect*: it becomes a reject only once DynamoDB is seen to work (another
    item of the batch went through alone, and a re-sent known-good item goes through after
    it). Otherwise the failure is DynamoDB's: the run stops as transient and nothing is
    rejected (see docs/adr/0018-untrusted-input.md).
    """

    sender: _Writer
    rng: random.Random
    written: int = 0
    known_good: _Line | None = None
    suspects: list[tuple[_Line, TransientError]] = field(default_factory=list)

    def run(self, lines: list[_Line]) -> int:
        in_a_row = 0
        for entry in lines:
            if self._try(entry):
                in_a_row = 0
                continue
            in_a_row += 1
            if in_a_row >= SUSPECTS_IN_A_ROW:
                self._confirm_dynamodb_works()
                in_a_row = 0
        if self.suspects:
            self._confirm_dynamodb_works()
        for entry, exc in self.suspects:
            reason = (
                "DynamoDB answered this item, sent alone, with an error after every retry "
                f"while the rest of its batch was written ({exc.message})"
            )
            self.sender.rejects.record(Reject(entry.file, entry.line, reason, entry.item))
        return self.written

    def _try(self, entry: _Line) -> bool:
        """Send one item; False when it is a suspect."""
        try:
            self.sender._send_requests([entry.request], self.rng)
        except RejectedItemError as exc:
            self.sender.rejects.record(Reject(entry.file, entry.line, str(exc), entry.item))
            return True
        except TransientError as exc:
            if not _may_be_an_item(exc):
                raise
            self.suspects.append((entry, exc))
            return False
        self.written += 1
        self.known_good = entry
        self.sender.observer.advanced(STEP, 1)
        return True

    def _confirm_dynamodb_works(self) -> None:
        """Raise the first suspect's error unless an item that went through alone goes
        through again (a put of what was just written: no change to the table)."""
        if self.known_good is None:
            raise self.suspects[0][1]
        self.sender._send_requests([self.known_good.request], self.rng)


@dataclass(slots=True)
class _FileReader:
    """Turns one source file into write requests, recording what cannot be written."""

    store: Store
    plan: SourcePlan
    key: KeySchema
    rejects: RejectLog
    options: ImportOptions = field(default_factory=ImportOptions)

    def payload(self, file: SourceFile) -> BinaryIO | None:
        """The file, open and proven intact, or None when the whole file was rejected.

        Proven intact means a whole first pass before anything is written: its MD5 when the
        manifest has one, decompressed to the end (a truncated gzip shows only there), no
        line over the cap, no decompression bomb, and as many records as the manifest says.
        Nothing of a damaged file is written; the caller closes it. Files are read in
        chunks, never held whole (see docs/adr/0018-untrusted-input.md)."""
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
        digest = hashlib.md5(usedforsecurity=False)
        chunks = _hashed(read_chunks(data), digest if file.md5 else None)
        damage, records = None, 0
        try:
            records = sum(1 for _ in self._stream(file, chunks))
        except CorruptDataError as exc:
            damage = str(exc)
        if file.md5:
            for _ in chunks:  # the rest of a damaged file, for its MD5
                pass
            actual = base64.b64encode(digest.digest()).decode("ascii")
            if actual != file.md5:  # said first: it explains any damage
                return (
                    f"MD5 {actual} does not match the manifest's {file.md5}; "
                    "the file was damaged or replaced"
                )
        counted = damage is None and not self.plan.incremental and file.item_count is not None
        if counted and records != file.item_count:
            damage = f"holds {records} records but its manifest says {file.item_count}"
        return damage

    def _stream(self, file: SourceFile, chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
        plain = decompressed_chunks(chunks, name=file.key, limits=self.options.decompression)
        return codecs.stream_lines(plain, self.plan.format, max_line=self.options.max_line_bytes)

    def lines(self, file: SourceFile, data: BinaryIO) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of the file's records, decompressed as they are read."""
        try:
            yield from self._stream(file, read_chunks(data))
        except CorruptDataError as exc:  # proven intact above, so only if the store lied
            self.rejects.record(Reject(file.key, 0, str(exc)))

    def _decoder(self, file: SourceFile) -> codecs.LineDecoder:
        """Lines of a native JSON file whose MD5 matched its manifest get only the cheap
        shape and depth check (the full item check is a third of the import's CPU): the MD5
        proves the file is the one listed, not that it is valid. What the cheap check lets
        through (a bad number text, bad base64) DynamoDB refuses, and that item alone
        becomes a reject."""
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
    reader = _FileReader(store, plan, key, rejects, options)
    engine = engine or ThreadEngine(options.workers)
    gate = InflightGate(requests_per_worker(engine), clock=clock)
    sender = _Writer(writer, key, options, clock, observer, rejects, budget or Unlimited(), gate)
    done = ledger.imported_files() if ledger and not plan.incremental else {}
    try:
        total = _write_files(plan, reader, _FileJob(reader, sender, ledger, done), engine)
    finally:
        gate.close()
    if plan.total_items is not None and not plan.incremental and rejects.count == 0:
        _check_total(total, plan.total_items)
    observer.step_finished(STEP, summary=f"{total:,} items from {len(plan.files):,} files")
    rejects.raise_if_any()
    return ImportResult(
        item_count=total,
        files=len(plan.files),
        seconds=clock.monotonic() - t0,
        items_before=sum(done.get(file.key, 0) for file in plan.files),
    )


def _write_files(plan: SourcePlan, reader: _FileReader, job: _FileJob, engine: Engine) -> int:
    sender, ledger = job.sender, job.ledger
    if plan.incremental:
        return _apply_changes(plan, reader, sender)
    shared = Shared(
        forward=(ledger, reader.rejects), notify=(sender.observer,), budgets=(sender.budget,)
    )
    return sum(engine.run(job.run, plan.files, shared=shared))


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
        with self.sender.gate.unit():
            return self._write(file, stop)

    def _write(self, file: SourceFile, stop: threading.Event) -> int:
        if stop.is_set():  # stopped while waiting for its turn
            raise Cancelled
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


def _hashed(chunks: Iterator[bytes], digest: Any) -> Iterator[bytes]:
    for chunk in chunks:
        if digest is not None:
            digest.update(chunk)
        yield chunk


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
            f"imported {total:,} items but manifest-summary.json says {expected:,}",
            hint="the export's files do not add up to its manifest; export again",
        )
