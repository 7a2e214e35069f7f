"""AWS's managed export/import (ddbmigrate.aws.native_paths) against moto server over HTTP.

moto's gaps (see the module docstring of native_paths): its export writes one data file under
a folder unrelated to the ExportArn and no manifests; its ImportTable ignores the bucket owner
and SSE, and its JSON parser (py_partiql_parser 0.6) silently drops the first line holding an
empty map ``{"M": {}}`` and every line after it in that file. AWS accepts empty maps, so the
import test leaves the demo items' one empty map out. The tests assert what AWS does and what
ddbmigrate does about moto, never moto's quirks as if they were AWS's behaviour.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable
from typing import Any, cast

import orjson
import pytest

from ddbmigrate import schema as schemas
from ddbmigrate.aws.dynamodb import DynamoAdmin, DynamoTableReader, DynamoTableWriter
from ddbmigrate.aws.native_paths import (
    apply_after_import,
    check_importable,
    data_prefix_of,
    export_dir_of,
    find_export_dir,
    start_native_export,
    start_native_import,
    wait_native_export,
    wait_native_import,
)
from ddbmigrate.aws.s3 import S3Store
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.config import Side
from ddbmigrate.errors import FatalError, NotFoundError
from ddbmigrate.exporter import ExportOptions, export_table
from ddbmigrate.formats import native
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.model import Item, Segment, StoreURL
from ddbmigrate.ports import TableSchema
from ddbmigrate.testing import FakeClock
from tables import CUSTOMER_KEY as KEY

pytestmark = pytest.mark.integration

SOURCE_ACCOUNT = "111111111111"  # the accounts the side_for fixture (conftest.py) acts as
DEST_ACCOUNT = "222222222222"
# Fake time: polling costs no sleep, and moto finishes its jobs in milliseconds of real time.
WAIT = {"timeout": 3600.0, "poll": 1.0}

SideFor = Callable[[str], Side]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def source(side_for: SideFor) -> SideSession:
    return SideSession(side_for(SOURCE_ACCOUNT))


@pytest.fixture
def dest(side_for: SideFor) -> SideSession:
    return SideSession(side_for(DEST_ACCOUNT))


@pytest.fixture
def bucket(dest: SideSession) -> str:
    """A staging bucket owned by the destination account."""
    name = unique("native-staging")
    dest.client("s3").create_bucket(Bucket=name)
    return name


def create_table(session: SideSession, table: str, *, pitr: bool, **extra: Any) -> str:
    """A (name, city) table; returns its ARN."""
    ddb = session.client("dynamodb")
    request = {"BillingMode": "PAY_PER_REQUEST", **KEY, **extra}
    arn = str(ddb.create_table(TableName=table, **request)["TableDescription"]["TableArn"])
    if pitr:
        spec = {"PointInTimeRecoveryEnabled": True}
        ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification=spec)
    return arn


def put_items(session: SideSession, table: str, items: list[Item]) -> None:
    """Through the wire client: boto3 would re-encode binary."""
    writer = DynamoTableWriter(WireClient(session), table)
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        assert writer.batch_write(batch).unprocessed == []


def scan_by_key(session: SideSession, table: str) -> dict[tuple[str, str], bytes]:
    """Key -> exact JSON bytes of the item as DynamoDB returned it."""
    reader = DynamoTableReader(WireClient(session), table)
    found: dict[tuple[str, str], bytes] = {}
    start: Item | None = None
    while True:
        page = reader.scan(segment=Segment(0, 1), start_key=start, consistent=True)
        for item in page.items:
            key = (item["name"]["S"], item["city"]["S"])
            found[key] = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
        start = page.last_key
        if start is None:
            return found


def items_by_key(items: list[Item]) -> dict[tuple[str, str], bytes]:
    return {
        (i["name"]["S"], i["city"]["S"]): orjson.dumps(i, option=orjson.OPT_SORT_KEYS)
        for i in items
    }


# --- export -----------------------------------------------------------------------------------


def test_native_export_writes_into_the_other_accounts_bucket(
    source: SideSession, dest: SideSession, bucket: str
) -> None:
    table, prefix = unique("native-exp"), unique("exports")
    table_arn = create_table(source, table, pitr=True)
    items = customer_items(30)
    put_items(source, table, items)

    arn = start_native_export(
        source,
        table_arn=table_arn,
        bucket=bucket,
        prefix=f"/{prefix}/",
        bucket_owner=DEST_ACCOUNT,
        sse="AES256",
        kms_key=None,
    )
    description = wait_native_export(source, arn, clock=FakeClock(), **WAIT)
    folder = find_export_dir(dest, description, bucket_owner=DEST_ACCOUNT)

    assert description["ExportStatus"] == "COMPLETED"
    assert description["S3BucketOwner"] == DEST_ACCOUNT
    assert export_dir_of(description).startswith(f"{prefix}/AWSDynamoDB/")
    assert folder.startswith(f"{prefix}/AWSDynamoDB/")
    s3 = dest.client("s3")
    listed = s3.list_objects_v2(
        Bucket=bucket, Prefix=data_prefix_of(folder), ExpectedBucketOwner=DEST_ACCOUNT
    )
    exported: list[Item] = []
    for obj in listed["Contents"]:
        data = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        exported += [item for _, item in native.iter_part_lines(data, compressed=True)]
    assert items_by_key(exported) == items_by_key(items)


def test_export_dir_follows_aws_arn_and_manifest() -> None:
    arn = "arn:aws:dynamodb:us-east-1:111111111111:table/customer/export/01700000000000-abcd1234"
    assert export_dir_of({"ExportArn": arn, "S3Prefix": "migrations/"}) == (
        "migrations/AWSDynamoDB/01700000000000-abcd1234"
    )
    assert export_dir_of({"ExportArn": arn}) == "AWSDynamoDB/01700000000000-abcd1234"
    manifest = "migrations/AWSDynamoDB/01700000000001-00000000/manifest-summary.json"
    described = {"ExportArn": arn, "S3Prefix": "migrations", "ExportManifest": manifest}
    assert export_dir_of(described) == "migrations/AWSDynamoDB/01700000000001-00000000"


def test_export_without_pitr_says_how_to_enable_it(source: SideSession, bucket: str) -> None:
    table = unique("no-pitr")
    table_arn = create_table(source, table, pitr=False)
    with pytest.raises(FatalError) as err:
        start_native_export(
            source,
            table_arn=table_arn,
            bucket=bucket,
            prefix="x",
            bucket_owner=DEST_ACCOUNT,
            sse=None,
            kms_key=None,
        )
    assert "point-in-time recovery" in str(err.value)
    assert "ExportTableToPointInTime" in str(err.value)
    assert err.value.hint is not None
    assert (
        f"aws dynamodb update-continuous-backups --table-name {table} "
        "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
    ) in err.value.hint
    assert "--export-method scan" in err.value.hint


def test_failed_export_reports_aws_failure_code(source: SideSession, bucket: str) -> None:
    # Without S3BucketOwner the export looks for the bucket in the table's own account.
    table_arn = create_table(source, unique("no-owner"), pitr=True)
    arn = start_native_export(
        source,
        table_arn=table_arn,
        bucket=bucket,
        prefix="x",
        bucket_owner=None,
        sse=None,
        kms_key=None,
    )
    with pytest.raises(FatalError, match=r"is FAILED: S3NoSuchBucket") as err:
        wait_native_export(source, arn, clock=FakeClock(), **WAIT)
    assert err.value.hint is not None
    assert "--bucket-owner" in err.value.hint


class _StuckDynamo:
    """A DynamoDB client whose export never ends."""

    def describe_export(self, **_: Any) -> dict[str, Any]:
        return {"ExportDescription": {"ExportArn": "arn:x", "ExportStatus": "IN_PROGRESS"}}


class _StuckSession:
    def client(self, service: str) -> Any:
        assert service == "dynamodb"
        return _StuckDynamo()


def test_wait_gives_up_after_the_timeout_without_sleeping() -> None:
    clock = FakeClock()
    with pytest.raises(FatalError, match="still IN_PROGRESS after 60 s") as err:
        wait_native_export(
            cast(SideSession, _StuckSession()), "arn:x", clock=clock, timeout=60.0, poll=25.0
        )
    assert clock.sleeps == [25.0, 25.0, 10.0]
    assert err.value.hint is not None
    assert "describe-export --export-arn arn:x" in err.value.hint


def test_unknown_export_folder_is_not_guessed_when_aws_named_a_manifest(
    dest: SideSession, bucket: str
) -> None:
    described = {
        "ExportArn": "arn:aws:dynamodb:us-east-1:1:table/t/export/01700000000000-abcd1234",
        "S3Bucket": bucket,
        "S3Prefix": "nothing-here",
        "ExportManifest": "nothing-here/AWSDynamoDB/01700000000000-abcd1234/manifest-summary.json",
    }
    with pytest.raises(NotFoundError, match="holds nothing"):
        find_export_dir(dest, described, bucket_owner=DEST_ACCOUNT)


# --- import -----------------------------------------------------------------------------------


def rich_source(source: SideSession, table: str, items: list[Item]) -> TableSchema:
    """A table with a GSI, TTL, tags, PITR, a stream and deletion protection."""
    create_table(
        source,
        table,
        pitr=True,
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-city",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        Tags=[{"Key": "team", "Value": "payments"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        DeletionProtectionEnabled=True,
    )
    source.client("dynamodb").update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    put_items(source, table, items)
    schema = DynamoAdmin(source).read_schema(table)
    assert schema is not None
    return schema


def test_import_table_accepts_our_native_json_export_then_settings_follow(
    source: SideSession, dest: SideSession, bucket: str
) -> None:
    table, prefix = unique("native-imp"), unique("ours")
    # Every other attribute type, nested binary and sets included; see the module docstring.
    items = [{k: v for k, v in i.items() if v != {"M": {}}} for i in customer_items(40, seed=5)]
    schema = rich_source(source, table, items)
    store = S3Store(source, StoreURL.parse(f"s3://{bucket}/{prefix}/"), expected_owner=DEST_ACCOUNT)
    exported = export_table(
        reader=DynamoTableReader(WireClient(source), table),
        schema=schema,
        store=store,
        options=ExportOptions(segments=2, workers=2),
        clock=FakeClock(),
    )
    request = schemas.create_table_request(schema, table_name=table)
    later = check_importable(request)

    arn = start_native_import(
        dest,
        bucket=bucket,
        key_prefix=data_prefix_of(f"{prefix}/{exported.export_dir}"),
        bucket_owner=DEST_ACCOUNT,
        input_format="DYNAMODB_JSON",
        compression="GZIP",
        create_request=request,
    )
    done = wait_native_import(dest, arn, clock=FakeClock(), expected_items=40, **WAIT)

    assert done["ImportedItemCount"] == 40
    assert scan_by_key(dest, table) == items_by_key(items)
    ddb = dest.client("dynamodb")
    described = ddb.describe_table(TableName=table)["Table"]
    assert described["TableArn"].split(":")[4] == DEST_ACCOUNT
    assert [g["IndexName"] for g in described["GlobalSecondaryIndexes"]] == ["by-city"]
    assert later == ["1 tags", "stream NEW_AND_OLD_IMAGES", "deletion protection"]

    applied = apply_after_import(DynamoAdmin(dest, clock=FakeClock()), table, schema)

    assert applied == [
        "TTL on 'expires_at'",
        "1 tags",
        "point-in-time recovery",
        "stream NEW_AND_OLD_IMAGES",
        "deletion protection",
    ]
    after = DynamoAdmin(dest).read_schema(table)
    assert after is not None
    assert after.ttl_attribute == "expires_at"
    assert after.tags == [{"Key": "team", "Value": "payments"}]
    assert after.pitr_enabled
    assert after.description["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert after.description["DeletionProtectionEnabled"] is True


def test_import_refuses_local_secondary_indexes_before_calling_aws(dest: SideSession) -> None:
    table = unique("lsi")
    request = {
        "TableName": table,
        **KEY,
        "BillingMode": "PAY_PER_REQUEST",
        "LocalSecondaryIndexes": [
            {
                "IndexName": "by-visits",
                "KeySchema": [
                    {"AttributeName": "name", "KeyType": "HASH"},
                    {"AttributeName": "visits", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    }
    with pytest.raises(FatalError, match="ImportTable cannot create local secondary indexes") as e:
        start_native_import(
            dest,
            bucket="unused",
            key_prefix="unused/",
            bucket_owner=None,
            input_format="DYNAMODB_JSON",
            compression="GZIP",
            create_request=request,
        )
    assert e.value.hint is not None
    assert "--import-method batch" in e.value.hint
    assert table not in dest.client("dynamodb").list_tables()["TableNames"]


def test_import_that_loaded_fewer_items_than_the_export_holds_is_an_error(
    dest: SideSession, bucket: str
) -> None:
    prefix = f"{unique('short')}/data/"
    lines = b"".join(
        orjson.dumps({"Item": {"name": {"S": n}, "city": {"S": "x"}}}) + b"\n" for n in "ab"
    )
    dest.client("s3").put_object(Bucket=bucket, Key=f"{prefix}p.json", Body=lines)
    request = {"TableName": unique("short-import"), **KEY, "BillingMode": "PAY_PER_REQUEST"}
    arn = start_native_import(
        dest,
        bucket=bucket,
        key_prefix=prefix,
        bucket_owner=DEST_ACCOUNT,
        input_format="DYNAMODB_JSON",
        compression="NONE",
        create_request=request,
    )
    with pytest.raises(FatalError, match="imported 2 items but the export holds 3"):
        wait_native_import(dest, arn, clock=FakeClock(), expected_items=3, **WAIT)


def test_import_with_a_refused_item_does_not_pass_as_complete(
    dest: SideSession, bucket: str
) -> None:
    prefix = f"{unique('bad')}/data/"
    good = b'{"Item":{"name":{"S":"a"},"city":{"S":"b"}}}\n'
    bad = b'{"Item":{"name":{"S":"no-city"}}}\n'  # lacks the sort key: DynamoDB refuses it
    dest.client("s3").put_object(
        Bucket=bucket, Key=f"{prefix}p.json.gz", Body=gzip.compress(good + bad)
    )
    request = {"TableName": unique("bad-import"), **KEY, "BillingMode": "PAY_PER_REQUEST"}
    arn = start_native_import(
        dest,
        bucket=bucket,
        key_prefix=prefix,
        bucket_owner=DEST_ACCOUNT,
        input_format="DYNAMODB_JSON",
        compression="GZIP",
        create_request=request,
    )
    # AWS completes such an import with ErrorCount 1 (RejectedItemError); moto fails it.
    with pytest.raises(FatalError, match="errors 1") as err:
        wait_native_import(dest, arn, clock=FakeClock(), **WAIT)
    assert err.value.hint is not None
    assert "CloudWatch" in err.value.hint
