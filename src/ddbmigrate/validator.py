"""Validate: prove two tables hold the same items, or name the keys that differ.

Pass 1 scans both tables in parallel into bucketed digests (count and order-free sum of
128-bit item hashes per bucket of key hashes). Equal digests: done, memory O(buckets).
Otherwise pass 2 scans again, keeping ``key -> item hash`` only for the differing buckets,
and names every missing, extra and changed key.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ddbmigrate.digest import BucketDigest
from ddbmigrate.engines.base import (
    Cancelled,
    Engine,
    Shared,
    ThreadEngine,
    gated_processes,
    requests_per_worker,
)
from ddbmigrate.inflight import InflightGate
from ddbmigrate.items import item_hash, key_bytes, key_of, key_text
from ddbmigrate.model import Item, KeySchema, Segment
from ddbmigrate.pages import PageSizer
from ddbmigrate.ports import Budget, Clock, NullObserver, Observer, TableReader, Unlimited
from ddbmigrate.retry import RetryPolicy, check_deadline, metered

STEP = "validate"


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidateOptions:
    """How to compare two tables."""

    segments: int = 4
    """Parallel Scan segments per table."""
    workers: int = 4
    """Segments scanned at once (both tables together)."""
    buckets: int = 4096
    """Digest buckets; more buckets make the second pass narrower."""
    consistent_read: bool = False
    """Strongly consistent Scans (twice the RCU); use when writes just finished."""
    max_listed: int = 100
    """Keys listed per kind (missing, extra, changed) in the report; all are counted."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline: float | None = None
    """``clock.monotonic()`` after which validation stops with StepTimeoutError."""


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The result of comparing a source and a destination table."""

    source_table: str
    dest_table: str
    source_count: int
    dest_count: int
    missing: list[str]
    """Keys in the source but not the destination (at most max_listed)."""
    extra: list[str]
    """Keys in the destination but not the source."""
    changed: list[str]
    """Keys in both whose items differ."""
    missing_count: int = 0
    extra_count: int = 0
    changed_count: int = 0
    differing_buckets: int = 0
    """Digest buckets that differed in the first pass; 0 proves the tables equal."""
    rechecked: bool = False
    """The differing buckets were read again item by item, with strongly consistent reads."""
    seconds: float = 0.0

    @property
    def matches(self) -> bool:
        if self.differing_buckets == 0:
            return True
        # The consistent second pass is the verdict: the first may have read stale pages.
        return self.rechecked and not (self.missing_count or self.extra_count or self.changed_count)

    def summary(self) -> str:
        """One line for humans."""
        if self.matches:
            return (
                f"MATCH: {self.dest_count:,} of {self.source_count:,} items identical "
                f"({self.source_table} -> {self.dest_table})"
            )
        return (
            f"MISMATCH: source {self.source_count:,} items, destination {self.dest_count:,}; "
            f"{self.missing_count:,} missing, {self.extra_count:,} extra, "
            f"{self.changed_count:,} changed"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "match": self.matches,
            "source_table": self.source_table,
            "dest_table": self.dest_table,
            "source_count": self.source_count,
            "dest_count": self.dest_count,
            "missing_count": self.missing_count,
            "extra_count": self.extra_count,
            "changed_count": self.changed_count,
            "differing_buckets": self.differing_buckets,
            "missing": self.missing,
            "extra": self.extra,
            "changed": self.changed,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class _Unit:
    side: int  # 0 source, 1 destination
    segment: Segment


def _scan_all(
    reader: TableReader,
    segment: Segment,
    *,
    options: ValidateOptions,
    clock: Clock,
    budget: Budget,
    slots: tuple[InflightGate, int | None],
    stop: threading.Event,
    visit: Callable[[list[Item]], None],
) -> None:
    rng = random.Random()
    start_key: Item | None = None
    # Pages sized to the budget as the export's are (ddbmigrate.pages).
    sizer = PageSizer(segment.total, consistent=options.consistent_read)
    while True:
        if stop.is_set():
            raise Cancelled
        check_deadline(options.deadline, clock, STEP)
        plan = sizer.plan(budget, slots[0].readers(slots[1]))
        page = metered(
            lambda key=start_key, limit=plan.limit: reader.scan(  # type: ignore[misc]
                segment=segment, start_key=key, limit=limit, consistent=options.consistent_read
            ),
            budget=budget,
            expected=plan.expected,
            consumed=lambda p: p.consumed,
            policy=options.retry,
            clock=clock,
            rng=rng,
            gate=slots[0],
        )
        sizer.observe(len(page.items), page.consumed)
        visit(page.items)
        start_key = page.last_key
        if start_key is None:
            return


@dataclass(frozen=True, slots=True)
class _Scans:
    """Reads segments of either table; methods are the units of both passes (picklable)."""

    readers: tuple[TableReader, TableReader]
    key: KeySchema
    options: ValidateOptions
    clock: Clock
    limits: tuple[Budget, Budget]
    observer: Observer
    gates: tuple[InflightGate, InflightGate]
    """Scan requests in flight per table (they may differ in latency)."""
    processes: int | None
    """Processes with gates like these (``gated_processes``): pages share the budget."""

    def digest(self, unit: _Unit, stop: threading.Event) -> BucketDigest:
        """Pass 1: the bucketed digest of one segment of one table."""
        digest = BucketDigest(self.options.buckets)

        def visit(items: list[Item]) -> None:
            for item in items:
                digest.add(item, self.key)
            self.observer.advanced(STEP, len(items))

        self._scan(unit, self.options, stop, visit)
        return digest

    def _scan(
        self,
        unit: _Unit,
        options: ValidateOptions,
        stop: threading.Event,
        visit: Callable[[list[Item]], None],
    ) -> None:
        _scan_all(
            self.readers[unit.side],
            unit.segment,
            options=options,
            clock=self.clock,
            budget=self.limits[unit.side],
            slots=(self.gates[unit.side], self.processes),
            stop=stop,
            visit=visit,
        )


@dataclass(frozen=True, slots=True)
class _Collect:
    """Pass 2: ``key -> (key, item hash)`` of one segment, for the differing buckets only."""

    scans: _Scans
    differing: frozenset[int]

    def run(self, unit: _Unit, stop: threading.Event) -> dict[bytes, tuple[Item, int]]:
        probe = BucketDigest(self.scans.options.buckets)
        key = self.scans.key
        found: dict[bytes, tuple[Item, int]] = {}

        def visit(items: list[Item]) -> None:
            for item in items:
                item_key = key_of(item, key)
                if probe.bucket_of(item_key) in self.differing:
                    found[key_bytes(item_key)] = (item_key, item_hash(item))

        # Strongly consistent: the verdict must not rest on a stale page.
        self.scans._scan(unit, replace(self.scans.options, consistent_read=True), stop, visit)
        return found


def validate_tables(
    *,
    source: TableReader,
    dest: TableReader,
    key: KeySchema,
    options: ValidateOptions,
    clock: Clock,
    observer: Observer | None = None,
    budgets: tuple[Budget, Budget] | None = None,
    engine: Engine | None = None,
) -> ValidationReport:
    """Compare every item of ``source`` with ``dest`` (each side read within its budget).

    Segments of both tables run on ``engine`` (default: ``options.workers`` threads).
    """
    limits = budgets or (Unlimited(), Unlimited())
    observer = observer or NullObserver()
    engine = engine or ThreadEngine(options.workers)
    t0 = clock.monotonic()
    observer.step_started(STEP, total=None)
    ceiling = requests_per_worker(engine)
    gates = (InflightGate(ceiling, clock=clock), InflightGate(ceiling, clock=clock))
    processes = gated_processes(engine)
    scans = _Scans((source, dest), key, options, clock, limits, observer, gates, processes)
    shared = Shared(notify=(observer,), budgets=limits)
    units = [
        _Unit(side, Segment(i, options.segments))
        for side in (0, 1)
        for i in range(options.segments)
    ]
    digests = engine.run(scans.digest, units, shared=shared)
    sides = [BucketDigest(options.buckets), BucketDigest(options.buckets)]
    for unit, digest in zip(units, digests, strict=True):
        sides[unit.side].merge(digest)
    differing = frozenset(sides[0].differing_buckets(sides[1]))
    report = replace(_report(source, dest, sides), differing_buckets=len(differing))
    if differing:
        found = engine.run(_Collect(scans, differing).run, units, shared=shared)
        report = _diff_report(report, units, found, options.max_listed)
    report = replace(report, seconds=clock.monotonic() - t0)
    observer.step_finished(STEP, summary=report.summary())
    return report


def _report(source: TableReader, dest: TableReader, sides: list[BucketDigest]) -> ValidationReport:
    return ValidationReport(
        source_table=source.table_name,
        dest_table=dest.table_name,
        source_count=sides[0].total_count,
        dest_count=sides[1].total_count,
        missing=[],
        extra=[],
        changed=[],
    )


def _diff_report(
    report: ValidationReport,
    units: list[_Unit],
    found: list[dict[bytes, tuple[Item, int]]],
    cap: int,
) -> ValidationReport:
    maps: list[dict[bytes, tuple[Item, int]]] = [{}, {}]
    for unit, keys in zip(units, found, strict=True):
        maps[unit.side].update(keys)
    src, dst = maps
    missing = sorted(key_text(src[k][0]) for k in src.keys() - dst.keys())
    extra = sorted(key_text(dst[k][0]) for k in dst.keys() - src.keys())
    changed = sorted(key_text(src[k][0]) for k in src.keys() & dst.keys() if src[k][1] != dst[k][1])
    return replace(
        report,
        rechecked=True,
        missing=missing[:cap],
        extra=extra[:cap],
        changed=changed[:cap],
        missing_count=len(missing),
        extra_count=len(extra),
        changed_count=len(changed),
    )
