"""Budgets from throughput options and table descriptions; capacity re-reads."""

from __future__ import annotations

from typing import Any

import pytest

from ddbmigrate.capacity import CapacityWatcher, ThroughputOptions, make_budgets
from ddbmigrate.errors import ConfigError, ThrottledError
from ddbmigrate.ports import TableSchema
from ddbmigrate.testing import FakeClock
from ddbmigrate.throttle import CapacityBudget


def provisioned(rcu: int, wcu: int) -> TableSchema:
    desc: dict[str, Any] = {
        "TableName": "t",
        "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu},
    }
    return TableSchema(description=desc)


def test_budgets_take_the_share_asked_of_each_side() -> None:
    budgets = make_budgets(
        provisioned(200, 10),
        provisioned(50, 100),
        ThroughputOptions(read_percent=0.8, write_percent=0.5),
        FakeClock(),
    )
    assert isinstance(budgets.source_read, CapacityBudget)
    assert budgets.source_read.target == pytest.approx(160)
    assert isinstance(budgets.dest_write, CapacityBudget)
    assert budgets.dest_write.target == pytest.approx(50)
    assert budgets.notes[0].startswith("source reads   provisioned: 80% of 200 RCU")


def test_a_new_destination_is_budgeted_like_the_source() -> None:
    budgets = make_budgets(provisioned(10, 40), None, ThroughputOptions(), FakeClock())
    assert isinstance(budgets.dest_write, CapacityBudget)
    assert budgets.dest_write.target == pytest.approx(20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"read_percent": 0.05}, "--read-percent 0.05 is outside 0.1-1.5"),
        ({"write_percent": 2.0}, "--write-percent 2.0 is outside 0.1-1.5"),
        ({"max_wcu": 0.0}, "--max-wcu 0.0 must be above 0"),
    ],
)
def test_bad_throughput_options_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ThroughputOptions(**kwargs)


def test_watcher_moves_the_target_when_auto_scaling_moves_capacity() -> None:
    budget = CapacityBudget(50.0, clock=FakeClock())
    tables = [provisioned(100, 300)]
    watcher = CapacityWatcher(
        read_schema=lambda: tables[-1], budget=budget, mode="write", percent=0.5, cap=None
    )
    watcher.refresh()
    assert budget.target == pytest.approx(150)

    def failing() -> TableSchema:
        raise ThrottledError("DescribeTable throttled")

    CapacityWatcher(
        read_schema=failing, budget=budget, mode="write", percent=0.5, cap=None
    ).refresh()
    assert budget.target == pytest.approx(150), "a failed re-read keeps the old target"
