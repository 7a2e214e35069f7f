"""The capacity boost through ``ddbmigrate.aws.boost`` against moto server over HTTP:
UpdateTable of a table and its GSI, Application Auto Scaling targets, a restore from the
run ledger after the process state is gone. (moto keeps no OnDemandThroughput and counts
no decreases: the on-demand maximum and the per-day limit are tested on the in-memory
port, tests/unit/test_boost.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ddbmigrate.aws.boost import BotoCapacityPort
from ddbmigrate.aws.session import SideSession
from ddbmigrate.boost import (
    Boost,
    BoostJournal,
    Direction,
    boosted,
    read_capacity,
    restore_pending,
)
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.config import Side
from ddbmigrate.stores.local import LocalStore
from ddbmigrate.testing import FakeClock

pytestmark = pytest.mark.integration

DEST_ACCOUNT = "222222222222"
RUN = "20260101T000000Z-boost"
SCALING = "application-autoscaling"


@pytest.fixture
def dest(side_for: Callable[[str], Side]) -> SideSession:
    return SideSession(side_for(DEST_ACCOUNT))


def create(dest: SideSession, *, provisioned: bool) -> str:
    name = f"boost-{uuid.uuid4().hex[:8]}"
    keys: dict[str, Any] = {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "day", "AttributeType": "S"},
        ],
    }
    index: dict[str, Any] = {
        "IndexName": "by-day",
        "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    if provisioned:
        index["ProvisionedThroughput"] = {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}
        mode: dict[str, Any] = {
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        }
    else:
        mode = {"BillingMode": "PAY_PER_REQUEST"}
    dest.client("dynamodb").create_table(
        TableName=name, GlobalSecondaryIndexes=[index], **keys, **mode
    )
    return name


def boost_of(dest: SideSession, store: LocalStore, table: str) -> Boost:
    clock = FakeClock()
    journal = BoostJournal(store, f"ddbmigrate/runs/{RUN}", "dest", table)
    return Boost(port=BotoCapacityPort(dest, clock=clock), journal=journal, clock=clock)


def throughput(dest: SideSession, table: str) -> list[tuple[int, int]]:
    description = dest.client("dynamodb").describe_table(TableName=table)["Table"]
    blocks = [description["ProvisionedThroughput"]] + [
        i["ProvisionedThroughput"] for i in description.get("GlobalSecondaryIndexes", [])
    ]
    return [(b["ReadCapacityUnits"], b["WriteCapacityUnits"]) for b in blocks]


def scaling(dest: SideSession, table: str) -> list[tuple[str, int, int]]:
    targets = dest.client(SCALING).describe_scalable_targets(
        ServiceNamespace="dynamodb", ResourceIds=[f"table/{table}"]
    )["ScalableTargets"]
    return [(t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]) for t in targets]


@pytest.mark.parametrize(
    ("direction", "raised"), [("write", [(5, 600), (3, 600)]), ("read", [(600, 5), (600, 4)])]
)
def test_a_provisioned_table_and_its_index_are_raised_then_restored(
    dest: SideSession, tmp_path: Path, direction: Direction, raised: list[tuple[int, int]]
) -> None:
    table = create(dest, provisioned=True)
    boost = boost_of(dest, LocalStore(str(tmp_path)), table)

    with boosted(boost, direction, 600):
        assert throughput(dest, table) == raised

    assert throughput(dest, table) == [(5, 5), (3, 4)]


def test_auto_scaling_targets_are_restored(dest: SideSession, tmp_path: Path) -> None:
    table = create(dest, provisioned=True)
    dest.client(SCALING).register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{table}",
        ScalableDimension="dynamodb:table:WriteCapacityUnits",
        MinCapacity=5,
        MaxCapacity=50,
    )
    boost = boost_of(dest, LocalStore(str(tmp_path)), table)

    with boosted(boost, "write", 200):
        assert scaling(dest, table) == [("dynamodb:table:WriteCapacityUnits", 200, 200)]

    assert scaling(dest, table) == [("dynamodb:table:WriteCapacityUnits", 5, 50)]
    assert throughput(dest, table)[0] == (5, 5)


def test_an_on_demand_table_is_recorded_and_left_alone(dest: SideSession, tmp_path: Path) -> None:
    table = create(dest, provisioned=False)
    store = LocalStore(str(tmp_path))
    boost = boost_of(dest, store, table)

    with boosted(boost, "write", 1000) as run:
        assert run.changes == []  # no maximum to raise; the billing mode is never switched

    body = orjson.loads(store.get(boost.journal.key))
    assert body["record"]["billing_mode"] == "PAY_PER_REQUEST"
    assert body["state"] == "restored"
    assert read_capacity(boost.port, table).billing_mode == "PAY_PER_REQUEST"


def test_a_crash_after_the_raise_is_restored_from_the_ledger(
    dest: SideSession, tmp_path: Path
) -> None:
    table = create(dest, provisioned=True)
    boost_of(dest, LocalStore(str(tmp_path)), table).raise_for_run("write", 700)
    assert throughput(dest, table) == [(5, 700), (3, 700)]

    # A new process: only the staging folder and the table are left.
    ledger = Ledger(LocalStore(str(tmp_path)), RUN, FakeClock())
    results = restore_pending(ledger, lambda side: BotoCapacityPort(dest, clock=FakeClock()))

    assert [(r.side, r.table, r.restored) for r in results] == [("dest", table, True)]
    assert throughput(dest, table) == [(5, 5), (3, 4)]
