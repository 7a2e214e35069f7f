"""What a destination table accepts: an empty table (unless told otherwise), legal keys.

Checked by the import before anything is written, and line by line as items are read.
"""

from __future__ import annotations

from ddbmigrate.errors import DestinationNotEmptyError
from ddbmigrate.model import Item, KeySchema, Segment
from ddbmigrate.ports import TableReader


def ensure_empty(reader: TableReader, *, into_existing: bool, flag: str) -> None:
    """Refuse a destination that already holds items, unless the user said so."""
    if into_existing:
        return
    page = reader.scan(segment=Segment(0, 1), limit=1)
    if page.items:
        raise DestinationNotEmptyError(
            f"destination table {reader.table_name!r} already holds items",
            hint=f"pass {flag} to write into it anyway (items with the same key are replaced); "
            "a re-run after a stopped import is safe with it",
        )


def check_key(item: Item, key: KeySchema) -> str | None:
    """Why the destination would refuse this item's key, or None when it is fine."""
    for attr in (key.partition, key.sort):
        if attr is None:
            continue
        value = item.get(attr.name)
        if not isinstance(value, dict) or attr.type not in value:
            found = "missing" if value is None else f"of type {next(iter(value), '?')}"
            return f"key attribute {attr.name!r} is {found}; the table needs {attr.type}"
        if value[attr.type] == "":
            return f"key attribute {attr.name!r} is empty; DynamoDB refuses empty keys"
    return None
