"""The capacity boost (ddbmigrate.boost) on the in-memory CapacityPort: what is recorded,
raised and restored, DynamoDB's limit on decreases per day, and a restore after a crash."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ddbmigrate.boost import (
    Boost,
    BoostJournal,
    ScalingTarget,
    Units,
    boosted,
    read_capacity,
    restore_pending,
)
from ddbmigrate.boost_limits import next_decrease_at
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.errors import AccessDeniedError, Interrupted
from ddbmigrate.testing import FakeClock, MemoryStore
from ddbmigrate.testing.capacity import FakeCapacityPort

RUN = "20260101T000000Z-boost"
NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def provisioned(**extra: Any) -> dict[str, Any]:
    return {
        "TableName": "orders",
        "TableStatus": "ACTIVE",
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5, **extra},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by-day",
                "IndexStatus": "ACTIVE",
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
            }
        ],
    }


def on_demand() -> dict[str, Any]:
    return {
        "TableName": "orders",
        "TableStatus": "ACTIVE",
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "OnDemandThroughput": {"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": 100},
    }


def make(description: dict[str, Any], clock: FakeClock | None = None) -> tuple[Boost, MemoryStore]:
    clock = clock or FakeClock(epoch=NOON)
    store = MemoryStore()
    journal = BoostJournal(store, f"ddbmigrate/runs/{RUN}", "dest", "orders")
    port = FakeCapacityPort(description, clock)
    return Boost(port=port, journal=journal, clock=clock), store


def units(boost: Boost) -> dict[str, Units]:
    return read_capacity(boost.port, "orders").provisioned


def test_provisioned_capacity_is_raised_for_the_block_and_restored_after() -> None:
    boost, store = make(provisioned())

    with boosted(boost, "write", 500) as run:
        assert units(boost) == {"": Units(5, 500), "by-day": Units(3, 500)}
        recorded = orjson.loads(store.get(boost.journal.key))
        assert recorded["state"] == "raised"
        assert recorded["record"]["provisioned"] == {"": [5, 5], "by-day": [3, 4]}

    assert len(run.changes) == 2
    assert run.result is not None
    assert run.result.restored
    assert units(boost) == {"": Units(5, 5), "by-day": Units(3, 4)}
    assert orjson.loads(store.get(boost.journal.key))["state"] == "restored"


def test_the_record_is_written_before_anything_is_raised() -> None:
    boost, store = make(provisioned())
    seen: list[str] = []

    class Spy(FakeCapacityPort):
        def set_provisioned(self, table: str, index: str, units: Units) -> None:
            seen.append(orjson.loads(store.get(boost.journal.key))["state"])
            super().set_provisioned(table, index, units)

    boost.port = Spy(provisioned(), boost.clock)
    boost.raise_for_run("write", 100)

    assert seen == ["recorded", "recorded"]


def test_the_outlook_the_raise_and_the_restore_each_read_the_table_once() -> None:
    boost, _ = make(provisioned())
    reads: list[str] = []

    class Counting(FakeCapacityPort):
        def describe(self, table: str) -> dict[str, Any]:
            reads.append("DescribeTable")
            return super().describe(table)

        def scaling_targets(self, table: str, indexes: Sequence[str]) -> list[ScalingTarget]:
            reads.append(f"DescribeScalableTargets {','.join(indexes)}")
            return super().scaling_targets(table, indexes)

    boost.port = Counting(provisioned(), boost.clock)
    boost.outlook("write", 100)
    assert reads == ["DescribeTable", "DescribeScalableTargets by-day"]
    for step in (lambda: boost.raise_for_run("write", 100), boost.restore):
        reads.clear()
        step()
        assert reads == ["DescribeTable", "DescribeScalableTargets by-day"]


def test_auto_scaling_min_and_max_are_raised_and_restored() -> None:
    boost, _ = make(provisioned())
    port = boost.port
    assert isinstance(port, FakeCapacityPort)
    port.targets = [ScalingTarget("table/orders", "dynamodb:table:WriteCapacityUnits", 5, 50)]

    with boosted(boost, "write", 400):
        assert port.targets == [
            ScalingTarget("table/orders", "dynamodb:table:WriteCapacityUnits", 400, 400)
        ]

    assert port.targets == [
        ScalingTarget("table/orders", "dynamodb:table:WriteCapacityUnits", 5, 50)
    ]
    assert port.calls[0].startswith("scaling")  # before the units, or it would undo them


def test_an_on_demand_maximum_is_raised_and_restored() -> None:
    boost, _ = make(on_demand())

    with boosted(boost, "write", 4000):
        assert read_capacity(boost.port, "orders").on_demand == {"": Units(-1, 4000)}

    assert read_capacity(boost.port, "orders").on_demand == {"": Units(-1, 100)}
    assert read_capacity(boost.port, "orders").billing_mode == "PAY_PER_REQUEST"


@pytest.mark.parametrize("error", [RuntimeError("the import failed"), Interrupted()])
def test_a_failed_or_interrupted_block_restores_and_keeps_its_error(error: BaseException) -> None:
    boost, _ = make(provisioned())

    with pytest.raises(type(error)), boosted(boost, "read", 300):
        raise error

    assert units(boost) == {"": Units(5, 5), "by-day": Units(3, 4)}


def test_a_resumed_boost_restores_the_original_not_the_raised_capacity() -> None:
    boost, _ = make(provisioned())
    boost.raise_for_run("write", 500)
    again = Boost(port=boost.port, journal=boost.journal, clock=boost.clock)  # the process died

    again.raise_for_run("write", 500)
    again.restore()

    assert units(again) == {"": Units(5, 5), "by-day": Units(3, 4)}


def test_restore_pending_after_a_crash_restores_from_the_ledger() -> None:
    boost, store = make(provisioned())
    boost.raise_for_run("write", 500)
    port = boost.port
    del boost  # the process state is gone; only the store and the table remain

    ledger = Ledger(store, RUN, FakeClock(epoch=NOON))
    results = restore_pending(ledger, lambda side: port)

    assert [(r.side, r.table, r.restored) for r in results] == [("dest", "orders", True)]
    assert read_capacity(port, "orders").provisioned["by-day"] == Units(3, 4)
    assert restore_pending(ledger, lambda side: port) == []  # nothing left to restore


def test_a_refused_decrease_leaves_a_pending_restore_with_its_time() -> None:
    # Four decreases already today, the last ten minutes ago: the next one at 12:50.
    last = {"NumberOfDecreasesToday": 4, "LastDecreaseDateTime": "2026-01-01T11:50:00+00:00"}
    clock = FakeClock(epoch=NOON)
    boost, store = make(provisioned(**last), clock)

    assert boost.outlook("write", 500) == [
        "DynamoDB allows no decrease of table 'orders' before 2026-01-01T12:50:00Z: the "
        "capacity stays raised until then, recorded in the run; `ddbmigrate resume` or "
        "`ddbmigrate cleanup` restores it after that time"
    ]
    with boosted(boost, "write", 500) as run:
        pass

    assert run.result is not None
    assert (run.result.restored, run.result.not_before) == (False, "2026-01-01T12:50:00Z")

    body = orjson.loads(store.get(boost.journal.key))
    assert (body["state"], body["not_before"]) == ("pending", "2026-01-01T12:50:00Z")
    assert units(boost)[""] == Units(5, 500)

    ledger = Ledger(store, RUN, clock)
    early = restore_pending(ledger, lambda side: boost.port)
    assert [(r.restored, r.not_before) for r in early] == [(False, "2026-01-01T12:50:00Z")]
    assert units(boost)[""] == Units(5, 500)

    clock.advance(3600)
    assert [r.restored for r in restore_pending(ledger, lambda side: boost.port)] == [True]
    assert units(boost)[""] == Units(5, 5)


@pytest.mark.parametrize(
    ("today", "last", "expected"),
    [
        (0, None, None),
        (3, "2026-01-01T11:59:00Z", None),
        (4, "2026-01-01T11:59:00Z", datetime(2026, 1, 1, 12, 59, tzinfo=UTC)),
        (4, "2026-01-01T10:00:00Z", None),
        (27, "2026-01-01T01:00:00Z", datetime(2026, 1, 2, tzinfo=UTC)),
        (27, "2025-12-31T23:00:00Z", None),  # another UTC day: the count starts again
    ],
)
def test_the_decrease_rule(today: int, last: str | None, expected: datetime | None) -> None:
    throughput = {"NumberOfDecreasesToday": today, "LastDecreaseDateTime": last}
    assert next_decrease_at(throughput, NOON) == expected


def test_a_raise_that_stops_half_way_is_undone() -> None:
    boost, _ = make(provisioned())

    class Denied(FakeCapacityPort):
        def set_provisioned(self, table: str, index: str, units: Units) -> None:
            if index == "by-day" and units.write > 4:
                raise AccessDeniedError("UpdateTable of index by-day: AccessDenied")
            super().set_provisioned(table, index, units)

    boost.port = Denied(provisioned(), boost.clock)
    with pytest.raises(AccessDeniedError), boosted(boost, "write", 500):
        pytest.fail("the block must not run")

    assert units(boost) == {"": Units(5, 5), "by-day": Units(3, 4)}


def test_a_pending_restore_of_an_index_names_the_index_until_its_time() -> None:
    description = provisioned()
    last = {"NumberOfDecreasesToday": 4, "LastDecreaseDateTime": "2026-01-01T11:50:00+00:00"}
    description["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"].update(last)
    clock = FakeClock(epoch=NOON)
    boost, store = make(description, clock)
    with boosted(boost, "write", 500) as run:
        pass
    assert run.result is not None
    assert "index 'by-day'" in run.result.message

    early = restore_pending(Ledger(store, RUN, clock), lambda side: boost.port)
    assert [r.message.split(" before ")[0] for r in early] == [
        "DynamoDB allows no decrease of table 'orders' index 'by-day'"
    ]
