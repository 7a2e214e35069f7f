"""A live migration through the library against moto over HTTP: ``migrate`` with
``live=True`` while a writer keeps changing the source, then ``cutover_run``; the tables are
compared item by item by the test's own comparison (tests/itemcompare.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alltypes import create_source
from ddbmigrate import api
from ddbmigrate.errors import ConfigError
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from ddbmigrate.pipeline import MigrateOptions
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None) -> LocalAWS:
    return local_aws


def changes(client: Any, table: str) -> Iterator[None]:
    """Puts, updates, deletes: two updates of one item in the same second, a delete then a
    re-insert; one change per step."""
    key = {"pk": {"S": "user-001"}, "sk": {"N": "1"}}
    for n in range(30):
        item = {"pk": {"S": f"new-{n}"}, "sk": {"N": str(n)}, "b": {"B": "AAH/"},
                "big": {"N": "12345678901234567890123456789012345678"}, "m": {"M": {}}}  # fmt: skip
        client.put_item(TableName=table, Item=item)
        yield
    for value in ("first", "second"):  # the same second: only the order tells them apart
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET city = :c, tags = :t",
            ExpressionAttributeValues={":c": {"S": value}, ":t": {"SS": [value, "x"]}},
        )
    yield
    for n in range(0, 30, 3):
        client.delete_item(TableName=table, Key={"pk": {"S": f"new-{n}"}, "sk": {"N": str(n)}})
        yield
    client.delete_item(TableName=table, Key={"pk": {"S": "user-002"}, "sk": {"N": "2"}})
    again = {"pk": {"S": "user-002"}, "sk": {"N": "2"}, "back": {"BOOL": True}, "l": {"L": []}}
    client.put_item(TableName=table, Item=again)
    yield


def later_changes(client: Any, table: str) -> Iterator[None]:
    """Changes after ``migrate`` returned: only the cutover's replay brings them over."""
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "new-1"}, "sk": {"N": "1"}},
        UpdateExpression="SET late = :l",
        ExpressionAttributeValues={":l": {"NS": ["1", "2.5"]}},
    )
    client.delete_item(TableName=table, Key={"pk": {"S": "new-2"}, "sk": {"N": "2"}})
    client.put_item(TableName=table, Item={"pk": {"S": "late"}, "sk": {"N": "0"}})
    yield


class Writer(threading.Thread):
    """Runs ``changes`` until they are all made; ``done`` waits for it."""

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(daemon=True)
        self.client, self.table = client, table
        self.failures: list[BaseException] = []
        self.client_changes: Callable[[Any, str], Iterator[None]] = changes

    def run(self) -> None:
        try:
            for _ in self.client_changes(self.client, self.table):
                pass
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failures.append(exc)

    def done(self) -> None:
        self.join(timeout=120)
        assert not self.is_alive()
        assert self.failures == []


class StartsWriter(api.NullObserver):
    """Starts the writer once the run recorded its start point: every change is made
    during the copy, after the stream began."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def message(self, text: str) -> None:
        if text.startswith("stream ") and not self.writer.is_alive():
            self.writer.start()


SOURCE_ITEMS = 12
AFTER_CHANGES = SOURCE_ITEMS + 30 - 10 - 1 + 1


def test_live_migrate_then_cutover_leaves_identical_tables(aws: LocalAWS) -> None:
    table = f"live-{uuid.uuid4().hex[:8]}"
    source_client = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
    dest_client = dynamodb_client(aws.endpoint_url, DEST_ROLE)
    create_source(source_client, table, items=SOURCE_ITEMS)
    staging = api.StagingOptions(url=f"s3://{BUCKET}/{table}/")
    writer = Writer(source_client, table)

    report = api.migrate(
        source=aws.source,
        dest=aws.dest,
        staging=staging,
        options=MigrateOptions(source_table=table, dest_table=table, live=True),
        observer=StartsWriter(writer),
    )
    writer.done()
    after = Writer(source_client, table)  # replayed by the cutover only
    after.client_changes = later_changes
    after.start()
    after.done()
    run_id = _run_of(aws, staging)
    assert report.validation is None
    assert report.live is not None
    done = api.cutover_run(
        run_id=run_id, staging=staging, source=aws.source, dest=aws.dest, source_stopped=True
    )

    assert done.validation.matches, done.validation.to_dict()
    assert done.validation.source_count == AFTER_CHANGES
    assert_same_items(source_client, table, dest_client, table, count=AFTER_CHANGES)
    assert done.status.applied >= 30 + 2 + 10 + 2 + 3  # every change, and the sentinel's
    assert done.stream_disabled
    stream = source_client.describe_table(TableName=table)["Table"].get("StreamSpecification")
    assert not (stream or {}).get("StreamEnabled")


def test_cutover_refuses_without_source_stopped_and_a_run_that_is_not_live(
    aws: LocalAWS,
) -> None:
    staging = api.StagingOptions(url=f"s3://{BUCKET}/not-live-{uuid.uuid4().hex[:8]}/")
    with pytest.raises(ConfigError, match="writes to the source table stopped") as refused:
        api.cutover_run(
            run_id="x", staging=staging, source=aws.source, dest=aws.dest, source_stopped=False
        )
    assert "--source-stopped" in str(refused.value.hint)


def _run_of(aws: LocalAWS, staging: api.StagingOptions) -> str:
    (found,) = api.status(staging=staging, side=aws.dest)
    return found.run_id
