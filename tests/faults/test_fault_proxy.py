"""The fault proxy: every fault it injects reaches the real data-plane client as the right error.

The client is the tool's own (SideSession -> WireClient -> DynamoTableReader/Writer), talking
to moto server through the proxy, as the exporter and importer do.
"""

from __future__ import annotations

import http.client
import random
import time
import uuid
from collections.abc import Iterator

import pytest
from dynamodb_sizes import item_size
from fault_proxy import FaultKind, FaultProxy

from ddbmigrate.aws.dynamodb import DynamoTableReader, DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.errors import ThrottledError, TransientError
from ddbmigrate.local.server import MotoServer
from ddbmigrate.model import Item, Segment
from ddbmigrate.ports import WriteRequest
from ddbmigrate.retry import RetryPolicy, call_with_retry
from ddbmigrate.testing import FakeClock
from ddbmigrate.throttle import CapacityBudget

pytestmark = pytest.mark.faults

WHOLE = Segment(0, 1)
ACCOUNT = "111111111111"  # the account proxy_side assumes a role in


@pytest.fixture
def session(proxy_side: Side) -> SideSession:
    return SideSession(proxy_side)


@pytest.fixture
def wire(session: SideSession) -> Iterator[WireClient]:
    client = WireClient(session)
    yield client
    client.close()


@pytest.fixture
def table(session: SideSession) -> str:
    """A new, empty on-demand table (key ``pk``: S) created through the proxy."""
    name = f"faults-{uuid.uuid4().hex[:12]}"
    session.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def reader(wire: WireClient, table: str) -> DynamoTableReader:
    return DynamoTableReader(wire, table)


@pytest.fixture
def writer(wire: WireClient, table: str) -> DynamoTableWriter:
    return DynamoTableWriter(wire, table)


def _item(number: int, size: int = 100) -> Item:
    """An item of exactly ``size`` bytes as DynamoDB counts them."""
    item: Item = {"pk": {"S": f"k{number:06d}"}, "pad": {"S": ""}}
    item["pad"]["S"] = "x" * (size - item_size(item))
    assert item_size(item) == size
    return item


def _puts(first: int, count: int, size: int = 100) -> list[WriteRequest]:
    return [{"PutRequest": {"Item": _item(i, size)}} for i in range(first, first + count)]


def _keys(reader: DynamoTableReader) -> set[str]:
    keys: set[str] = set()
    start: Item | None = None
    while True:
        page = reader.scan(segment=WHOLE, start_key=start)
        keys |= {item["pk"]["S"] for item in page.items}
        start = page.last_key
        if start is None:
            return keys


def _key_set(requests: list[WriteRequest]) -> set[str]:
    return {request["PutRequest"]["Item"]["pk"]["S"] for request in requests}


# --- pass-through ---


def test_s3_and_sts_pass_through_untouched_even_when_every_dynamodb_call_fails(
    fault_proxy: FaultProxy, session: SideSession
) -> None:
    for kind in (FaultKind.INTERNAL_ERROR, FaultKind.DROP_BEFORE):
        fault_proxy.inject(kind, operations="*", rate=1.0)
    assert session.account_id() == ACCOUNT  # AssumeRole and GetCallerIdentity via the proxy
    s3 = session.client("s3")
    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    body = bytes(range(256)) * 1000  # binary, larger than one socket buffer
    s3.put_object(Bucket=bucket, Key="a/b.bin", Body=body)
    assert s3.get_object(Bucket=bucket, Key="a/b.bin")["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="a/b.bin")["ContentLength"] == len(body)
    stats = fault_proxy.stats()
    assert stats.requests["other"] >= 6
    assert stats.faults == {}


# --- injected errors ---


@pytest.mark.parametrize("kind", [FaultKind.THROUGHPUT_EXCEEDED, FaultKind.THROTTLING])
def test_throttling_faults_raise_throttled_error(
    fault_proxy: FaultProxy, reader: DynamoTableReader, kind: FaultKind
) -> None:
    fault_proxy.inject(kind, operations="Scan", times=1)
    with pytest.raises(ThrottledError, match=kind.value):
        reader.scan(segment=WHOLE)
    assert reader.scan(segment=WHOLE).items == []  # only once
    assert fault_proxy.stats().faults == {kind.value: 1}


@pytest.mark.parametrize("kind", [FaultKind.INTERNAL_ERROR, FaultKind.SERVICE_UNAVAILABLE])
def test_server_errors_raise_transient_error_but_not_throttled_error(
    fault_proxy: FaultProxy, writer: DynamoTableWriter, kind: FaultKind
) -> None:
    fault_proxy.inject(kind, operations=["BatchWriteItem"])
    with pytest.raises(TransientError, match=kind.value) as info:
        writer.batch_write(_puts(0, 1))
    assert not isinstance(info.value, ThrottledError)


def test_a_connection_dropped_before_forwarding_loses_the_write(
    fault_proxy: FaultProxy, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    fault_proxy.inject(FaultKind.DROP_BEFORE, operations="BatchWriteItem", times=1)
    with pytest.raises(TransientError):
        writer.batch_write(_puts(0, 3))
    assert _keys(reader) == set()
    writer.batch_write(_puts(0, 3))  # the client's pool recovers from the dead connection
    assert _keys(reader) == _key_set(_puts(0, 3))


def test_a_connection_dropped_after_forwarding_hides_a_write_that_happened(
    fault_proxy: FaultProxy, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    fault_proxy.inject(FaultKind.DROP_AFTER, operations="BatchWriteItem", times=1)
    with pytest.raises(TransientError):
        writer.batch_write(_puts(0, 3))
    assert _keys(reader) == _key_set(_puts(0, 3))


def test_slow_responses_arrive_late_and_intact(
    fault_proxy: FaultProxy, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    writer.batch_write(_puts(0, 2))
    fault_proxy.inject(FaultKind.SLOW, operations="Scan", delay=0.3, times=1)
    started = time.monotonic()
    page = reader.scan(segment=WHOLE)
    assert time.monotonic() - started >= 0.3
    assert len(page.items) == 2


def test_fault_rates_follow_the_seeded_rng(
    fault_proxy: FaultProxy, reader: DynamoTableReader
) -> None:
    def pattern() -> list[bool]:
        fault_proxy.reset(seed=7)
        fault_proxy.inject(FaultKind.INTERNAL_ERROR, operations="Scan", rate=0.5)
        outcomes = []
        for _ in range(20):
            try:
                reader.scan(segment=WHOLE)
                outcomes.append(True)
            except TransientError:
                outcomes.append(False)
        assert fault_proxy.stats().faults.get("InternalServerError", 0) == outcomes.count(False)
        return outcomes

    first = pattern()
    assert 3 <= first.count(False) <= 17
    assert pattern() == first


def test_the_retry_policy_gets_through_a_limited_number_of_faults(
    fault_proxy: FaultProxy, reader: DynamoTableReader
) -> None:
    fault_proxy.inject(FaultKind.THROUGHPUT_EXCEEDED, operations="Scan", times=2)
    fault_proxy.inject(FaultKind.DROP_BEFORE, operations="Scan", times=1)
    clock = FakeClock()
    page = call_with_retry(
        lambda: reader.scan(segment=WHOLE),
        policy=RetryPolicy(max_attempts=5),
        clock=clock,
        rng=random.Random(1),
    )
    assert page.items == []
    assert len(clock.sleeps) == 3
    assert fault_proxy.stats().requests["Scan"] == 4


# --- UnprocessedItems ---


def test_unprocessed_items_come_back_and_only_the_rest_is_written(
    fault_proxy: FaultProxy, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    batch = _puts(0, 25)
    fault_proxy.unprocessed(0.4)
    result = writer.batch_write(batch)
    assert 0 < len(result.unprocessed) < 25
    assert all(entry in batch for entry in result.unprocessed)  # DynamoDB's own structure
    written = _keys(reader)
    assert written == _key_set(batch) - _key_set(result.unprocessed)
    assert result.consumed == len(written)  # 100-byte items: 1 WCU each, unprocessed free
    fault_proxy.unprocessed(0.0)
    assert writer.batch_write(result.unprocessed).unprocessed == []
    assert _keys(reader) == _key_set(batch)
    assert fault_proxy.stats().injected_unprocessed == len(result.unprocessed)


def test_a_batch_with_nothing_processed_is_not_forwarded(
    fault_proxy: FaultProxy, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    batch = _puts(0, 10)
    fault_proxy.unprocessed(1.0)
    result = writer.batch_write(batch)
    assert (result.unprocessed, result.consumed) == (batch, 0.0)
    assert _keys(reader) == set()


# --- capacity accounting and limits ---


def test_consumed_capacity_is_what_dynamodb_would_charge(
    fault_proxy: FaultProxy, table: str, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    result = writer.batch_write(_puts(0, 10, size=2500))  # 3 WCU per item
    assert result.consumed == 30.0
    # 10 x 2,500 bytes = 25,000 bytes = 7 read units of 4 KB; eventually consistent halves.
    assert reader.scan(segment=WHOLE).consumed == 3.5
    assert reader.scan(segment=WHOLE, consistent=True).consumed == 7.0
    assert reader.scan(segment=WHOLE, limit=1).consumed == 0.5
    assert sum(fault_proxy.per_second(table, "write")) == 30.0
    assert sum(fault_proxy.per_second(table, "read")) == 11.0


def test_the_proxy_sizes_items_by_dynamodb_rules_not_by_the_tool(
    fault_proxy: FaultProxy, table: str, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    # The number 0 has no significant digit: 1 byte by the published rules (the tool's own
    # item_size counts 2, which would make this item 4,097 bytes: 5 WCU, 2 RCU).
    item: Item = {"pk": {"S": "k0"}, "zero": {"N": "0"}, "pad": {"S": ""}}  # 2+2, 4+1, 3+0
    item["pad"]["S"] = "x" * (4096 - 12)
    assert item_size(item) == 4096
    assert writer.batch_write([{"PutRequest": {"Item": item}}]).consumed == 4.0
    assert reader.scan(segment=WHOLE, consistent=True).consumed == 1.0
    assert fault_proxy.consumed(table, "write")[-1][1] == 4.0


def _write_flat_out(writer: DynamoTableWriter, seconds: float) -> tuple[int, int]:
    """Send 10-item batches back to back; count throttled calls and unprocessed items."""
    throttled = unprocessed = 0
    deadline = time.monotonic() + seconds
    number = 0
    while time.monotonic() < deadline:
        try:
            unprocessed += len(writer.batch_write(_puts(number, 10)).unprocessed)
        except ThrottledError:
            throttled += 1
        number += 10
    return throttled, unprocessed


def test_a_write_limit_throttles_a_writer_that_goes_faster(
    fault_proxy: FaultProxy, table: str, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    fault_proxy.limit(table, wcu=20.0)
    started = fault_proxy.elapsed()
    throttled, unprocessed = _write_flat_out(writer, 2.0)
    elapsed = fault_proxy.elapsed() - started
    assert throttled + unprocessed > 0
    stats = fault_proxy.stats()
    assert (stats.throttled, stats.capacity_unprocessed) == (throttled, unprocessed)
    written = sum(fault_proxy.per_second(table, "write"))
    # One bucket of burst, the limit over the time, and one item of overdraft.
    assert written <= 20.0 * elapsed + 20.0 + 1.0
    assert len(_keys(reader)) == written


def test_a_read_limit_throttles_a_reader_that_goes_faster(
    fault_proxy: FaultProxy, table: str, reader: DynamoTableReader, writer: DynamoTableWriter
) -> None:
    writer.batch_write(_puts(0, 20, size=4000))
    fault_proxy.limit(table, rcu=10.0)
    started = fault_proxy.elapsed()
    throttled = pages = 0
    while fault_proxy.elapsed() - started < 1.5:
        try:
            page = reader.scan(segment=WHOLE, limit=10)  # 40,000 bytes: 10 RCU, halved
            assert page.consumed == 5.0
            pages += 1
        except ThrottledError:
            throttled += 1
    elapsed = fault_proxy.elapsed() - started
    assert throttled > 0
    assert pages >= 2
    read = fault_proxy.held_rate(table, "read", start=started, end=started + elapsed) * elapsed
    assert read <= 10.0 * elapsed + 10.0 + 5.0  # limit, burst, one page of overdraft


def test_a_budget_below_the_limit_is_never_throttled_and_holds_its_rate(
    fault_proxy: FaultProxy, table: str, writer: DynamoTableWriter
) -> None:
    """How the importer uses throttle.py: acquire, send, settle, and tell AIMD how it went."""
    fault_proxy.limit(table, wcu=40.0)
    budget = CapacityBudget(32.0, clock=SystemClock())  # 80% of the limit
    started = fault_proxy.elapsed()
    number = 0
    while fault_proxy.elapsed() - started < 3.0:
        batch = _puts(number, 8)
        budget.acquire(8.0)
        try:
            result = writer.batch_write(batch)
        except ThrottledError:
            budget.settle(8.0, 0.0)
            budget.on_throttled()
            continue
        budget.settle(8.0, result.consumed)
        budget.on_success()
        assert result.unprocessed == []
        number += 8
    assert fault_proxy.stats().throttled == 0
    assert budget.stats().throttles == 0
    held = fault_proxy.held_rate(table, "write", start=started + 1.0, end=started + 3.0)
    assert held == pytest.approx(32.0, rel=0.25)


# --- lifecycle ---


def test_close_drops_open_connections_and_stops_listening(moto_server: MotoServer) -> None:
    proxy = FaultProxy(moto_server.endpoint_url).start()
    host, port = proxy.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("GET", "/moto-api/")
    assert connection.getresponse().read()  # kept alive: the handler thread now idles
    started = time.monotonic()
    proxy.close()
    assert time.monotonic() - started < 2.0
    connection.close()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, int(port), timeout=5).request("GET", "/")
    assert proxy.stats().requests == {"other": 1}


def test_the_proxy_refuses_a_non_loopback_upstream() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://example.com:4566")
