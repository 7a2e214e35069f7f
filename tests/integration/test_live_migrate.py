"""A live migration through the library against moto over HTTP: ``migrate`` with
``live=True`` while a writer keeps changing the source, then ``cutover_run``; the tables are
compared item by item by the test's own comparison (tests/itemcompare.py). moto only: dynalite
has no DynamoDB Streams."""

from __future__ import annotations

import uuid

import pytest

from alltypes import create_source
from ddbmigrate import api
from ddbmigrate.errors import ConfigError
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from ddbmigrate.pipeline import MigrateOptions
from itemcompare import assert_same_items, dynamodb_client
from livechanges import AFTER_CHANGES, SOURCE_ITEMS, Writer, later_changes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None) -> LocalAWS:
    return local_aws


class StartsWriter(api.NullObserver):
    """Starts the writer once the run recorded its start point: every change is made
    during the copy, after the stream began."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def message(self, text: str) -> None:
        if text.startswith("stream ") and not self.writer.is_alive():
            self.writer.start()


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
    (listed,) = api.status(staging=staging, side=aws.dest)
    assert listed.finished
    assert listed.live is not None
    assert listed.live["applied"] == done.status.applied
    assert listed.live["shards_open"] == 1  # moto's one shard never closes
    assert any(line.startswith("  replay    ") for line in listed.lines())
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
