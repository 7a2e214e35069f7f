"""Schema copy: the CreateTable request built from a description, and compatibility checks."""

from __future__ import annotations

from typing import Any

import pytest

from ddbmigrate.errors import SchemaMismatchError
from ddbmigrate.pipeline import ensure_table
from ddbmigrate.ports import TableSchema
from ddbmigrate.schema import check_compatible, create_table_request, schema_differences
from ddbmigrate.testing import FakeAdmin

KEYS = [{"AttributeName": "name", "KeyType": "HASH"}, {"AttributeName": "city", "KeyType": "RANGE"}]
ATTRS = [
    {"AttributeName": "name", "AttributeType": "S"},
    {"AttributeName": "city", "AttributeType": "S"},
]


def described(**extra: Any) -> dict[str, Any]:
    return {
        "TableName": "customer",
        "KeySchema": KEYS,
        "AttributeDefinitions": ATTRS,
        "TableStatus": "ACTIVE",
        **extra,
    }


def test_provisioned_table_with_indexes_and_settings() -> None:
    desc = described(
        ProvisionedThroughput={
            "ReadCapacityUnits": 10,
            "WriteCapacityUnits": 5,
            "NumberOfDecreasesToday": 0,
        },
        GlobalSecondaryIndexes=[
            {
                "IndexName": "g",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "IndexStatus": "ACTIVE",
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2},
                "IndexArn": "arn:...",
                "ItemCount": 4,
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "l",
                "KeySchema": KEYS,
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "IndexSizeBytes": 1,
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        SSEDescription={
            "Status": "ENABLED",
            "SSEType": "KMS",
            "KMSMasterKeyArn": "arn:aws:kms:us-east-1:111111111111:key/abc",
        },
        TableClassSummary={"TableClass": "STANDARD_INFREQUENT_ACCESS"},
        DeletionProtectionEnabled=True,
    )
    schema = TableSchema(description=desc, tags=[{"Key": "a", "Value": "b"}])
    req = create_table_request(schema, table_name="copy")
    assert req["TableName"] == "copy"
    assert req["BillingMode"] == "PROVISIONED"
    assert req["ProvisionedThroughput"] == {"ReadCapacityUnits": 10, "WriteCapacityUnits": 5}
    assert req["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "g",
            "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2},
        }
    ]
    assert req["LocalSecondaryIndexes"] == [
        {"IndexName": "l", "KeySchema": KEYS, "Projection": {"ProjectionType": "KEYS_ONLY"}}
    ]
    assert req["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    # The source account's key ARN is not carried over: the destination uses its own.
    assert req["SSESpecification"] == {"Enabled": True, "SSEType": "KMS"}
    assert req["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert req["DeletionProtectionEnabled"] is True
    assert req["Tags"] == [{"Key": "a", "Value": "b"}]
    kms = create_table_request(schema, table_name="copy", dest_kms_key_id="alias/mine")
    assert kms["SSESpecification"]["KMSMasterKeyId"] == "alias/mine"


def test_on_demand_table_without_optional_parts() -> None:
    desc = described(
        BillingModeSummary={"BillingMode": "PAY_PER_REQUEST"},
        ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        OnDemandThroughput={"MaxReadRequestUnits": 500, "MaxWriteRequestUnits": -1},
    )
    req = create_table_request(TableSchema(description=desc), table_name="t")
    assert req["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in req
    assert req["OnDemandThroughput"] == {"MaxReadRequestUnits": 500}
    for absent in (
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "SSESpecification",
        "StreamSpecification",
        "Tags",
        "DeletionProtectionEnabled",
    ):
        assert absent not in req


def test_empty_index_lists_are_not_sent() -> None:
    # moto reports [] where AWS omits the field; CreateTable refuses an empty list.
    desc = described(GlobalSecondaryIndexes=[], LocalSecondaryIndexes=[])
    req = create_table_request(TableSchema(description=desc), table_name="t")
    assert "GlobalSecondaryIndexes" not in req
    assert "LocalSecondaryIndexes" not in req


def test_key_mismatch_message_names_both_keys_and_the_fix() -> None:
    other = described(
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
    )
    with pytest.raises(SchemaMismatchError) as err:
        check_compatible(
            source=TableSchema(described()), dest=TableSchema(other), dest_flag="--dest-table"
        )
    assert str(err.value) == (
        "destination table 'customer' has key (id:N) but the source has (name:S, city:S)"
    )
    assert err.value.hint == (
        "pass --dest-table NEW to create a new table, or delete 'customer' first"
    )


def test_differences_of_an_existing_table_are_listed() -> None:
    src = TableSchema(
        described(GlobalSecondaryIndexes=[{"IndexName": "g"}]),
        ttl_attribute="exp",
        pitr_enabled=True,
    )
    notes = schema_differences(src, TableSchema(described()))
    assert notes == [
        "GSI 'g' is missing",
        "TTL on 'exp' is not enabled",
        "point-in-time recovery is not enabled",
    ]


def test_ensure_table_creates_then_sets_ttl_and_pitr() -> None:
    admin = FakeAdmin()
    src = TableSchema(
        described(), ttl_attribute="exp", pitr_enabled=True, tags=[{"Key": "k", "Value": "v"}]
    )
    action = ensure_table(admin, source=src, existing=None, table_name="copy")
    assert action == "created table 'copy' like 'customer'"
    methods = [m for m, _ in admin.calls]
    assert methods[:2] == ["create_table", "wait_active"]
    assert {"enable_ttl", "enable_pitr"} <= set(methods)
    created = admin.read_schema("copy")
    assert created is not None
    assert created.ttl_attribute == "exp"
    assert created.pitr_enabled
