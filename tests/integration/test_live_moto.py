"""The live replay against moto server over HTTP: a source changing while it is replayed.

moto's streams have one shard that never splits or closes (lineage is tested on the fake,
tests/unit/test_live_replay.py); what this proves is the wire: DescribeTable, UpdateTable,
DescribeStream, GetShardIterator (TRIM_HORIZON and AFTER_SEQUENCE_NUMBER), GetRecords,
images in wire form, and the writes to another account, compared by tests/itemcompare.py.
moto only: dynalite has no DynamoDB Streams.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alltypes import create_source
from ddbmigrate.aws import DynamoTableWriter, WireClient, open_side
from ddbmigrate.aws.streams import DynamoStreams
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.errors import StreamUnusableError
from ddbmigrate.live import (
    Replay,
    ShardCheckpoints,
    StreamStart,
    check_stream,
    cutover,
    start_stream,
)
from ddbmigrate.live.start import check_description
from ddbmigrate.model import KeySchema
from ddbmigrate.stores.local import LocalStore
from itemcompare import assert_same_items, dynamodb_client
from livechanges import changes

pytestmark = pytest.mark.integration

SOURCE_ACCOUNT = "111111111111"
DEST_ACCOUNT = "222222222222"
SideFor = Callable[[str], Side]
ROLE = "arn:aws:iam::{}:role/ddbmigrate-test"


def _copy(source: Any, dest: Any, table: str) -> None:
    """The copy a live migration makes after its start point (here without staging)."""
    dest.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for page in source.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            dest.put_item(TableName=table, Item=item)


def _replay_until(replay: Replay, stop: threading.Event, failures: list[BaseException]) -> None:
    try:
        while not stop.is_set():
            replay.catch_up(stop)
            stop.wait(0.1)
    except BaseException as exc:  # noqa: BLE001 - reported by the test, not lost in the thread
        failures.append(exc)


def test_a_source_changed_during_the_replay_ends_identical(
    side_for: SideFor, moto_server: Any, tmp_path: Path
) -> None:
    table = f"live-{uuid.uuid4().hex[:8]}"
    source_side, dest_side = side_for(SOURCE_ACCOUNT), side_for(DEST_ACCOUNT)
    source, dest = open_side(source_side), open_side(dest_side)
    source_client = dynamodb_client(moto_server.endpoint_url, ROLE.format(SOURCE_ACCOUNT))
    dest_client = dynamodb_client(moto_server.endpoint_url, ROLE.format(DEST_ACCOUNT))
    create_source(source_client, table, items=20)
    clock = SystemClock()
    start = start_stream(DynamoStreams(source), table, clock=clock, timeout=60)
    _copy(source_client, dest_client, table)
    replay = Replay(
        streams=DynamoStreams(source),
        start=StreamStart.from_json(start.to_json()),
        writer=DynamoTableWriter(WireClient(dest), table),
        checkpoints=ShardCheckpoints(LocalStore(str(tmp_path)), "ddbmigrate/runs/live"),
        clock=clock,
    )
    stop, failures = threading.Event(), []
    worker = threading.Thread(target=_replay_until, args=(replay, stop, failures))
    worker.start()
    try:
        for _ in changes(source_client, table, new=40, delete_every=4):
            pass
    finally:
        stop.set()
        worker.join(timeout=120)
    assert failures == []
    key = KeySchema.from_description(source_client.describe_table(TableName=table)["Table"])

    result = cutover(
        replay=replay,
        source=DynamoTableWriter(WireClient(source), table),
        key=key,
        clock=clock,
        timeout=120,
    )

    assert_same_items(source_client, table, dest_client, table, count=20 + 40 - 10)
    assert result.status.applied == 40 + 2 + 10 + 2 + 2  # sentinel put and delete included
    assert result.status.lag is not None
    assert start.enabled_by_us
    assert start.view_type == "NEW_AND_OLD_IMAGES"


def _table(client: Any, stream: dict[str, Any] | None) -> str:
    name = f"live-bad-{uuid.uuid4().hex[:8]}"
    extra = {"StreamSpecification": stream} if stream else {}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


def test_a_keys_only_stream_is_refused(side_for: SideFor, moto_server: Any) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    client = session.client("dynamodb")
    table = _table(client, {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})

    with pytest.raises(StreamUnusableError, match="records KEYS_ONLY"):
        start_stream(DynamoStreams(session), table, clock=SystemClock(), timeout=30)


def test_a_disabled_stream_and_another_tables_stream_are_refused(
    side_for: SideFor, moto_server: Any
) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    client = session.client("dynamodb")
    streams = DynamoStreams(session)
    table, other = _table(client, None), _table(client, None)
    start = start_stream(streams, table, clock=SystemClock(), timeout=30)
    other_start = start_stream(streams, other, clock=SystemClock(), timeout=30)

    with pytest.raises(StreamUnusableError, match=f"belongs to table '{other}'"):
        check_description(streams.describe_stream(other_start.arn), table)
    streams.disable_stream(table)
    with pytest.raises(StreamUnusableError, match="is disabled"):
        check_stream(streams, start)


def test_a_new_replay_resumes_after_the_checkpoint_over_the_wire(
    side_for: SideFor, moto_server: Any, tmp_path: Path
) -> None:
    source = open_side(side_for(SOURCE_ACCOUNT))
    client = source.client("dynamodb")
    table = _table(client, None)
    dest = _table(client, None)
    start = start_stream(DynamoStreams(source), table, clock=SystemClock(), timeout=30)
    store = LocalStore(str(tmp_path))

    def replay() -> Replay:
        return Replay(
            streams=DynamoStreams(source),
            start=start,
            writer=DynamoTableWriter(WireClient(source), dest),
            checkpoints=ShardCheckpoints(store, "ddbmigrate/runs/resume"),
            clock=SystemClock(),
        )

    for n in range(5):
        client.put_item(TableName=table, Item={"pk": {"S": f"a{n}"}})
    first = replay().catch_up()
    for n in range(3):
        client.put_item(TableName=table, Item={"pk": {"S": f"b{n}"}})
    second = replay().catch_up()  # AFTER_SEQUENCE_NUMBER from the stored checkpoint

    assert (first, second) == (5, 3)
    assert client.scan(TableName=dest)["Count"] == 8
