"""``ddbmigrate-table.json``: the source table's schema, stored beside an export.

DescribeTable's ``Table`` plus what DescribeTable omits (TTL, tags, PITR), so an export alone
is enough to recreate its table.
"""

from __future__ import annotations

import orjson

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.ports import TableSchema

TABLE_FILE = "ddbmigrate-table.json"


def table_file_bytes(schema: TableSchema) -> bytes:
    """``ddbmigrate-table.json``: the source description and what DescribeTable omits."""
    body = {
        "version": 1,
        "Table": schema.description,
        "TimeToLive": {"AttributeName": schema.ttl_attribute} if schema.ttl_attribute else None,
        "Tags": schema.tags,
        "PointInTimeRecoveryEnabled": schema.pitr_enabled,
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def parse_table_file(data: bytes) -> TableSchema:
    """Inverse of :func:`table_file_bytes`."""
    try:
        body = orjson.loads(data)
        ttl = body.get("TimeToLive") or {}
        return TableSchema(
            description=dict(body["Table"]),
            ttl_attribute=ttl.get("AttributeName"),
            tags=list(body.get("Tags") or []),
            pitr_enabled=bool(body.get("PointInTimeRecoveryEnabled")),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CorruptDataError(f"{TABLE_FILE} is damaged: {exc}") from exc
