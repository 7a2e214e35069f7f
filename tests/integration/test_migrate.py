"""The real tool over HTTP: migrate, schema, export, import, validate.

The end-to-end paths run on two DynamoDB implementations (``dynamo_impl``, tests/dynamoimpl.py):
moto server with two accounts, and dynalite; the roles and the staging bucket are on moto
either way. What only moto implements (AWS's managed export and import, and point-in-time
recovery and TTL, which dynalite lacks) is tested on moto alone. Copies are judged item by
item by the test's own comparison (tests/itemcompare.py), not only by the tool's validator.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import orjson
import pytest

from ddbmigrate import api
from ddbmigrate.aws.dynamodb import DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.config import Side
from ddbmigrate.errors import (
    DestinationNotEmptyError,
    FatalError,
    NotFoundError,
    SchemaMismatchError,
)
from ddbmigrate.local.demo import scan_items
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import (
    BUCKET,
    DEST_ACCOUNT,
    DEST_ROLE,
    SOURCE_ROLE,
    LocalAWS,
    bootstrap,
)
from ddbmigrate.local.server import MotoServer
from ddbmigrate.model import Item
from ddbmigrate.pipeline import MigrateOptions
from ddbmigrate.ports import WriteRequest
from dynamoimpl import DynamoImpl
from itemcompare import assert_same_items, differences, key_names, scan_all

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None) -> LocalAWS:
    """The two-account AWS with this process's credential chain pointed at it."""
    return local_aws


@pytest.fixture
def impl(local_aws: LocalAWS, dynamo_impl: DynamoImpl) -> DynamoImpl:
    """The test once on moto and once on dynalite; roles and staging bucket on moto."""
    return dynamo_impl


@pytest.fixture
def on_moto(aws: LocalAWS) -> DynamoImpl:
    """moto alone, for what dynalite does not implement."""
    return DynamoImpl("moto", aws.endpoint_url, aws.endpoint_url)


def staging() -> api.StagingOptions:
    return api.StagingOptions(url=f"s3://{BUCKET}/{unique('mig')}/")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def by_key(items: list[Item]) -> dict[tuple[str, str], bytes]:
    """Key -> exact JSON bytes of the item as DynamoDB returned it."""
    return {
        (i["name"]["S"], i["city"]["S"]): orjson.dumps(i, option=orjson.OPT_SORT_KEYS)
        for i in items
    }


def assert_copied(impl: DynamoImpl, source_table: str, dest_table: str, count: int) -> None:
    """``dest_table`` (destination account) holds the items of ``source_table``, no more."""
    assert_same_items(
        impl.client(SOURCE_ROLE), source_table, impl.client(DEST_ROLE), dest_table, count=count
    )


def put_items(side: Side, table: str, items: list[Item]) -> None:
    """Write wire-form items with the tool's data plane (boto3 would re-encode binary)."""
    wire = WireClient(SideSession(side))
    writer = DynamoTableWriter(wire, table)
    try:
        for start in range(0, len(items), 25):
            pending: list[WriteRequest] = [
                {"PutRequest": {"Item": item}} for item in items[start : start + 25]
            ]
            while pending:
                pending = writer.batch_write(pending).unprocessed
    finally:
        wire.close()


def create_rich_table(impl: DynamoImpl, table: str, items: list[Item], *, lsi: bool = True) -> None:
    """Key (name, city), a GSI, an LSI, tags, and on moto a stream, TTL and PITR (dynalite
    ignores a StreamSpecification and implements neither UpdateTimeToLive nor
    UpdateContinuousBackups); provisioned at 11 RCU and 5 WCU; filled with ``items``."""
    ddb = impl.client(SOURCE_ROLE)
    lsis = [
        {
            "IndexName": "by-visits",
            "KeySchema": [
                {"AttributeName": "name", "KeyType": "HASH"},
                {"AttributeName": "visits", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    ddb.create_table(
        **({"LocalSecondaryIndexes": lsis} if lsi else {}),
        TableName=table,
        KeySchema=[
            {"AttributeName": "name", "KeyType": "HASH"},
            {"AttributeName": "city", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "name", "AttributeType": "S"},
            {"AttributeName": "city", "AttributeType": "S"},
            *([{"AttributeName": "visits", "AttributeType": "N"}] if lsi else []),
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-city",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
            }
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 11, "WriteCapacityUnits": 5},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    # TagResource, not CreateTable's Tags: dynalite ignores those.
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.tag_resource(
        ResourceArn=arn,
        Tags=[{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"}],
    )
    if impl.name == "moto":  # dynalite implements neither call
        ddb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        ddb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    put_items(impl.side(SOURCE_ROLE), table, items)


def test_migrate_copies_schema_and_every_item_byte_identical(impl: DynamoImpl) -> None:
    table = unique("customer")
    dest = impl.dest_name(table)
    # 48 items over 3 segments: the table is provisioned at 5 WCU, so the import's pace (50%)
    # sets the test's time, about a second per item.
    items = customer_items(48)
    create_rich_table(impl, table, items)

    report = api.migrate(
        source=impl.side(SOURCE_ROLE),
        dest=impl.side(DEST_ROLE),
        staging=staging(),
        options=MigrateOptions(source_table=table, dest_table=dest, segments=3, workers=3),
    )

    assert report.export.item_count == 48
    assert report.imported.item_count == 48
    assert report.validation is not None
    assert report.validation.matches, report.validation.to_dict()
    assert report.validation.source_count == report.validation.dest_count == 48
    assert_copied(impl, table, dest, 48)

    ddb = impl.client(DEST_ROLE)
    desc = ddb.describe_table(TableName=dest)["Table"]
    # Keys, indexes and billing are never best effort: the same on both implementations.
    assert [k["AttributeName"] for k in desc["KeySchema"]] == ["name", "city"]
    assert [g["IndexName"] for g in desc["GlobalSecondaryIndexes"]] == ["by-city"]
    assert desc["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert [i["IndexName"] for i in desc["LocalSecondaryIndexes"]] == ["by-visits"]
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 11
    tags = ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("team", "payments")]
    copied = {o.setting: o.copied for o in report.settings}
    if impl.name == "dynalite":
        # dynalite cannot tell PITR: best effort, reported. It has no streams (it accepts a
        # StreamSpecification and ignores it) and TTL is not set on it: nothing to copy.
        assert copied == {"pitr": False, "tags": True}, report.settings
        return
    assert desc["TableArn"].split(":")[4] == "222222222222"
    assert desc["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = ddb.describe_time_to_live(TableName=dest)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    pitr = ddb.describe_continuous_backups(TableName=dest)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_every_attribute_type_survives_including_nested_binary(impl: DynamoImpl) -> None:
    table = unique("types")
    items = customer_items(10, seed=3)
    create_rich_table(impl, table, items)
    api.migrate(
        source=impl.side(SOURCE_ROLE),
        dest=impl.side(DEST_ROLE),
        staging=staging(),
        options=MigrateOptions(source_table=table, dest_table=f"{table}-copy", segments=2),
    )
    assert_copied(impl, table, f"{table}-copy", 10)
    copies = scan_items(impl.side(DEST_ROLE), f"{table}-copy")
    got = {k: orjson.loads(v) for k, v in by_key(copies).items()}
    for item in items:
        copy = got[(item["name"]["S"], item["city"]["S"])]
        assert copy["prefs"]["M"]["icon"] == item["prefs"]["M"]["icon"]  # nested B, still base64
        assert copy["prefs"]["M"]["keys"]["BS"] == item["prefs"]["M"]["keys"]["BS"]
        assert copy["history"]["L"][4] == item["history"]["L"][4]  # BS inside a list
        assert copy["precise"] == {"N": "1234567890123456789012345678901234567.8"}
        assert copy["note"] == {"S": ""}
        assert copy["nothing"] == {"L": []}
        assert copy["settings"] == {"M": {}}
        assert copy["deleted_at"] == {"NULL": True}


def test_destination_with_other_key_schema_is_refused_before_any_write(
    impl: DynamoImpl, aws: LocalAWS
) -> None:
    table = unique("mismatch")
    dest = impl.dest_name(table)
    create_rich_table(impl, table, customer_items(5))
    impl.client(DEST_ROLE).create_table(
        TableName=dest,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    prefix = unique("mismatch")
    with pytest.raises(SchemaMismatchError) as err:
        api.migrate(
            source=impl.side(SOURCE_ROLE),
            dest=impl.side(DEST_ROLE),
            staging=api.StagingOptions(url=f"s3://{BUCKET}/{prefix}/"),
            options=MigrateOptions(source_table=table, dest_table=dest),
        )
    assert str(err.value) == (
        f"destination table {dest!r} has key (id:S) but the source has (name:S, city:S)"
    )
    assert err.value.hint is not None
    assert "--dest-table" in err.value.hint
    listed = aws.client(DEST_ROLE, "s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0


def test_validate_names_changed_deleted_and_added_items(impl: DynamoImpl) -> None:
    table = unique("val")
    dest = impl.dest_name(table)
    # 20 items (customer-000001 and -000010 among them): the 5 WCU table sets the pace.
    create_rich_table(impl, table, customer_items(20))
    api.migrate(
        source=impl.side(SOURCE_ROLE),
        dest=impl.side(DEST_ROLE),
        staging=staging(),
        options=MigrateOptions(source_table=table, dest_table=dest, validate=False),
    )
    ddb = impl.client(DEST_ROLE)
    ddb.update_item(
        TableName=dest,
        Key={"name": {"S": "customer-000001"}, "city": {"S": "Zürich"}},
        UpdateExpression="SET visits = :v",
        ExpressionAttributeValues={":v": {"N": "424242"}},
    )
    ddb.delete_item(
        TableName=dest, Key={"name": {"S": "customer-000010"}, "city": {"S": "São Paulo"}}
    )
    ddb.put_item(TableName=dest, Item={"name": {"S": "intruder"}, "city": {"S": "Nowhere"}})

    report = api.validate(
        source=impl.side(SOURCE_ROLE),
        dest=impl.side(DEST_ROLE),
        source_table=table,
        dest_table=dest,
    )

    assert not report.matches
    assert report.changed == ['name="customer-000001", city="Zürich"']
    assert report.missing == ['name="customer-000010", city="São Paulo"']
    assert report.extra == ['name="intruder", city="Nowhere"']
    assert (report.source_count, report.dest_count) == (20, 20)


def drift(impl: DynamoImpl, table: str, count: int) -> None:
    """Rewrite the first ``count`` items of the destination's ``table`` with other content:
    a changed number, a changed nested value, an attribute dropped and one the source lacks."""
    dest = impl.client(DEST_ROLE)
    for item in sorted(scan_all(dest, table), key=lambda i: i["name"]["S"])[:count]:
        item["visits"] = {"N": "-1"}
        item["prefs"]["M"]["theme"] = {"S": "changed"}
        del item["tags"]
        item["stale"] = {"S": "only in the destination"}
        dest.put_item(TableName=table, Item=item)


def test_import_refuses_a_table_that_holds_items(impl: DynamoImpl) -> None:
    table = unique("full")
    copy = impl.dest_name(table)
    create_rich_table(impl, table, customer_items(8))
    # The source exports into the destination's bucket: it names the bucket's owner.
    into_dest = replace(staging(), bucket_owner=DEST_ACCOUNT)
    exported = api.export(source=impl.side(SOURCE_ROLE), table=table, staging=into_dest)
    assert exported.item_count == 8
    dest_side = impl.side(DEST_ROLE)
    api.import_(dest=dest_side, source_url=exported.url, table=copy)
    with pytest.raises(DestinationNotEmptyError, match="already holds items"):
        api.import_(dest=dest_side, source_url=exported.url, table=copy)
    drift(impl, copy, 3)
    source, dest = impl.client(SOURCE_ROLE), impl.client(DEST_ROLE)
    before = differences(scan_all(source, table), scan_all(dest, copy), key_names(source, table))
    assert len(before) == 3 * 4, before  # four attributes differ in each of three items

    again = api.import_(dest=dest_side, source_url=exported.url, table=copy, into_existing=True)

    assert again.item_count == 8
    assert_copied(impl, table, copy, 8)  # every overwritten item is the source's again


def test_migrate_into_existing_overwrites_items_with_the_same_key(on_moto: DynamoImpl) -> None:
    """moto only, to save three migrations' time: the import's --into-existing, the same
    code, runs on both (test_import_refuses_a_table_that_holds_items)."""
    impl = on_moto
    table = unique("over")
    dest = impl.dest_name(table)
    create_rich_table(impl, table, customer_items(20))
    sides = {"source": impl.side(SOURCE_ROLE), "dest": impl.side(DEST_ROLE)}
    first = api.migrate(
        **sides,
        staging=staging(),
        options=MigrateOptions(source_table=table, dest_table=dest, validate=False),
    )
    assert first.imported.item_count == 20
    drift(impl, dest, 5)
    with pytest.raises(DestinationNotEmptyError):
        api.migrate(
            **sides, staging=staging(), options=MigrateOptions(source_table=table, dest_table=dest)
        )

    report = api.migrate(
        **sides,
        staging=staging(),
        options=MigrateOptions(source_table=table, dest_table=dest, into_existing=True),
    )

    assert report.imported.item_count == 20
    assert report.validation is not None
    assert report.validation.matches, report.validation.to_dict()
    assert_copied(impl, table, dest, 20)


def test_unknown_source_table_is_a_clear_error(impl: DynamoImpl) -> None:
    with pytest.raises(NotFoundError, match="source table 'no-such-table' does not exist"):
        api.migrate(
            source=impl.side(SOURCE_ROLE),
            dest=impl.side(DEST_ROLE),
            staging=api.StagingOptions(url=f"s3://{BUCKET}/x/"),
            options=MigrateOptions(source_table="no-such-table", dest_table="no-such-table"),
        )


def _without_empty_maps(items: list[Item]) -> list[Item]:
    # moto's ImportTable drops every line from the first top-level {"M": {}} on (a moto bug,
    # tests/integration/test_native_paths.py); AWS imports them.
    return [{k: v for k, v in item.items() if v != {"M": {}}} for item in items]


# native -> native is not tested here: moto's ImportTable reads 0 items from moto's own
# export files (which carry no manifests to check counts against); the validation step of
# migrate reports that as a MISMATCH, which is what a user would see.
@pytest.mark.parametrize(
    ("export_method", "import_method"), [("native", "batch"), ("scan", "native")]
)
def test_aws_managed_export_and_import_paths(
    aws: LocalAWS, on_moto: DynamoImpl, export_method: str, import_method: str
) -> None:
    """moto only: dynalite implements neither ExportTableToPointInTime nor ImportTable."""
    table = unique(f"managed-{export_method}-{import_method}")
    items = _without_empty_maps(customer_items(30))
    create_rich_table(on_moto, table, items, lsi=import_method != "native")
    dest_table = f"{table}-copy"
    report = api.migrate(
        source=aws.source,
        dest=aws.dest,
        staging=api.StagingOptions(url=f"s3://{BUCKET}/{unique('managed')}/"),
        options=MigrateOptions(
            source_table=table,
            dest_table=dest_table,
            export_method=export_method,
            import_method=import_method,
        ),
    )
    assert report.validation is not None
    assert report.validation.matches, report.validation.to_dict()
    assert report.imported.item_count == 30
    assert_copied(on_moto, table, dest_table, 30)
    ddb = aws.client(DEST_ROLE, "dynamodb")
    ttl = ddb.describe_time_to_live(TableName=dest_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_native_export_needs_point_in_time_recovery(aws: LocalAWS) -> None:
    """moto only: dynalite has no point-in-time recovery and no managed export."""
    table = unique("nopitr")
    ddb = aws.client(SOURCE_ROLE, "dynamodb")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(FatalError, match="point-in-time recovery") as info:
        api.migrate(
            source=aws.source,
            dest=aws.dest,
            staging=api.StagingOptions(url=f"s3://{BUCKET}/{unique('nopitr')}/"),
            options=MigrateOptions(source_table=table, dest_table=table, export_method="native"),
        )
    assert info.value.hint is not None
    assert "update-continuous-backups" in info.value.hint


def test_native_import_refuses_a_table_with_lsis_before_anything_moves(
    aws: LocalAWS, on_moto: DynamoImpl
) -> None:
    """moto only: dynalite has no ImportTable."""
    table = unique("lsi")
    create_rich_table(on_moto, table, customer_items(2))
    prefix = unique("lsi")
    with pytest.raises(FatalError, match="local secondary ind"):
        api.migrate(
            source=aws.source,
            dest=aws.dest,
            staging=api.StagingOptions(url=f"s3://{BUCKET}/{prefix}/"),
            options=MigrateOptions(source_table=table, dest_table=table, import_method="native"),
        )
    listed = aws.client(DEST_ROLE, "s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0
