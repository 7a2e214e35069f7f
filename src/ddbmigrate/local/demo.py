"""``ddbmigrate demo`` and ``ddbmigrate local up``: the real tool against the embedded AWS."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Protocol

from ddbmigrate import api
from ddbmigrate.aws.dynamodb import DynamoTableReader, DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.config import Side
from ddbmigrate.engines.local import default_workers
from ddbmigrate.errors import FatalError
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import (
    BUCKET,
    DEST_ACCOUNT,
    DEST_ROLE,
    README_BUCKET,
    SOURCE_ACCOUNT,
    SOURCE_ROLE,
    LocalAWS,
    add_staging_bucket,
    base_credentials,
    running,
)
from ddbmigrate.local.profiles import ProfileFiles, write_profiles
from ddbmigrate.model import Item, Segment
from ddbmigrate.pipeline import MigrateOptions, MigrateReport
from ddbmigrate.ports import Observer

DEMO_TABLE = "customer"


class Printer(Protocol):
    def print(self, text: str, *, markup: bool = ...) -> None: ...


def create_customer_table(env: LocalAWS, items: list[Item], *, table: str = DEMO_TABLE) -> None:
    """The walkthrough's table: key (name, city), a GSI, TTL and tags, filled with ``items``."""
    ddb = env.client(SOURCE_ROLE, "dynamodb")
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "name", "KeyType": "HASH"},
            {"AttributeName": "city", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "name", "AttributeType": "S"},
            {"AttributeName": "city", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-city",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "team", "Value": "payments"}],
    )
    ddb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    put_items(env, table, items)


def put_items(env: LocalAWS, table: str, items: list[Item]) -> None:
    """Write wire-form items through our own data plane (boto3 would re-encode binary)."""
    writer = DynamoTableWriter(WireClient(SideSession(env.source)), table)
    for start in range(0, len(items), 25):
        pending = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        for _ in range(20):
            pending = writer.batch_write(pending).unprocessed
            if not pending:
                break
        if pending:
            raise FatalError(f"could not load the demo items into {table!r}")


def scan_items(side: Side, table: str) -> list[Item]:
    """Every item of ``table`` in wire form, read with consistent reads (for checks)."""
    reader = DynamoTableReader(WireClient(SideSession(side)), table)
    items: list[Item] = []
    start: Item | None = None
    while True:
        page = reader.scan(segment=Segment(0, 1), start_key=start, consistent=True)
        items.extend(page.items)
        start = page.last_key
        if start is None:
            return items


def run_demo(*, items: int, workers: int | None, threads: int, observer: Observer) -> MigrateReport:
    """Start the embedded AWS, fill the source, migrate and validate; return the report."""
    with running() as env, base_credentials(env):
        observer.message(
            f"embedded AWS at {env.endpoint_url}: source account {SOURCE_ACCOUNT}, "
            f"destination account {DEST_ACCOUNT}, staging {env.staging}"
        )
        create_customer_table(env, customer_items(items))
        observer.message(f"source table {DEMO_TABLE!r} holds {items:,} items of every type")
        report = api.migrate(
            source=env.source,
            dest=env.dest,
            staging=api.StagingOptions(url=env.staging),
            options=MigrateOptions(
                source_table=DEMO_TABLE,
                dest_table=DEMO_TABLE,
                workers=default_workers() if workers is None else workers,
                threads=threads,
            ),
            observer=observer,
        )
    return report


def usage_text(env: LocalAWS, files: ProfileFiles) -> str:
    """How to point the CLI at a running embedded AWS: one export line, then a command."""
    exports = " ".join(f"{k}={v}" for k, v in files.env.items())
    return f"""Embedded AWS running at {env.endpoint_url} (Ctrl-C stops it)
  source account       {SOURCE_ACCOUNT}  profile a  role {SOURCE_ROLE}
                       table {DEMO_TABLE!r} (key name, city)
  destination account  {DEST_ACCOUNT}  profile b  role {DEST_ROLE}
  staging buckets      s3://{BUCKET}/ and s3://{README_BUCKET}/
                       (owned by {DEST_ACCOUNT}; the source role may write)
  AWS config files     {files.config} and {files.credentials.name} beside it
                       (profiles a and b; removed when this stops)

In another shell:
  export {exports}
  ddbmigrate migrate --source-profile a --source-table {DEMO_TABLE} \\
    --dest-profile b --staging s3://{README_BUCKET}/migrations/
"""


def serve_forever(*, port: int | None, out: Printer, items: int = 1000) -> None:
    """Run the embedded AWS with the demo table until Ctrl-C."""
    with (
        running(port=port) as env,
        base_credentials(env),
        tempfile.TemporaryDirectory(prefix="ddbmigrate-local-") as directory,
    ):
        add_staging_bucket(env, README_BUCKET)
        create_customer_table(env, customer_items(items))
        files = write_profiles(env, Path(directory))
        out.print(usage_text(env, files), markup=False)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            out.print("stopping the embedded AWS", markup=False)
