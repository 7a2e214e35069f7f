"""Tables the integration, fault and CLI tests make in the embedded AWS.

The customer table is the demo's key, ``name`` (S) + ``city`` (S), which
``ddbmigrate.local.demo_data.customer_items`` fills; each test adds only what it is about
(capacity, indexes, tags) as ``settings``.
"""

from __future__ import annotations

from typing import Any

from ddbmigrate.local.demo import put_items
from ddbmigrate.local.env import SOURCE_ROLE, LocalAWS
from ddbmigrate.model import Item

CUSTOMER_KEY: dict[str, Any] = {
    "KeySchema": [
        {"AttributeName": "name", "KeyType": "HASH"},
        {"AttributeName": "city", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "name", "AttributeType": "S"},
        {"AttributeName": "city", "AttributeType": "S"},
    ],
}


def make_customer_table(
    aws: LocalAWS,
    table: str,
    *,
    role: str = SOURCE_ROLE,
    items: list[Item] | None = None,
    **settings: Any,
) -> str:
    """A (name, city) table in the account of ``role``, on demand unless ``settings`` say
    otherwise, filled with ``items`` through our own data plane (source account only)."""
    request = {"BillingMode": "PAY_PER_REQUEST", **CUSTOMER_KEY, **settings}
    aws.client(role, "dynamodb").create_table(TableName=table, **request)
    if items:
        put_items(aws, table, items)
    return table
