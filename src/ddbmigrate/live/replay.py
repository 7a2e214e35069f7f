"""The replay: every shard of the stream applied to the destination, in order, resumably.

One reader per shard (DynamoDB Streams allows two at once), at most ``workers`` shards at a
time, children only after their parent is read to its end (``ddbmigrate.live.lineage``).
The readers are threads of this process, or, with an ``engine`` (the Spark engine), one
unit of the engine per shard: the same reader, saving its checkpoints from the task, while
this process keeps the lineage and the passes (docs/adr/0050).
Each page of up to 1,000 records is written in batches (``ddbmigrate.live.apply``), then
the shard's checkpoint is saved: at-least-once, and a record applied twice changes nothing
(docs/adr/0031). An iterator that expired (15 minutes) is opened again after the
checkpoint; records trimmed before they were applied stop the replay with
StreamTrimmedError instead of being skipped.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TypeVar

from ddbmigrate.checkpoint import Ledger
from ddbmigrate.engines.base import Engine, Shared
from ddbmigrate.errors import ConfigError, ExpiredIteratorError, StreamTrimmedError
from ddbmigrate.importer import ImportOptions
from ddbmigrate.live.apply import Applier, batches
from ddbmigrate.live.checkpoints import Bridge, ShardCheckpoints, ShardMark
from ddbmigrate.live.lineage import ready_shards, trimmed_error
from ddbmigrate.live.ports import ChangeRecord, ChangeStreams, RecordsPage, Shard
from ddbmigrate.live.start import StreamStart, check_stream, epoch_seconds, recorded_start
from ddbmigrate.ports import Budget, Clock, NullObserver, Observer, TableWriter, Unlimited
from ddbmigrate.retry import RetryPolicy, call_with_retry

STEP = "replay"
_T = TypeVar("_T")
MAX_RECORDS_PER_CALL = 1000  # GetRecords' limit (and 1 MB, which DynamoDB applies itself)


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplayOptions:
    """How to replay a stream."""

    workers: int = 4
    """Shards read at once (one reader each)."""
    page_limit: int = MAX_RECORDS_PER_CALL
    """Records asked for per GetRecords call."""
    write: ImportOptions = field(default_factory=ImportOptions)
    """Retry policy and stall guard of the writes (import's)."""
    read_retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retry policy of each stream call."""
    max_reopens: int = 5
    """Iterators in a row that expire before a page is read before the replay stops."""
    pages_per_pass: int = 100
    """GetRecords calls per shard in one ``catch_up`` pass: a shard that never runs dry
    (the source keeps writing) still lets the pass end, and the caller look at the time."""


@dataclass(frozen=True, slots=True)
class ReplayStatus:
    """Where a replay stands: ``status`` and progress show it."""

    applied: int
    """Records applied, since the run began."""
    shards_open: int
    """Listed shards not read to their end yet."""
    shards_finished: int
    newest_applied: float | None
    """``ApproximateCreationDateTime`` of the newest applied record (epoch seconds)."""
    lag: float | None
    """Seconds from the newest applied change to now; None before the first."""

    def to_dict(self) -> dict[str, object]:
        return {
            "applied": self.applied,
            "shards_open": self.shards_open,
            "shards_finished": self.shards_finished,
            "newest_applied": self.newest_applied,
            "lag_seconds": None if self.lag is None else round(self.lag, 3),
        }


def status_of(marks: Iterable[ShardMark], *, shards_open: int, now: float) -> ReplayStatus:
    """The standing the shard ``marks`` record, ``now`` (epoch seconds)."""
    marks = list(marks)
    newest = max((m.newest for m in marks if m.newest is not None), default=None)
    return ReplayStatus(
        applied=sum(m.applied for m in marks),
        shards_open=shards_open,
        shards_finished=sum(1 for m in marks if m.finished),
        newest_applied=newest,
        lag=None if newest is None else max(0.0, now - newest),
    )


Watcher = Callable[[ChangeRecord], None]
"""Called with each record once its write succeeded (the cutover watches for its sentinel)."""
GapHandler = Callable[["Replay", StreamTrimmedError], None]
"""Closes a gap the stream left (``live.bridge.GapBridge``) or raises: called when a pass
stops with StreamTrimmedError, outside the pass, so it may call ``Replay.bridged``."""
MAX_BRIDGES = 3
"""Gaps bridged in one ``catch_up`` before the error stands: a bridge is followed by a
read from TRIM_HORIZON, which cannot be trimmed again unless the bridge took a day."""


@dataclass(slots=True)
class Replay:
    """Replays one stream into one table; ``catch_up`` may be called again and again."""

    streams: ChangeStreams
    start: StreamStart
    writer: TableWriter
    checkpoints: ShardCheckpoints
    clock: Clock
    options: ReplayOptions = field(default_factory=ReplayOptions)
    budget: Budget = field(default_factory=Unlimited)
    observer: Observer = field(default_factory=NullObserver)
    watchers: list[Watcher] = field(default_factory=list)
    gap: GapHandler | None = None
    """Without it, StreamTrimmedError stops the replay (no bridge: PITR unknown or off)."""
    engine: Engine | None = None
    """Runs each wave's shards as its units (``ShardJob``); None: reader threads here."""
    bridge: Bridge | None = field(init=False, default=None)
    """The last gap closed by incremental exports (``ddbmigrate.live.bridge``)."""
    _marks: dict[str, ShardMark] = field(init=False, default_factory=dict)
    _listed: list[Shard] = field(init=False, default_factory=list)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _pass: threading.Lock = field(init=False, default_factory=threading.Lock)
    """One pass at a time: two would read a shard twice (Streams allows two readers, and
    the application may have one) and could move its checkpoint back."""

    def __post_init__(self) -> None:
        self._marks = self.checkpoints.load()
        self.bridge = self.checkpoints.load_bridge()

    def catch_up(self, stop: threading.Event | None = None) -> int:
        """Read every shard until it is read to its end (closed) or has nothing more now
        (open), children after parents; return the records applied. A gap in the stream
        goes to ``gap``, and the pass starts again once it is closed."""
        stop = stop or threading.Event()
        bridged = 0
        while True:
            try:
                with self._pass:
                    return self._catch_up(stop) + bridged
            except StreamTrimmedError as exc:
                if self.gap is None or bridged >= MAX_BRIDGES or stop.is_set():
                    raise
                self.gap(self, exc)
                bridged += 1  # the pass applied changes: not quiet, for the cutover's drain

    def _catch_up(self, stop: threading.Event) -> int:
        read: set[str] = set()
        applied = 0
        while not stop.is_set():
            self._listed = check_stream(self.streams, self.start).shards
            with self._lock:
                marks = dict(self._marks)
            ready = ready_shards(self._listed, marks, self._known_shards())
            ready = [s for s in ready if s.shard_id not in read]
            if not ready:
                return applied
            applied += self._read_all(ready, stop)
            read |= {s.shard_id for s in ready}
        return applied

    def _known_shards(self) -> set[str]:
        """Shards whose lost parents are harmless: listed at the start or at a bridge."""
        bridged = self.bridge.shards if self.bridge else ()
        return {*self.start.shards, *bridged}

    def listed_shards(self) -> list[Shard]:
        """The shards of the stream now."""
        self._listed = self.streams.describe_stream(self.start.arn).shards
        return list(self._listed)

    def oldest_unapplied(self) -> float:
        """Epoch seconds no unapplied change is older than: the newest applied change of the
        least advanced shard, or, for a shard never applied from, the start point (or the
        last bridge's resume point)."""
        started = epoch_seconds(self.start.started)
        if self.bridge is not None:
            started = max(started, self.bridge.resume_from)
        with self._lock:
            marks = dict(self._marks)
        listed = {s.shard_id for s in self.listed_shards()}
        unfinished = [m for m in marks.values() if not m.finished]
        times = [started if m.newest is None else m.newest for m in unfinished]
        if listed - set(marks) or not times:
            times.append(started)
        return min(times)

    def bridged(self, bridge: Bridge) -> None:
        """Incremental exports applied every change up to ``bridge.end``: shards that left
        the stream count as read, the others are read again from TRIM_HORIZON, skipping
        what the exports covered."""
        with self._pass:
            self.checkpoints.save_bridge(bridge)
            self.bridge = bridge
            listed = {s.shard_id for s in self.listed_shards()}
            with self._lock:
                marks = [m for m in self._marks.values() if not m.finished]
            for mark in marks:
                gone = mark.shard_id not in listed
                self._save(replace(mark, sequence=None, finished=gone))

    def status(self) -> ReplayStatus:
        with self._lock:
            marks = dict(self._marks)
        finished = {k for k, m in marks.items() if m.finished}
        opened = sum(1 for s in self._listed if s.shard_id not in finished)
        return status_of(marks.values(), shards_open=opened, now=self.clock.now_ms() / 1000.0)

    def _read_all(self, shards: list[Shard], stop: threading.Event) -> int:
        """Read ``shards`` at once; the first failure stops the others at their next page."""
        if self.engine is not None and not self.watchers:
            # A watcher (the cutover's sentinel) must see records in this process: such a
            # pass keeps the threads; every other pass goes to the engine.
            return self._read_on(self.engine, shards)
        halt = threading.Event()
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
            try:
                futures = [pool.submit(self._read_one, s, stop, halt) for s in shards]
                for future in futures:
                    future.add_done_callback(lambda f: halt.set() if f.exception() else None)
                wait(futures)
            except BaseException:
                # Ctrl-C reaches this thread only: without this the readers would go on to
                # the end of their pass, writing after the command said it stopped.
                halt.set()
                raise
        return _results(futures)

    def _read_one(self, shard: Shard, stop: threading.Event, halt: threading.Event) -> int:
        reader = _ShardReader(self._access(self._save), shard, self._mark(shard), random.Random())
        return reader.run(lambda: stop.is_set() or halt.is_set())

    def _read_on(self, engine: Engine, shards: list[Shard]) -> int:
        """One unit of ``engine`` per shard, each saving its own checkpoints (the plan
        lock is checked here first: a task cannot see it); the marks they end at come
        back. A failed wave reloads the marks its tasks saved before it stopped."""
        self.checkpoints.check_held()
        units = [(shard, self._mark(shard)) for shard in shards]
        job = ShardJob(self._access(self.checkpoints.save))
        shared = Shared(
            forward=(self.checkpoints,), notify=(self.observer,), budgets=(self.budget,)
        )
        try:
            done = engine.run(job.read, units, shared=shared)
        except Exception:
            with contextlib.suppress(Exception), self._lock:  # the wave's error matters
                self._marks = self.checkpoints.load()
            raise
        with self._lock:
            self._marks.update((mark.shard_id, mark) for mark, _ in done)
        return sum(applied for _, applied in done)

    def _mark(self, shard: Shard) -> ShardMark:
        with self._lock:
            return self._marks.get(shard.shard_id, ShardMark(shard.shard_id))

    def _access(self, save: Callable[[ShardMark], None]) -> ShardAccess:
        return ShardAccess(
            streams=self.streams,
            arn=self.start.arn,
            writer=self.writer,
            clock=self.clock,
            options=self.options,
            budget=self.budget,
            observer=self.observer,
            bridge=self.bridge,
            save=save,
            watchers=tuple(self.watchers),
        )

    def _save(self, mark: ShardMark) -> None:
        self.checkpoints.save(mark)  # after the writes: see the module docstring
        with self._lock:
            self._marks[mark.shard_id] = mark


def open_replay(
    *,
    streams: ChangeStreams,
    ledger: Ledger,
    writer: TableWriter,
    clock: Clock,
    options: ReplayOptions | None = None,
    budget: Budget | None = None,
    observer: Observer | None = None,
) -> Replay:
    """The replay of a live run: the start point its ledger recorded, proven to still be
    the table's ENABLED stream, and the shard checkpoints it saved (resumed from there)."""
    start = recorded_start(ledger)
    if start is None:
        raise ConfigError(
            f"run {ledger.run_id!r} is not a live migration: it recorded no stream",
            hint="`ddbmigrate status` lists the runs and what they did",
        )
    check_stream(streams, start)
    return Replay(
        streams=streams,
        start=start,
        writer=writer,
        checkpoints=ShardCheckpoints.of(ledger),
        clock=clock,
        options=options or ReplayOptions(),
        budget=budget or Unlimited(),
        observer=observer or NullObserver(),
    )


def _results(futures: list[Future[int]]) -> int:
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]
    return sum(f.result() for f in futures)


@dataclass(frozen=True, kw_only=True, slots=True)
class ShardAccess:
    """What a shard reader works with: the same in a reader thread and in an engine's
    task (where it arrives pickled: the observer, the budget and the checkpoints' ``save``
    stand for the driver's, ``engines.base.Shared``)."""

    streams: ChangeStreams
    arn: str
    writer: TableWriter
    clock: Clock
    options: ReplayOptions
    budget: Budget
    observer: Observer
    bridge: Bridge | None
    save: Callable[[ShardMark], None]
    """Called with the shard's mark after each page's writes succeeded."""
    watchers: tuple[Watcher, ...] = ()


@dataclass(frozen=True, slots=True)
class ShardJob:
    """The shard reader as a unit of an engine: ``(shard, mark)`` in, the mark it ended at
    and the records it applied out."""

    access: ShardAccess

    def read(self, unit: tuple[Shard, ShardMark], stop: threading.Event) -> tuple[ShardMark, int]:
        shard, mark = unit
        reader = _ShardReader(self.access, shard, mark, random.Random())
        applied = reader.run(stop.is_set)
        return reader.mark, applied


@dataclass(slots=True)
class _ShardReader:
    """Reads one shard from its checkpoint until it ends or has nothing more now."""

    access: ShardAccess
    shard: Shard
    mark: ShardMark
    rng: random.Random
    reopens: int = 0

    def run(self, stopped: Callable[[], bool]) -> int:
        applied = 0
        iterator = self._open()
        for _ in range(self.access.options.pages_per_pass):
            if stopped():
                return applied
            page = self._page(iterator)
            self._apply(page.records, ended=page.next_iterator is None)
            applied += len(page.records)
            if page.next_iterator is None:
                return applied
            if not page.records and not self.shard.closed:
                return applied  # caught up with an open shard
            # A closed shard is read on until GetRecords says it ended: an empty page in
            # the middle of one is not its end.
            iterator = page.next_iterator
        return applied

    def _open(self) -> str:
        access, after = self.access, self.mark.sequence
        try:
            return self._retried(
                lambda: access.streams.shard_iterator(access.arn, self.shard.shard_id, after=after)
            )
        except StreamTrimmedError as exc:
            raise trimmed_error(self.shard.shard_id, after) from exc

    def _page(self, iterator: str) -> RecordsPage:
        limit, streams = self.access.options.page_limit, self.access.streams
        while True:
            try:
                page = self._retried(lambda it=iterator: streams.get_records(it, limit=limit))  # type: ignore[misc]
            except ExpiredIteratorError as exc:
                self.reopens += 1
                if self.reopens > self.access.options.max_reopens:
                    raise self._gave_up() from exc
                iterator = self._open()  # at the checkpoint: nothing applied is read again
                continue
            except StreamTrimmedError as exc:
                raise trimmed_error(self.shard.shard_id, self.mark.sequence) from exc
            self.reopens = 0
            return page

    def _gave_up(self) -> ExpiredIteratorError:
        return ExpiredIteratorError(
            f"the iterators of shard {self.shard.shard_id} expired {self.reopens} times in a "
            "row before a page was read (an iterator lives 15 minutes)",
            hint="run the same command again: the replay resumes at its last checkpoint",
        )

    def _retried(self, call: Callable[[], _T]) -> _T:
        options = self.access.options
        return call_with_retry(
            call, policy=options.read_retry, clock=self.access.clock, rng=self.rng
        )

    def _apply(self, records: list[ChangeRecord], *, ended: bool) -> None:
        """Write ``records``, then save the checkpoint once (with ``ended``: the shard is
        read to its end, in the same save)."""
        if records:
            self._write(records)
        if records or ended:
            self.mark = replace(self.mark, finished=ended)
            self.access.save(self.mark)

    def _write(self, records: list[ChangeRecord]) -> None:
        access = self.access
        applier = Applier(access.writer, access.budget, access.options.write, access.clock)
        todo = _not_bridged(records, access.bridge)
        for batch in batches(todo):
            applier.write(batch, self.rng)
            access.observer.advanced(STEP, len(batch.records))
            for record in batch.records:
                for watch in access.watchers:
                    watch(record)
        self.mark = _advanced(self.mark, records, applied=len(todo))


def _not_bridged(records: list[ChangeRecord], bridge: Bridge | None) -> list[ChangeRecord]:
    """The records an incremental export did not cover already."""
    if bridge is None:
        return records
    return [r for r in records if r.created >= bridge.resume_from]


def _advanced(mark: ShardMark, records: list[ChangeRecord], *, applied: int) -> ShardMark:
    newest = max(r.created for r in records)
    return replace(
        mark,
        sequence=records[-1].sequence,
        applied=mark.applied + applied,
        newest=newest if mark.newest is None else max(mark.newest, newest),
    )
