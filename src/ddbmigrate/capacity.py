"""From a run's throughput options and the tables' descriptions to capacity budgets.

Reads of the source and writes of the destination each get ``percent x capacity``
(Data Pipeline's readThroughputPercent / writeThroughputPercent); ``--max-rcu`` /
``--max-wcu`` cap them. How capacity is found (provisioned, on-demand maximum, warm
throughput, default) is in :func:`ddbmigrate.throttle.capacity_for`; the plan prints it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from ddbmigrate.errors import ConfigError, DdbMigrateError
from ddbmigrate.ports import Budget, Clock, TableSchema, Unlimited
from ddbmigrate.throttle import MAX_PERCENT, MIN_PERCENT, CapacityBudget, capacity_for

Mode: TypeAlias = Literal["read", "write"]
"""What a budget meters: a table's reads or its writes."""

# On-demand tables with no maximum and no warm throughput: DynamoDB's documented initial
# throughput for a new on-demand table (4,000 writes/s, 12,000 reads/s).
ON_DEMAND_DEFAULT_WCU = 4000.0
ON_DEMAND_DEFAULT_RCU = 12000.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ThroughputOptions:
    """How much of each table's capacity a run may take."""

    read_percent: float = 0.5
    """Share of the source's read capacity (0.1 to 1.5)."""
    write_percent: float = 0.5
    """Share of the destination's write capacity (0.1 to 1.5)."""
    max_rcu: float | None = None
    """Absolute cap on read units per second."""
    max_wcu: float | None = None
    """Absolute cap on write units per second."""

    def __post_init__(self) -> None:
        # Checked here so a wrong flag fails before any AWS call.
        for flag, value, units_flag in (
            ("--read-percent", self.read_percent, "--max-rcu"),
            ("--write-percent", self.write_percent, "--max-wcu"),
        ):
            if not MIN_PERCENT <= value <= MAX_PERCENT:
                raise ConfigError(
                    f"{flag} {value} is outside {MIN_PERCENT}-{MAX_PERCENT}: it is a fraction "
                    "of the table's capacity, like Data Pipeline's throughput percent",
                    hint=f"0.5 takes half the table's capacity (above 1.0 uses burst capacity); "
                    f"for a number of capacity units per second, pass {units_flag} {value:g}",
                )
        for flag, cap in (("--max-rcu", self.max_rcu), ("--max-wcu", self.max_wcu)):
            if cap is not None and cap <= 0:
                raise ConfigError(f"{flag} {cap} must be above 0")


@dataclass(frozen=True, slots=True)
class Budgets:
    """Capacity budgets of one migration: reads of each table, writes of the destination."""

    source_read: Budget
    dest_read: Budget
    dest_write: Budget
    notes: tuple[str, ...] = ()
    rates: tuple[float, float] = (0.0, 0.0)
    """Target units/s of source reads and destination writes, for the plan's estimate."""

    @classmethod
    def unlimited(cls) -> Budgets:
        return cls(Unlimited(), Unlimited(), Unlimited())


def make_budgets(
    source: TableSchema,
    dest: TableSchema | None,
    options: ThroughputOptions,
    clock: Clock,
) -> Budgets:
    """Budgets for a migration; a destination not created yet will be like the source."""
    dest_desc = (dest or source).description
    read, read_note = _rate(source.description, "read", options.read_percent, options.max_rcu)
    dread, _ = _rate(dest_desc, "read", options.read_percent, options.max_rcu)
    write, write_note = _rate(dest_desc, "write", options.write_percent, options.max_wcu)
    return Budgets(
        source_read=CapacityBudget(rate=read, clock=clock),
        dest_read=CapacityBudget(rate=dread, clock=clock),
        dest_write=CapacityBudget(rate=write, clock=clock),
        notes=(f"source reads   {read_note}", f"dest writes    {write_note}"),
        rates=(read, write),
    )


def _rate(
    description: dict[str, object], mode: Mode, percent: float, cap: float | None
) -> tuple[float, str]:
    default = ON_DEMAND_DEFAULT_RCU if mode == "read" else ON_DEMAND_DEFAULT_WCU
    return capacity_for(
        description,
        mode=mode,
        percent=percent,
        max_units=cap,
        on_demand_default=default,
    )


class CapacityWatcher:
    """Re-reads a table's capacity every ``interval`` seconds (auto scaling moves it) and
    moves a budget's target with it. A daemon thread; ``stop()`` ends it."""

    def __init__(
        self,
        *,
        read_schema: Callable[[], TableSchema | None],
        budget: Budget,
        mode: Mode,
        percent: float,
        cap: float | None,
        interval: float = 60.0,
    ) -> None:
        self._read = read_schema
        self._budget = budget
        self._mode = mode
        self._percent = percent
        self._cap = cap
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="capacity-watcher", daemon=True)

    def start(self) -> CapacityWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def refresh(self) -> None:
        """One re-read; a failed DescribeTable keeps the old target (the run goes on)."""
        try:
            schema = self._read()
        except DdbMigrateError:
            return
        if schema is not None:
            rate, _ = _rate(schema.description, self._mode, self._percent, self._cap)
            self._budget.set_target(rate)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()


def watch_migration(
    budgets: Budgets,
    *,
    source: Callable[[], TableSchema | None],
    dest: Callable[[], TableSchema | None],
    options: ThroughputOptions,
    interval: float = 60.0,
) -> list[CapacityWatcher]:
    """Watchers for a migration's read (source) and write (destination) budgets, started."""
    return [
        CapacityWatcher(
            read_schema=source,
            budget=budgets.source_read,
            mode="read",
            percent=options.read_percent,
            cap=options.max_rcu,
            interval=interval,
        ).start(),
        CapacityWatcher(
            read_schema=dest,
            budget=budgets.dest_write,
            mode="write",
            percent=options.write_percent,
            cap=options.max_wcu,
            interval=interval,
        ).start(),
    ]


@runtime_checkable
class TaskSlots(Protocol):
    """An engine whose tasks each hold a share of every budget (the Spark engine)."""

    @property
    def workers(self) -> int: ...

    def slots(self) -> int | None: ...

    def describe(self) -> str: ...


def task_shares(engine: object, budgets: Mapping[str, Budget]) -> list[str]:
    """What each task may use: its share of every budget (printed with the plan); nothing
    for an engine that shares budgets as they are (threads, processes)."""
    if not isinstance(engine, TaskSlots):
        return []
    if engine.slots() is None:
        return [f"spark tasks    {engine.describe()}"]
    tasks = engine.workers
    shares = ", ".join(f"{what} {b.target / tasks:.1f} units/s" for what, b in budgets.items())
    return [f"spark tasks    {tasks} at once, each 1/{tasks} of every budget: {shares}"]
