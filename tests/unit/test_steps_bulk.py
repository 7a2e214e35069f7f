"""What a run says around its boost (ddbmigrate.steps.bulk.boost_around), on the in-memory
capacity port: the outlook before the raise, each change, and how the restore went."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ddbmigrate.boost import Boost, BoostJournal
from ddbmigrate.ports import NullObserver
from ddbmigrate.steps.bulk import BoostRequest, boost_around
from ddbmigrate.testing import FakeClock, MemoryStore
from ddbmigrate.testing.capacity import FakeCapacityPort

NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class RecordingObserver(NullObserver):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def message(self, text: str) -> None:
        self.messages.append(text)


def request(**throughput: Any) -> BoostRequest:
    clock = FakeClock(epoch=NOON)
    description = {
        "TableName": "orders",
        "TableStatus": "ACTIVE",
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5, **throughput},
    }
    journal = BoostJournal(MemoryStore(), "ddbmigrate/runs/r", "dest", "orders")
    boost = Boost(port=FakeCapacityPort(description, clock), journal=journal, clock=clock)
    return BoostRequest(boost, "write", 100)


def test_the_raise_and_the_restore_are_said() -> None:
    observer = RecordingObserver()
    with boost_around(request(), observer) as run:
        assert run is not None
        assert run.changes
    assert observer.messages == [
        "boost dest: raised table 'orders' provisioned: read 5 write 5 -> read 5 write 100",
        "boost dest: table 'orders' restored to what was recorded",
    ]


def test_a_restore_that_must_wait_says_until_when_before_and_after() -> None:
    last = {"NumberOfDecreasesToday": 4, "LastDecreaseDateTime": "2026-01-01T11:50:00+00:00"}
    observer = RecordingObserver()
    with pytest.raises(RuntimeError), boost_around(request(**last), observer):
        raise RuntimeError("the import failed")
    before, raised, after = observer.messages
    assert before.startswith("boost dest: DynamoDB allows no decrease of table 'orders' before")
    assert "2026-01-01T12:50:00Z" in before
    assert raised.startswith("boost dest: raised")
    assert after.startswith("boost dest: table 'orders' provisioned: read 5 write 100 -> ")
    assert "refused" in after
    assert "2026-01-01T12:50:00Z" in after


def test_no_boost_asked_changes_nothing() -> None:
    observer = RecordingObserver()
    with boost_around(None, observer) as run:
        assert run is None
    assert observer.messages == []


def test_on_raise_is_called_once_the_capacity_is_raised() -> None:
    seen: list[int] = []
    asked = request()

    def budget_rereads() -> None:
        seen.append(
            asked.boost.port.describe("orders")["ProvisionedThroughput"]["WriteCapacityUnits"]
        )

    with boost_around(replace(asked, on_raise=budget_rereads), RecordingObserver()):
        assert seen == [100]
    assert seen == [100]
