"""boto3_plane against moto server: the same pages and the same writes as the wire client.

The table's sort key is binary (B), so keys, LastEvaluatedKey and ExclusiveStartKey all
carry binary through boto3's bytes and back. (A binary partition key would be better
still, but moto answers a parallel Scan of such a table with HTTP 500.)
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

import orjson
import pytest

from ddbmigrate.aws import DynamoTableReader, DynamoTableWriter, SideSession, WireClient, open_side
from ddbmigrate.aws.boto3_plane import Boto3TableReader, Boto3TableWriter
from ddbmigrate.config import Side
from ddbmigrate.errors import NotFoundError, RejectedItemError
from ddbmigrate.model import Item, Segment
from ddbmigrate.ports import ScanPage, TableReader, TableWriter

pytestmark = pytest.mark.integration

SOURCE_ACCOUNT = "111111111111"  # an account the side_for fixture (conftest.py) acts as
SideFor = Callable[[str], Side]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _key(n: int) -> Item:
    return {"pk": {"S": f"part-{n % 3}"}, "sk": {"B": _b64(bytes([n, 0xFF, n % 5]))}}


# Every type, nested binary included; numbers in DynamoDB's normal form, so they come back
# as sent.
SHAPES: list[Item] = [
    {"s": {"S": "héllo \u2603 \x01"}, "n": {"N": "-12.5"}, "b": {"B": _b64(b"\x00\xff\x10bin")},
     "t": {"BOOL": True}, "f": {"BOOL": False}, "z": {"NULL": True}},
    {"ss": {"SS": ["b", "a", "c"]}, "ns": {"NS": ["3", "1", "2.5"]},
     "bs": {"BS": [_b64(b"\xff"), _b64(b"\x00"), _b64(b"\x7f\x80")]}},
    {"m": {"M": {"bin": {"B": _b64(b"\x01\x02")},
     "l": {"L": [{"B": _b64(b"\xfe")}, {"M": {"deep": {"BS": [_b64(b"\x03")]}}},
                 {"NULL": True}, {"N": "0"}, {"SS": ["x"]}]}}}},
    {"max": {"N": "99999999999999999999999999999999999999"}, "tiny": {"N": "1E-130"},
     "frac": {"N": "0.12345678901234567890123456789012345678"}},
    {"es": {"S": ""}, "eb": {"B": ""}, "el": {"L": []}, "em": {"M": {}}},
]  # fmt: skip
ITEMS: list[Item] = [{**_key(n), **SHAPES[n % len(SHAPES)]} for n in range(12)]


def _canon(items: list[Item]) -> list[bytes]:
    return sorted(orjson.dumps(item, option=orjson.OPT_SORT_KEYS) for item in items)


def _create_table(session: SideSession) -> str:
    name = f"boto3-plane-{uuid.uuid4().hex[:8]}"
    session.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "B"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _pages(
    reader: TableReader, segment: Segment, *, limit: int, consistent: bool
) -> list[ScanPage]:
    pages: list[ScanPage] = []
    start: Item | None = None
    while True:
        page = reader.scan(segment=segment, start_key=start, limit=limit, consistent=consistent)
        pages.append(page)
        if page.last_key is None:
            return pages
        start = page.last_key


def _scan_all(reader: TableReader) -> list[Item]:
    pages = _pages(reader, Segment(0, 1), limit=5, consistent=False)
    return [item for page in pages for item in page.items]


def _put_all(writer: TableWriter, items: list[Item]) -> None:
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        assert writer.batch_write(batch).unprocessed == []


@pytest.fixture
def session(side_for: SideFor) -> SideSession:
    return open_side(side_for(SOURCE_ACCOUNT))


@pytest.fixture
def wire(session: SideSession) -> WireClient:
    return WireClient(session)


@pytest.mark.parametrize("consistent", [False, True])
@pytest.mark.parametrize("segment", [Segment(0, 1), Segment(0, 2), Segment(1, 2)])
def test_boto3_reader_returns_the_wire_readers_pages(
    session: SideSession, wire: WireClient, segment: Segment, consistent: bool
) -> None:
    table = _create_table(session)
    _put_all(DynamoTableWriter(wire, table), ITEMS)
    ours, theirs = DynamoTableReader(wire, table), Boto3TableReader(session, table)

    expected = _pages(ours, segment, limit=3, consistent=consistent)
    found = _pages(theirs, segment, limit=3, consistent=consistent)

    assert found == expected  # page by page: items, LastEvaluatedKey, consumed capacity
    assert any(page.last_key is not None for page in found)  # binary keys went both ways
    assert theirs.table_name == table


def test_boto3_reader_sees_every_item_exactly_as_put(
    session: SideSession, wire: WireClient
) -> None:
    table = _create_table(session)
    _put_all(DynamoTableWriter(wire, table), ITEMS)

    assert _canon(_scan_all(Boto3TableReader(session, table))) == _canon(ITEMS)


def test_items_written_by_boto3_read_back_identical(session: SideSession, wire: WireClient) -> None:
    table = _create_table(session)
    writer = Boto3TableWriter(session, table)

    _put_all(writer, ITEMS)
    result = writer.batch_write([{"DeleteRequest": {"Key": _key(0)}}])

    assert result.unprocessed == []
    assert result.consumed > 0
    assert writer.table_name == table
    assert _canon(_scan_all(DynamoTableReader(wire, table))) == _canon(ITEMS[1:])


def test_both_writers_leave_identical_tables(session: SideSession, wire: WireClient) -> None:
    by_wire, by_boto3 = _create_table(session), _create_table(session)

    _put_all(DynamoTableWriter(wire, by_wire), ITEMS)
    _put_all(Boto3TableWriter(session, by_boto3), ITEMS)

    reader = DynamoTableReader
    assert _canon(_scan_all(reader(wire, by_boto3))) == _canon(_scan_all(reader(wire, by_wire)))


def test_an_item_without_its_key_is_rejected_by_both_writers(
    session: SideSession, wire: WireClient
) -> None:
    table = _create_table(session)
    keyless = [{"PutRequest": {"Item": {"other": {"S": "no key"}}}}]

    with pytest.raises(RejectedItemError) as by_wire:
        DynamoTableWriter(wire, table).batch_write(keyless)
    with pytest.raises(RejectedItemError) as by_boto3:
        Boto3TableWriter(session, table).batch_write(keyless)

    assert by_boto3.value.message == by_wire.value.message


def test_a_missing_table_is_not_found_on_both_planes(
    session: SideSession, wire: WireClient
) -> None:
    puts = [{"PutRequest": {"Item": ITEMS[0]}}]
    calls: list[Callable[[], object]] = [
        lambda: DynamoTableReader(wire, "no-such-table").scan(segment=Segment(0, 1)),
        lambda: Boto3TableReader(session, "no-such-table").scan(segment=Segment(0, 1)),
        lambda: DynamoTableWriter(wire, "no-such-table").batch_write(puts),
        lambda: Boto3TableWriter(session, "no-such-table").batch_write(puts),
    ]

    messages = []
    for call in calls:
        with pytest.raises(NotFoundError, match="'no-such-table'") as info:
            call()
        messages.append(info.value.message)

    assert messages[0] == messages[1]
    assert messages[2] == messages[3]
