"""A small source table for end-to-end tests on any endpoint: a composite key, a GSI and
every one of DynamoDB's ten attribute types."""

from __future__ import annotations

from typing import Any


def every_type_item(i: int) -> dict[str, Any]:
    """An item with all ten attribute types (S N B SS NS BS M L NULL BOOL)."""
    return {
        "pk": {"S": f"user-{i:03d}"},
        "sk": {"N": str(i)},
        "city": {"S": ("Seattle", "Zürich", "東京")[i % 3]},
        "blob": {"B": bytes([i % 256, 0, 255])},
        "names": {"SS": [f"a{i}", "b"]},
        "scores": {"NS": ["1.5", str(i), "-3"]},
        "keys": {"BS": [b"\x00\x01", bytes([i % 256 or 1])]},
        "prefs": {"M": {"dark": {"BOOL": i % 2 == 0}, "n": {"N": "1E-130"}}},
        "history": {"L": [{"N": "1"}, {"NULL": True}, {"S": ""}]},
        "nothing": {"NULL": True},
        "active": {"BOOL": i % 2 == 1},
    }


def create_source(client: Any, table: str, *, items: int) -> None:
    """A composite-key table with a GSI on city, filled with every attribute type."""
    client.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "city", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-city",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    rows = [every_type_item(i) for i in range(items)]
    for start in range(0, len(rows), 25):
        batch = [{"PutRequest": {"Item": row}} for row in rows[start : start + 25]]
        left = client.batch_write_item(RequestItems={table: batch})
        assert not left.get("UnprocessedItems")
