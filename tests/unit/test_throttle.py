"""throttle.py: the capacity token bucket holds its target, AIMD reacts, capacity is explained."""

from __future__ import annotations

import heapq
import threading
from typing import Any

import pytest

from ddbmigrate.errors import ConfigError
from ddbmigrate.testing import FakeClock
from ddbmigrate.throttle import CapacityBudget, capacity_for, per_worker


class SimClock:
    """Discrete-event time for several threads: it moves only when every live worker sleeps.

    FakeClock adds up the sleeps of all threads, so with N threads time runs N times too
    fast. Here time jumps to the earliest wake-up once all workers are asleep, as it would
    for real threads that each wait their own time.
    """

    def __init__(self, workers: int) -> None:
        self.now = 0.0
        self._live = workers
        self._pending: list[float] = []  # wake-up times of sleeping workers
        self._cond = threading.Condition()

    def monotonic(self) -> float:
        with self._cond:
            return self.now

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._cond:
            wake = self.now + seconds
            heapq.heappush(self._pending, wake)
            self._advance_if_all_asleep()
            while self.now < wake:
                self._cond.wait()

    def worker_done(self) -> None:
        with self._cond:
            self._live -= 1
            self._advance_if_all_asleep()

    def now_iso(self) -> str:
        return "2026-01-01T00:00:00.000Z"

    def now_ms(self) -> int:
        return 0

    def _advance_if_all_asleep(self) -> None:
        if self._pending and len(self._pending) >= self._live:
            self.now = self._pending[0]
            while self._pending and self._pending[0] <= self.now:
                heapq.heappop(self._pending)
            self._cond.notify_all()


def _run_single(
    budget: CapacityBudget, clock: FakeClock, *, cost: float, until: float
) -> list[float]:
    """One worker sending requests of ``cost`` units back to back; returns grant times."""
    grants: list[float] = []
    while clock.monotonic() < until:
        budget.acquire(cost)
        grants.append(clock.monotonic())
        budget.settle(cost, cost)
    return grants


def test_a_single_worker_holds_the_target_rate() -> None:
    clock = FakeClock()
    budget = CapacityBudget(100.0, clock=clock)
    grants = _run_single(budget, clock, cost=4.0, until=70.0)
    in_window = [t for t in grants if 10.0 <= t < 70.0]
    rate = len(in_window) * 4.0 / 60.0
    assert rate == pytest.approx(100.0, rel=0.05)
    assert budget.stats().consumed == pytest.approx(len(grants) * 4.0)


def test_the_first_second_may_burst_by_one_bucket_only() -> None:
    clock = FakeClock()
    budget = CapacityBudget(50.0, clock=clock, burst_seconds=2.0)
    grants = _run_single(budget, clock, cost=1.0, until=10.0)
    assert sum(1 for t in grants if t == 0.0) == 100  # the full bucket, without waiting
    for index, granted_at in enumerate(grants):
        assert index + 1 <= 100 + 50.0 * granted_at + 1e-6


def test_four_threads_sharing_a_budget_never_exceed_it_and_hold_it() -> None:
    workers, rate, cost, latency, duration = 4, 100.0, 5.0, 0.05, 60.0
    clock = SimClock(workers)
    budget = CapacityBudget(rate, clock=clock)
    grants: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            while clock.monotonic() < duration:
                budget.acquire(cost)
                with lock:
                    grants.append(clock.monotonic())
                clock.sleep(latency)  # the request itself
                budget.settle(cost, cost)
        finally:
            clock.worker_done()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    grants.sort()
    for index, granted_at in enumerate(grants):  # never above rate * elapsed + bucket
        assert (index + 1) * cost <= rate * granted_at + rate * 1.0 + 1e-6
    held = sum(cost for t in grants if 5.0 <= t < duration) / (duration - 5.0)
    assert held == pytest.approx(rate, rel=0.05)


def test_settle_with_more_than_expected_puts_the_bucket_into_debt() -> None:
    clock = FakeClock()
    budget = CapacityBudget(10.0, clock=clock)  # bucket of 10 units
    budget.acquire(1.0)
    budget.settle(1.0, 128.0)  # a 1 MB Scan page
    assert clock.sleeps == []
    budget.acquire(1.0)
    # 9 left after the first acquire, minus 127 more, minus 1 = -119: 11.9 s at 10 units/s.
    assert clock.sleeps == [pytest.approx(11.9)]
    assert budget.stats().consumed == 128.0
    assert budget.stats().waited == pytest.approx(11.9)


def test_settle_with_less_than_expected_gives_units_back_up_to_the_bucket_size() -> None:
    clock = FakeClock()
    budget = CapacityBudget(10.0, clock=clock)
    budget.acquire(30.0)  # reserve more than a bucket: waits 2 s
    assert clock.sleeps == [pytest.approx(2.0)]
    budget.settle(30.0, 0.0)  # the request failed and consumed nothing
    for _ in range(10):  # the bucket is full again, not 30 units over
        budget.acquire(1.0)
    assert clock.sleeps == [pytest.approx(2.0)]
    budget.acquire(1.0)
    assert clock.sleeps[-1] == pytest.approx(0.1)


def test_throttling_halves_the_rate_once_per_interval_down_to_the_floor() -> None:
    clock = FakeClock()
    # No additive increase here: only the decreases are watched.
    budget = CapacityBudget(100.0, clock=clock, min_rate_fraction=0.1, increase_fraction=0.0)
    budget.on_throttled()
    budget.on_throttled()  # the same overload seen by another thread: ignored
    assert budget.rate == 50.0
    for expected in (25.0, 12.5, 10.0, 10.0):
        clock.advance(1.0)
        budget.on_throttled()
        assert budget.rate == expected
    assert budget.stats().throttles == 6


def test_the_rate_grows_back_with_time_even_without_a_successful_request() -> None:
    """Additive increase on the clock: 10% of the target per second, requests or not."""
    clock = FakeClock()
    budget = CapacityBudget(100.0, clock=clock)
    budget.on_throttled()
    assert budget.rate == 50.0
    rates = []
    for _ in range(6):
        clock.advance(1.0)  # no request at all in this second
        rates.append(budget.rate)
    assert rates == pytest.approx([60.0, 70.0, 80.0, 90.0, 100.0, 100.0])


def test_a_storm_leaves_the_rate_where_ten_seconds_bring_it_back_to_the_target() -> None:
    """Throttled every second for 10 s, the rate settles near 10% of the target (halving
    once a second against a step of 10% a second), and is back at the target within 10 s
    of the last throttle. The numbers are the capacity ADR's table."""
    clock = FakeClock()
    budget = CapacityBudget(48.0, clock=clock)
    during = []
    for _ in range(10):
        budget.on_throttled()
        during.append(budget.rate)
        clock.advance(1.0)
    assert during[-1] == pytest.approx(0.1 * 48.0, rel=0.05)
    after = []
    for _ in range(10):
        clock.advance(1.0)
        after.append(budget.rate)
    assert after[-1] == 48.0
    assert after[3] < 48.0  # it grows, it does not jump


def test_a_throttled_budget_makes_callers_wait_longer() -> None:
    clock = FakeClock()
    budget = CapacityBudget(10.0, clock=clock)
    budget.on_throttled()  # 5 units/s, bucket of 5
    for _ in range(5):
        budget.acquire(1.0)
    budget.acquire(1.0)
    assert clock.sleeps == [pytest.approx(0.2)]


def test_set_target_follows_at_full_rate_and_clamps_when_backing_off() -> None:
    clock = FakeClock()
    budget = CapacityBudget(100.0, clock=clock)
    budget.set_target(400.0)
    assert (budget.target, budget.rate) == (400.0, 400.0)
    budget.on_throttled()
    budget.set_target(1000.0)  # backing off: keep 200 and grow from there
    assert budget.rate == 200.0
    budget.set_target(100.0)
    assert budget.rate == 100.0
    clock.advance(1.0)
    budget.on_throttled()
    budget.set_target(2000.0)  # 50 is below the new floor of 5% of 2000
    assert budget.rate == 100.0


def test_split_and_per_worker_give_each_worker_its_share() -> None:
    clock = FakeClock()
    parts = CapacityBudget(90.0, clock=clock, burst_seconds=2.0).split(3)
    assert [part.target for part in parts] == [30.0, 30.0, 30.0]
    assert len({id(part) for part in parts}) == 3
    assert per_worker(1000.0, 8) == 125.0
    with pytest.raises(ValueError, match="workers"):
        per_worker(1000.0, 0)


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan")])
def test_a_budget_needs_a_positive_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        CapacityBudget(rate, clock=FakeClock())


# --- capacity_for ---


def _provisioned(rcu: int, wcu: int) -> dict[str, Any]:
    return {
        "TableName": "customer",
        "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu},
    }


def _on_demand(**sections: Any) -> dict[str, Any]:
    return {
        "TableName": "customer",
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        **sections,
    }


def _capacity(description: dict[str, Any], **options: Any) -> tuple[float, str]:
    settings: dict[str, Any] = {
        "mode": "write",
        "percent": 0.5,
        "max_units": None,
        "on_demand_default": 4000.0,
    }
    settings.update(options)
    return capacity_for(description, **settings)


def test_provisioned_capacity_is_a_percent_of_the_provisioned_units() -> None:
    assert _capacity(_provisioned(100, 40), mode="read") == (
        50.0,
        "provisioned: 50% of 100 RCU = 50 RCU/s",
    )
    assert _capacity(_provisioned(100, 40), mode="write", percent=1.5) == (
        60.0,
        "provisioned: 150% of 40 WCU = 60 WCU/s",
    )


def test_provisioned_capacity_is_capped_by_the_users_maximum() -> None:
    units, why = _capacity(_provisioned(10000, 10000), mode="read", max_units=2000.0)
    assert units == 2000.0
    assert why == "provisioned: 50% of 10,000 RCU = 5,000 RCU/s, capped by --max-rcu at 2,000 RCU/s"


def test_on_demand_uses_the_tables_maximum_throughput_first() -> None:
    description = _on_demand(
        OnDemandThroughput={"MaxReadRequestUnits": 1000, "MaxWriteRequestUnits": 600},
        WarmThroughput={"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000},
    )
    units, why = _capacity(description, mode="write")
    assert units == 300.0
    assert why == "on-demand: 50% of the table's maximum throughput of 600 WCU/s = 300 WCU/s"
    # The maximum is a hard limit: more than 100% of it would only be throttled.
    assert _capacity(description, mode="read", percent=1.5)[0] == 1000.0


def test_on_demand_without_a_maximum_uses_the_warm_throughput() -> None:
    description = _on_demand(
        OnDemandThroughput={"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": -1},
        WarmThroughput={
            "ReadUnitsPerSecond": 12000,
            "WriteUnitsPerSecond": 4000,
            "Status": "ACTIVE",
        },
    )
    units, why = _capacity(description, mode="read")
    assert units == 6000.0
    assert why == "on-demand: 50% of the table's warm throughput of 12,000 RCU/s = 6,000 RCU/s"
    assert _capacity(description, mode="read", max_units=500.0)[0] == 500.0


def test_on_demand_without_throughput_settings_uses_the_users_maximum() -> None:
    units, why = _capacity(_on_demand(), mode="write", max_units=2500.0)
    assert (units, why) == (2500.0, "on-demand: no maximum set, using --max-wcu = 2,500 WCU/s")


def test_on_demand_without_anything_uses_the_default_and_says_how_to_change_it() -> None:
    units, why = _capacity(_on_demand(), mode="write")
    assert units == 4000.0
    assert why == (
        "on-demand: no maximum set, using the default of 4,000 WCU/s; pass --max-wcu to change"
    )


def test_a_table_reporting_no_provisioned_units_is_treated_as_on_demand() -> None:
    units, why = _capacity({"TableName": "t"}, mode="read", on_demand_default=800.0)
    assert units == 800.0
    assert "--max-rcu" in why


@pytest.mark.parametrize(
    ("mode", "percent", "flag"),
    [
        ("read", 0.05, "--read-percent"),
        ("read", 1.6, "--read-percent"),
        ("write", 0.0, "--write-percent"),
        ("write", float("nan"), "--write-percent"),
    ],
)
def test_a_percent_outside_the_range_names_the_flag(mode: str, percent: float, flag: str) -> None:
    with pytest.raises(ConfigError, match=f"{flag} .* outside the allowed range 0.1-1.5"):
        _capacity(_provisioned(100, 100), mode=mode, percent=percent)


@pytest.mark.parametrize("percent", [0.1, 1.5])
def test_the_percent_range_includes_its_ends(percent: float) -> None:
    assert _capacity(_provisioned(100, 100), percent=percent)[0] == pytest.approx(100 * percent)


def test_a_maximum_that_is_not_positive_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--max-wcu 0 is not a positive number of WCU/s"):
        _capacity(_provisioned(100, 100), max_units=0.0)
