"""testing/fakes.py: the in-memory table, admin, store and clock behave like the real ones."""

from __future__ import annotations

from typing import Any

import pytest

from ddbmigrate.errors import (
    FatalError,
    NotFoundError,
    RejectedItemError,
    ThrottledError,
    TransientError,
)
from ddbmigrate.items import key_of
from ddbmigrate.model import Item, KeyAttribute, KeySchema, Segment
from ddbmigrate.ports import Clock, Store, TableAdmin, TableReader, TableWriter, WriteRequest
from ddbmigrate.testing import FakeAdmin, FakeClock, FakeTable, MemoryStore

KEY = KeySchema(KeyAttribute("name", "S"), KeyAttribute("city", "S"))


def _item(i: int, **extra: Any) -> Item:
    return {"name": {"S": f"n{i}"}, "city": {"S": "Seattle"}, "v": {"N": str(i)}, **extra}


def _table(count: int = 0, **options: Any) -> FakeTable:
    table = FakeTable("customer", KEY, **options)
    for i in range(count):
        table.put(_item(i))
    return table


def _put(item: Item) -> WriteRequest:
    return {"PutRequest": {"Item": item}}


def _scan_all(table: FakeTable, segment: Segment, limit: int | None = None) -> list[Item]:
    found: list[Item] = []
    start: Item | None = None
    while True:
        page = table.scan(segment=segment, start_key=start, limit=limit)
        found.extend(page.items)
        start = page.last_key
        if start is None:
            return found


def test_fakes_satisfy_the_ports() -> None:
    fake = _table()
    reader: TableReader = fake
    writer: TableWriter = fake
    admin: TableAdmin = FakeAdmin()
    store: Store = MemoryStore()
    clock: Clock = FakeClock()
    assert (reader.table_name, writer.table_name, store.root) == (
        "customer",
        "customer",
        "memory://store",
    )
    assert admin is not None
    assert clock is not None


# --- scan ---


def test_segments_partition_the_table() -> None:
    table = _table(500)
    seen: list[str] = []
    sizes = []
    for index in range(4):
        found = _scan_all(table, Segment(index, 4), limit=37)
        sizes.append(len(found))
        seen.extend(item["name"]["S"] for item in found)
    assert sorted(seen) == sorted(f"n{i}" for i in range(500))
    assert min(sizes) > 60  # a hash, not a range: every segment gets some


def test_segment_assignment_is_deterministic() -> None:
    first = [i["name"] for i in _scan_all(_table(50), Segment(1, 3))]
    second = [i["name"] for i in _scan_all(_table(50), Segment(1, 3))]
    assert first == second


def test_pages_default_size_and_last_key() -> None:
    table = _table(250)
    page = table.scan(segment=Segment(0, 1))
    assert len(page.items) == 100
    assert page.last_key == key_of(page.items[-1], KEY)
    assert table.scan_calls == 1


def test_a_full_last_page_is_followed_by_an_empty_one_like_dynamodb() -> None:
    table = _table(10)
    page = table.scan(segment=Segment(0, 1), limit=10)
    assert page.last_key is not None
    tail = table.scan(segment=Segment(0, 1), start_key=page.last_key, limit=10)
    assert (tail.items, tail.last_key) == ([], None)


def test_resume_from_a_deleted_last_key() -> None:
    table = _table(30)
    page = table.scan(segment=Segment(0, 1), limit=10)
    assert page.last_key is not None
    table.delete(page.last_key)
    rest = _scan_all_from(table, page.last_key)
    assert len(page.items) + len(rest) == 30


def _scan_all_from(table: FakeTable, start: Item) -> list[Item]:
    page = table.scan(segment=Segment(0, 1), start_key=start, limit=1000)
    return page.items


def test_pages_stop_at_one_megabyte() -> None:
    table = FakeTable("big", KEY)
    for i in range(30):
        table.put(_item(i, blob={"S": "x" * 100_000}))
    page = table.scan(segment=Segment(0, 1), limit=1000)
    assert 10 <= len(page.items) < 30
    assert page.last_key is not None


def test_consumed_capacity_counts_4kb_units() -> None:
    table = FakeTable("sized", KEY)
    for i in range(3):
        table.put(_item(i, blob={"S": "x" * 3000}))  # ~3 KB each, ~9 KB in total
    assert table.scan(segment=Segment(0, 1), consistent=True).consumed == 3.0
    assert table.scan(segment=Segment(0, 1)).consumed == 1.5
    assert _table().scan(segment=Segment(0, 1)).consumed == 0.5  # minimum one unit


def test_scanned_items_do_not_alias_storage() -> None:
    table = _table(1)
    table.scan(segment=Segment(0, 1)).items[0]["v"]["N"] = "999"
    assert table.items()[0]["v"] == {"N": "0"}


def test_invalid_segment() -> None:
    with pytest.raises(ValueError, match="outside"):
        _table().scan(segment=Segment(3, 3))


def test_scan_fail_plan() -> None:
    table = _table(1, scan_fail_plan=[ThrottledError("slow down"), None])
    with pytest.raises(ThrottledError):
        table.scan(segment=Segment(0, 1))
    assert len(table.scan(segment=Segment(0, 1)).items) == 1


# --- batch write ---


def test_batch_write_puts_and_deletes() -> None:
    table = _table(2)
    result = table.batch_write([_put(_item(5)), {"DeleteRequest": {"Key": key_of(_item(0), KEY)}}])
    assert result.unprocessed == []
    assert result.consumed == 2.0
    assert sorted(i["name"]["S"] for i in table.items()) == ["n1", "n5"]


def test_batch_write_replaces_items_with_the_same_key() -> None:
    table = _table(1)
    table.batch_write([_put(_item(0, extra={"BOOL": True}))])
    assert len(table) == 1
    assert table.get(key_of(_item(0), KEY)) == _item(0, extra={"BOOL": True})


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([_put(_item(i)) for i in range(26)], "1 to 25 requests, not 26"),
        ([], "not 0"),
        ([_put(_item(1)), _put(_item(1))], "duplicates"),
        (
            [_put(_item(1)), {"DeleteRequest": {"Key": key_of(_item(1), KEY)}}],
            "duplicates",
        ),
        ([_put({"name": {"S": "x"}})], "no key attribute 'city'"),
        ([_put({"name": {"S": ""}, "city": {"S": "x"}})], "empty string"),
        ([_put({"name": {"N": "1"}, "city": {"S": "x"}})], "'name' of type S"),
        ([_put(_item(1, bad={"N": "abc"}))], "'bad' N value"),
        ([_put(_item(1, blob={"S": "x" * 410_000}))], "Item size has exceeded"),
        ([{"DeleteRequest": {"Key": _item(1)}}], "does not match the schema"),
        ([{"UpdateRequest": {}}], "neither a Put nor a Delete"),
        ([{"PutRequest": "x"}], "neither a Put nor a Delete"),
    ],
)
def test_batch_write_rejects_like_dynamodb(requests: list[WriteRequest], message: str) -> None:
    table = _table()
    with pytest.raises(RejectedItemError, match=message):
        table.batch_write(requests)
    assert len(table) == 0  # the whole call is refused


def test_unprocessed_every_nth_request_until_resent() -> None:
    table = _table(unprocessed_every=3)
    pending = [_put(_item(i)) for i in range(25)]
    calls = 0
    while pending:
        pending = table.batch_write(pending).unprocessed
        calls += 1
    assert len(table) == 25
    assert calls > 2
    assert table.batch_calls == calls


def test_unprocessed_requests_are_not_applied() -> None:
    table = _table(unprocessed_every=2)
    result = table.batch_write([_put(_item(0)), _put(_item(1))])
    assert result.unprocessed == [_put(_item(1))]
    assert table.get(key_of(_item(1), KEY)) is None
    assert result.consumed == 1.0


def test_fail_plan_raises_in_order_then_succeeds() -> None:
    table = _table(fail_plan=[TransientError("reset"), None, ThrottledError("slow")])
    with pytest.raises(TransientError, match="reset"):
        table.batch_write([_put(_item(0))])
    table.batch_write([_put(_item(1))])
    with pytest.raises(ThrottledError):
        table.batch_write([_put(_item(2))])
    table.batch_write([_put(_item(3))])
    assert len(table) == 2
    assert table.batch_calls == 4


def test_written_items_do_not_alias_the_request() -> None:
    table = _table()
    item = _item(1)
    table.batch_write([_put(item)])
    item["v"]["N"] = "999"
    assert table.items()[0]["v"] == {"N": "1"}


# --- admin ---


REQUEST = {
    "TableName": "customer",
    "KeySchema": [
        {"AttributeName": "name", "KeyType": "HASH"},
        {"AttributeName": "city", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "name", "AttributeType": "S"},
        {"AttributeName": "city", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [{"IndexName": "by-city"}],
}


def test_admin_creates_waits_and_configures() -> None:
    admin = FakeAdmin()
    assert admin.read_schema("customer") is None
    admin.create_table(REQUEST)
    assert admin.table("customer").key == KEY
    description = admin.wait_active("customer", timeout=10)
    assert description["TableStatus"] == "ACTIVE"
    assert description["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    admin.enable_ttl("customer", "expires")
    admin.tag_table("customer", [{"Key": "team", "Value": "a"}])
    admin.enable_pitr("customer")
    schema = admin.read_schema("customer")
    assert schema is not None
    assert (schema.ttl_attribute, schema.pitr_enabled) == ("expires", True)
    assert schema.tags == [{"Key": "team", "Value": "a"}]
    assert [c[0] for c in admin.calls] == [
        "read_schema",
        "create_table",
        "wait_active",
        "enable_ttl",
        "tag_table",
        "enable_pitr",
        "read_schema",
    ]


def test_admin_reports_live_counts_for_seeded_tables() -> None:
    admin = FakeAdmin(account="222222222222")
    admin.add_table(_table(3))
    schema = admin.read_schema("customer")
    assert schema is not None
    assert schema.description["ItemCount"] == 3
    assert schema.description["TableArn"].startswith("arn:aws:dynamodb:us-east-1:222222222222:")
    assert KeySchema.from_description(schema.description) == KEY


def test_admin_errors() -> None:
    admin = FakeAdmin()
    admin.create_table(REQUEST)
    with pytest.raises(FatalError, match="already exists"):
        admin.create_table(REQUEST)
    with pytest.raises(NotFoundError, match="'other'"):
        admin.wait_active("other", timeout=1)
    with pytest.raises(NotFoundError):
        admin.enable_pitr("other")


# --- store ---


def test_memory_store() -> None:
    store = MemoryStore("s")
    store.put("a/b/2", b"two")
    store.put("a/b/1", b"one")
    store.put("a/c", b"c")
    assert store.get("a/b/1") == b"one"
    assert list(store.list("a/b/")) == ["a/b/1", "a/b/2"]
    assert list(store.list("")) == ["a/b/1", "a/b/2", "a/c"]
    assert store.exists("a/c")
    store.delete("a/c")
    store.delete("a/c")
    assert not store.exists("a/c")
    with pytest.raises(NotFoundError, match="memory://s/a/c"):
        store.get("a/c")


def test_memory_store_fail_plan() -> None:
    store = MemoryStore(fail_plan=[TransientError("503")])
    with pytest.raises(TransientError):
        store.put("k", b"x")
    assert not store.exists("k")
    store.put("k", b"x")
    assert store.get("k") == b"x"


# --- clock ---


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    assert clock.monotonic() == 0.0
    assert clock.now_iso() == "2026-01-01T00:00:00.000Z"
    clock.sleep(1.5)
    clock.advance(0.25)
    assert clock.monotonic() == 1.75
    assert clock.sleeps == [1.5]
    assert clock.now_iso() == "2026-01-01T00:00:01.750Z"
    assert clock.now_ms() == 1_767_225_601_750
    with pytest.raises(ValueError, match="non-negative"):
        clock.sleep(-1)
