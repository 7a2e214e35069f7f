"""Is the destination table the source table, item for item? Judged by the tests, not the tool.

End-to-end, chaos and crash tests check a copy with this module instead of (or on top of)
the tool's own validator: it shares no code with ddbmigrate. Both tables are read with
boto3's low-level client (every page of a strongly consistent Scan) and every item is
compared by key, attribute by attribute, in wire form: numbers by value (``Decimal``, so
"1.50" is "1.5"), sets as sets, lists in order, maps by name, strings, binaries and Booleans
exactly. Usage, from any test folder (``tests/`` is on ``sys.path`` through the top-level
conftest.py)::

    from itemcompare import assert_same_items, dynamodb_client

    source = dynamodb_client(endpoint_url, SOURCE_ROLE)
    dest = dynamodb_client(endpoint_url, DEST_ROLE)
    assert_same_items(source, "orders", dest, "orders-copy", count=120)
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import boto3

Item = dict[str, Any]
"""An item as boto3's low-level client returns it: ``{"pk": {"S": "a"}, "b": {"B": b"..."}}``."""

REGION = "us-east-1"
SHOWN = 20
"""Differences written out in a failure message; the rest are counted."""


def dynamodb_client(endpoint_url: str, role_arn: str | None, *, region: str = REGION) -> Any:
    """A low-level DynamoDB client acting as the account of ``role_arn`` (moto: AssumeRole);
    without a role, the endpoint's only account (dynalite has no STS)."""
    base = boto3.Session(
        aws_access_key_id="itemcompare", aws_secret_access_key="itemcompare", region_name=region
    )
    if role_arn is None:
        return base.client("dynamodb", endpoint_url=endpoint_url)
    sts = base.client("sts", endpoint_url=endpoint_url)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="itemcompare")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    ).client("dynamodb", endpoint_url=endpoint_url)


def scan_all(client: Any, table: str) -> list[Item]:
    """Every item of ``table``: all pages of a strongly consistent Scan."""
    pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def key_names(client: Any, table: str) -> tuple[str, ...]:
    """The table's key attributes, partition key first."""
    schema = client.describe_table(TableName=table)["Table"]["KeySchema"]
    return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH"))


def assert_same_items(
    source: Any, source_table: str, dest: Any, dest_table: str, *, count: int | None = None
) -> None:
    """Fail, naming the first differences, unless both tables hold the same items.

    ``count``: the number of items the source must hold (a guard against comparing two
    empty tables)."""
    keys = key_names(source, source_table)
    assert key_names(dest, dest_table) == keys, "the two tables have different keys"
    source_items = scan_all(source, source_table)
    if count is not None:
        assert len(source_items) == count, f"the source holds {len(source_items)} items"
    found = differences(source_items, scan_all(dest, dest_table), keys)
    more = f"\n... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    assert not found, f"{source_table} -> {dest_table}:\n" + "\n".join(found[:SHOWN]) + more


def differences(source: Iterable[Item], dest: Iterable[Item], keys: tuple[str, ...]) -> list[str]:
    """One line per item missing, extra, repeated or different (per attribute)."""
    found: list[str] = []
    want, got = _by_key(source, keys, found, "source"), _by_key(dest, keys, found, "destination")
    for key in sorted(want.keys() - got.keys(), key=repr):
        found.append(f"{_show_key(key)}: missing from the destination")
    for key in sorted(got.keys() - want.keys(), key=repr):
        found.append(f"{_show_key(key)}: in the destination only")
    for key in sorted(want.keys() & got.keys(), key=repr):
        found += [f"{_show_key(key)}: {line}" for line in _item_differences(want[key], got[key])]
    return found


def same_value(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two attribute values in wire form are the same DynamoDB value."""
    return normal(a) == normal(b)


def normal(value: dict[str, Any]) -> tuple[str, Any]:
    """A hashable form of a wire value in which equal DynamoDB values are equal."""
    assert isinstance(value, dict), f"not an attribute value: {value!r}"
    assert len(value) == 1, f"not an attribute value: {value!r}"
    ((kind, payload),) = value.items()
    if kind == "N":
        return kind, Decimal(payload)
    if kind in ("S", "B", "BOOL", "NULL"):
        return kind, payload
    if kind == "NS":
        return kind, frozenset(Decimal(member) for member in payload)
    if kind in ("SS", "BS"):
        return kind, frozenset(payload)
    if kind == "L":
        return kind, tuple(normal(element) for element in payload)
    assert kind == "M", f"unknown attribute type {kind!r}"
    return kind, frozenset((name, normal(element)) for name, element in payload.items())


def _by_key(
    items: Iterable[Item], keys: tuple[str, ...], found: list[str], side: str
) -> dict[tuple[Any, ...], Item]:
    indexed: dict[tuple[Any, ...], Item] = {}
    for item in items:
        key = tuple(normal(item[name]) for name in keys)
        if key in indexed:
            found.append(f"{_show_key(key)}: twice in the {side}")
        indexed[key] = item
    return indexed


def _item_differences(want: Item, got: Item) -> list[str]:
    lines = []
    for name in sorted(want.keys() | got.keys()):
        if name not in got:
            lines.append(f"attribute {name!r} missing from the destination")
        elif name not in want:
            lines.append(f"attribute {name!r} in the destination only: {_show(got[name])}")
        elif not same_value(want[name], got[name]):
            lines.append(f"attribute {name!r}: {_show(want[name])} became {_show(got[name])}")
    return lines


def _show_key(key: tuple[Any, ...]) -> str:
    return "item " + ", ".join(f"{kind}:{value!s}" for kind, value in key)


def _show(value: dict[str, Any]) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
