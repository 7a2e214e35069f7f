"""Throughput control: a token bucket in capacity units, AIMD-adjusted.

DynamoDB charges capacity units (RCU/WCU) per request, and only the response says how many
(``ConsumedCapacity``): a Scan page of 1 MB costs 128 RCU, a page of ten small items 1. So the
bucket is charged twice: ``acquire(expected)`` before a request reserves an estimate, and
``settle(expected, consumed)`` afterwards charges the difference. The bucket may go into debt,
which makes the next callers wait until the refill has paid it back.

The target is ``percent * capacity`` units per second (:func:`capacity_for`). Throttling
responses halve the current rate (multiplicative decrease) and time grows it back by a fixed
step per second (additive increase), the way TCP shares a link: a table that other clients
also use, or a hot partition, pushes us back without any configuration. The increase runs on
the clock, not on successful requests: a backed-off budget sends few requests, so growth that
waited for them would itself be slowed by the backing off, and never recover.

One budget is shared by all threads of a process. Process pools and Spark executors cannot
share one, so each worker builds its own with :func:`per_worker` (``rate / workers``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Literal

from ddbmigrate.errors import ConfigError
from ddbmigrate.ports import Clock

MIN_PERCENT = 0.1
MAX_PERCENT = 1.5
DECREASE_FACTOR = 0.5


@dataclass(frozen=True, slots=True)
class BudgetStats:
    """A snapshot of one budget, for tests and run reports."""

    target: float
    """Units per second the budget aims at (``percent * capacity``)."""
    rate: float
    """Units per second currently allowed (below ``target`` after throttling)."""
    consumed: float
    """Units reported consumed through ``settle``."""
    throttles: int
    """``on_throttled`` calls."""
    waited: float
    """Seconds callers spent waiting in ``acquire``."""


class CapacityBudget:
    """A token bucket of capacity units shared by the threads of one process. Thread-safe.

    ``acquire`` reserves units at once and then sleeps for however long the bucket needs to
    refill to cover them. Because every reservation is taken before its caller sleeps, N
    threads can never together get more than ``rate * elapsed + bucket`` units, whatever the
    interleaving; callers are served in the order they reserved.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Clock,
        burst_seconds: float = 1.0,
        min_rate_fraction: float = 0.05,
        increase_fraction: float = 0.1,
        adjust_interval: float = 1.0,
    ) -> None:
        """Aim at ``rate`` units/s.

        ``burst_seconds``: the bucket holds ``rate * burst_seconds`` units. DynamoDB itself
        banks up to 300 s of unused capacity, but a small bucket keeps the promise "holds X%
        of the capacity" over any window of a few seconds.
        ``min_rate_fraction``: throttling never pushes the rate below this share of the target.
        ``increase_fraction``: the additive increase per ``adjust_interval``, as a share of the
        target (0.1: from the floor back to the target in under 10 s once throttling stops).
        ``adjust_interval``: seconds between two decreases.
        """
        _check_positive("rate", rate)
        _check_positive("burst_seconds", burst_seconds)
        self._clock = clock
        self._burst_seconds = burst_seconds
        self._min_fraction = min_rate_fraction
        self._increase_fraction = increase_fraction
        self._interval = adjust_interval
        self._lock = threading.Lock()
        self._target = rate
        self._rate = rate
        self._tokens = rate * burst_seconds  # start full: the first requests need not wait
        self._stamp = clock.monotonic()
        self._last_decrease = -math.inf
        self._consumed = 0.0
        self._throttles = 0
        self._waited = 0.0

    # --- the bucket ---

    def acquire(self, expected: float = 1.0) -> None:
        """Reserve ``expected`` units, sleeping (on the clock) until the bucket covers them."""
        wait = self.reserve(expected)
        if wait > 0:
            self._clock.sleep(wait)

    def reserve(self, expected: float = 1.0) -> float:
        """Reserve ``expected`` units now; return the seconds to wait before using them
        (what ``acquire`` sleeps; a worker process sleeps it on its own side)."""
        with self._lock:
            self._refill()
            self._tokens -= expected
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
            self._waited += wait
        return wait

    def settle(self, expected: float, consumed: float) -> None:
        """Charge what a request really consumed against what ``acquire`` reserved for it.

        More than expected puts the bucket into debt (later callers wait); less gives the
        difference back. Call it for every acquired request, with ``consumed=0`` when the
        request failed without consuming anything.
        """
        with self._lock:
            self._refill()
            self._tokens = min(self._size(), self._tokens + expected - consumed)
            self._consumed += consumed

    # --- AIMD ---

    def on_throttled(self) -> None:
        """DynamoDB throttled a request: halve the rate, at most once per ``adjust_interval``.

        Many threads see the same overload at the same moment; counting each of their
        throttles as a separate signal would collapse the rate to the floor at once.
        """
        with self._lock:
            self._throttles += 1
            now = self._clock.monotonic()
            if now - self._last_decrease < self._interval:
                return
            self._refill()
            floor = self._min_fraction * self._target
            self._rate = max(floor, self._rate * DECREASE_FACTOR)
            self._tokens = min(self._tokens, self._size())
            self._last_decrease = now

    def on_success(self) -> None:
        """A request went through. Nothing to do: the rate grows back with time (see
        ``_refill``), so recovery takes the same ~10 s whether a worker sends 5 requests per
        second or, backed off, one every few seconds."""

    def set_target(self, rate: float) -> None:
        """Aim at a new target (capacity re-read: auto scaling moved it).

        A budget running at its old target follows the new one at once; one that is backing
        off after throttling keeps its rate, clamped into the new range, and grows from there.
        """
        _check_positive("rate", rate)
        with self._lock:
            self._refill()
            backing_off = self._rate < self._target
            self._target = rate
            floor = self._min_fraction * rate
            self._rate = min(rate, max(floor, self._rate)) if backing_off else rate
            self._tokens = min(self._tokens, self._size())

    # --- sharing ---

    def share(self, parts: int) -> CapacityBudget:
        """An independent budget of ``1/parts`` of this one (target and current rate), on
        the same clock and settings: one per worker process or Spark task, which cannot
        share this object. Threads of one process share one budget instead."""
        with self._lock:
            target, rate = self._target, self._rate
        budget = CapacityBudget(
            per_worker(target, parts),
            clock=self._clock,
            burst_seconds=self._burst_seconds,
            min_rate_fraction=self._min_fraction,
            increase_fraction=self._increase_fraction,
            adjust_interval=self._interval,
        )
        budget._rate = per_worker(rate, parts)  # a budget backing off stays backed off
        return budget

    def split(self, n: int) -> list[CapacityBudget]:
        """``n`` independent budgets of ``target / n`` each (see :meth:`share`)."""
        return [self.share(n) for _ in range(n)]

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled for a worker process: the settings travel, the lock and counters do not.
        settings = {
            "clock": self._clock,
            "burst_seconds": self._burst_seconds,
            "min_rate_fraction": self._min_fraction,
            "increase_fraction": self._increase_fraction,
            "adjust_interval": self._interval,
        }
        return (_rebuild_budget, (self._target, self._rate, settings))

    # --- reading ---

    @property
    def target(self) -> float:
        with self._lock:
            return self._target

    @property
    def rate(self) -> float:
        with self._lock:
            self._refill()  # the rate grows with time: say what it is now
            return self._rate

    def stats(self) -> BudgetStats:
        """Counters so far."""
        with self._lock:
            return BudgetStats(
                target=self._target,
                rate=self._rate,
                consumed=self._consumed,
                throttles=self._throttles,
                waited=self._waited,
            )

    def _size(self) -> float:
        return self._rate * self._burst_seconds

    def _refill(self) -> None:
        # Called with the lock held. Debt is repaid at the current rate; a full bucket stays full.
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self._size(), self._tokens + elapsed * self._rate)
        # Additive increase on time: every second since the last look adds its step, whether
        # or not a request went through in it (a throttled second halves it again).
        step = self._increase_fraction * self._target * elapsed / self._interval
        self._rate = min(self._target, self._rate + step)


def _rebuild_budget(target: float, rate: float, settings: dict[str, Any]) -> CapacityBudget:
    budget = CapacityBudget(target, **settings)
    budget._rate = rate
    return budget


def per_worker(rate: float, workers: int) -> float:
    """Each of ``workers`` independent workers' share of ``rate`` units/s (DESIGN.md: 1/N)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    return rate / workers


def capacity_for(
    description: dict[str, Any],
    *,
    mode: Literal["read", "write"],
    percent: float,
    max_units: float | None,
    on_demand_default: float,
) -> tuple[float, str]:
    """The target units/s for reading or writing a table, and a sentence saying why.

    ``description`` is DescribeTable's ``Table``. Provisioned tables: ``percent`` of the
    provisioned units, capped by ``max_units``. On-demand tables (or ones that report no
    provisioned units) use, in order: ``percent`` of the table's maximum throughput
    (OnDemandThroughput), ``percent`` of its warm throughput, ``max_units``, and last
    ``on_demand_default`` — never a silent 40,000, which would swamp a shared table.
    """
    names = _Names(mode)
    _check_percent(percent, names.percent_flag)
    if max_units is not None and not max_units > 0:
        raise ConfigError(
            f"{names.max_flag} {max_units:g} is not a positive number of {names.unit}/s",
            hint=f"pass {names.max_flag} with a value above 0, or leave it out",
        )
    provisioned = _number(description.get("ProvisionedThroughput"), names.provisioned_field)
    if not _is_on_demand(description) and provisioned > 0:
        share = percent * provisioned
        why = f"provisioned: {_pct(percent)} of {_fmt(provisioned)} {names.unit} = {_fmt(share)}"
        return _capped(share, why, max_units, names)
    return _on_demand(description, percent, max_units, on_demand_default, names)


@dataclass(frozen=True, slots=True)
class _Names:
    """The field names, units and flags of one direction."""

    mode: Literal["read", "write"]

    @property
    def unit(self) -> str:
        return "RCU" if self.mode == "read" else "WCU"

    @property
    def percent_flag(self) -> str:
        return f"--{self.mode}-percent"

    @property
    def max_flag(self) -> str:
        return f"--max-{self.unit.lower()}"

    @property
    def provisioned_field(self) -> str:
        return "ReadCapacityUnits" if self.mode == "read" else "WriteCapacityUnits"

    @property
    def max_field(self) -> str:
        return "MaxReadRequestUnits" if self.mode == "read" else "MaxWriteRequestUnits"

    @property
    def warm_field(self) -> str:
        return "ReadUnitsPerSecond" if self.mode == "read" else "WriteUnitsPerSecond"


def _on_demand(
    description: dict[str, Any],
    percent: float,
    max_units: float | None,
    default: float,
    names: _Names,
) -> tuple[float, str]:
    unit = names.unit
    maximum = _number(description.get("OnDemandThroughput"), names.max_field)
    if maximum > 0:
        # The table's maximum is a hard limit: asking for more than 100% only buys throttling.
        share = min(percent, 1.0) * maximum
        why = (
            f"on-demand: {_pct(min(percent, 1.0))} of the table's maximum throughput of "
            f"{_fmt(maximum)} {unit}/s = {_fmt(share)}"
        )
        return _capped(share, why, max_units, names)
    warm = _number(description.get("WarmThroughput"), names.warm_field)
    if warm > 0:
        share = percent * warm
        why = (
            f"on-demand: {_pct(percent)} of the table's warm throughput of "
            f"{_fmt(warm)} {unit}/s = {_fmt(share)}"
        )
        return _capped(share, why, max_units, names)
    if max_units is not None:
        return (
            max_units,
            f"on-demand: no maximum set, using {names.max_flag} = {_fmt(max_units)} {unit}/s",
        )
    _check_positive("on_demand_default", default)
    return default, (
        f"on-demand: no maximum set, using the default of {_fmt(default)} {unit}/s; "
        f"pass {names.max_flag} to change"
    )


def _capped(share: float, why: str, max_units: float | None, names: _Names) -> tuple[float, str]:
    if max_units is not None and share > max_units:
        return (
            max_units,
            f"{why} {names.unit}/s, capped by {names.max_flag} at {_fmt(max_units)} {names.unit}/s",
        )
    return share, f"{why} {names.unit}/s"


def _is_on_demand(description: dict[str, Any]) -> bool:
    summary = description.get("BillingModeSummary") or {}
    return bool(summary.get("BillingMode") == "PAY_PER_REQUEST")


def _number(section: Any, name: str) -> float:
    # AWS omits sections it has nothing for, and OnDemandThroughput uses -1 for "no maximum".
    if not isinstance(section, dict):
        return 0.0
    value = section.get(name)
    return float(value) if isinstance(value, int | float) else 0.0


def _check_percent(percent: float, flag: str) -> None:
    if not MIN_PERCENT <= percent <= MAX_PERCENT:  # written so that NaN fails too
        raise ConfigError(
            f"{flag} {percent:g} is outside the allowed range {MIN_PERCENT:g}-{MAX_PERCENT:g}",
            hint=f"pass {flag} as a fraction of the table's capacity, e.g. {flag} 0.5 for 50%",
        )


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _fmt(units: float) -> str:
    return f"{units:,.0f}" if units >= 10 or units == int(units) else f"{units:.2f}"
