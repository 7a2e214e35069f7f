"""The tool holds its share of a table's capacity against a proxy that enforces that capacity.

The proxy enforces a fixed limit on one table (DynamoDB's token bucket, refusing what goes
over); the table is PROVISIONED with the same units, so the tool learns the capacity from
DescribeTable exactly as against AWS and aims at ``percent x capacity``. Over at least 30 s of
steady state the units the proxy charged per second must be within 10% of that target (72-88%
of the limit at 0.8) and fewer than 5% of the requests may have been throttled.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from dynamodb_sizes import item_size
from fault_proxy import FaultKind, FaultProxy

from ddbmigrate import api
from ddbmigrate.aws.dynamodb import DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.config import Side
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import Item
from ddbmigrate.ports import WriteRequest

pytestmark = pytest.mark.faults

PERCENT = 0.8
WCU_LIMIT = 100.0
RCU_LIMIT = 200.0
WARMUP = 5.0
"""Seconds after the first charge before the measured window opens (burst, first pages)."""
WINDOW = 30.0
"""Seconds of steady state measured."""


# --- setup shared with nothing else: each faults test file guards bootstrap on its own ---


def ensure_bootstrapped(env: LocalAWS) -> None:
    """Roles, staging bucket and policy, once per moto server (bootstrap refuses twice)."""
    s3 = env.client(DEST_ROLE, "s3")
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in names:
        bootstrap(env)


@pytest.fixture(scope="module")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    ensure_bootstrapped(env)
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None) -> LocalAWS:
    return local_aws


def through(proxy: FaultProxy, role_arn: str) -> Side:
    """An account of the embedded AWS reached through the proxy (S3 and STS pass untouched)."""
    return Side(role_arn=role_arn, endpoint_url=proxy.url, region=LOCAL_REGION)


def create_provisioned(aws: LocalAWS, role: str, table: str, *, rcu: float, wcu: float) -> None:
    aws.client(role, "dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": int(rcu), "WriteCapacityUnits": int(wcu)},
    )


def sized_item(number: int, size: int) -> Item:
    """An item of exactly ``size`` bytes as DynamoDB counts them."""
    item: Item = {"pk": {"S": f"k{number:07d}"}, "pad": {"S": ""}}
    item["pad"]["S"] = "x" * (size - item_size(item))
    assert item_size(item) == size
    return item


def load_direct(aws: LocalAWS, role: str, table: str, *, count: int, size: int) -> None:
    """Fill ``table`` with BatchWriteItem straight to moto: no proxy, no limit."""
    side = Side(role_arn=role, endpoint_url=aws.endpoint_url, region=aws.region)
    wire = WireClient(SideSession(side))
    writer = DynamoTableWriter(wire, table)

    def batch(first: int) -> None:
        pending: list[WriteRequest] = [
            {"PutRequest": {"Item": sized_item(n, size)}}
            for n in range(first, min(count, first + 25))
        ]
        for _ in range(20):
            pending = writer.batch_write(pending).unprocessed
            if not pending:
                return
        raise AssertionError(f"moto left {len(pending)} items unprocessed")

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(batch, range(0, count, 25)))
    finally:
        wire.close()


class Messages:
    """An observer that keeps the log lines (thread-safe)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def step_started(self, step: str, *, total: int | None) -> None:
        return None

    def advanced(self, step: str, items: int) -> None:
        return None

    def message(self, text: str) -> None:
        with self._lock:
            self.lines.append(text)

    def step_finished(self, step: str, *, summary: str) -> None:
        return None

    def words(self) -> list[str]:
        """The lines with runs of spaces (column alignment) collapsed."""
        with self._lock:
            return [" ".join(line.split()) for line in self.lines]


@dataclass(frozen=True, slots=True)
class Held:
    """What the proxy saw of one table and direction."""

    rate: float
    start: float
    end: float
    first: float
    last: float

    def describe(self, limit: float) -> str:
        return (
            f"held {self.rate:.1f} units/s = {self.rate / limit:.1%} of {limit:g} over "
            f"[{self.start:.1f}, {self.end:.1f}] s "
            f"(charges from {self.first:.1f} to {self.last:.1f} s)"
        )


def steady_state(proxy: FaultProxy, table: str, direction: str, warmup: float = WARMUP) -> Held:
    """The mean rate over WINDOW seconds, ``warmup`` seconds after the first charge."""
    series = proxy.consumed(table, direction)  # type: ignore[arg-type]
    assert series, f"the proxy charged nothing to {table} ({direction})"
    first, last = series[0][0], series[-1][0]
    start = first + warmup
    end = start + WINDOW
    # The run must have kept going through the whole window, or the window measures idling.
    assert last >= end, f"the run ended at {last:.1f} s, before the window's end {end:.1f} s"
    rate = proxy.held_rate(table, direction, start=start, end=end)  # type: ignore[arg-type]
    return Held(rate=rate, start=start, end=end, first=first, last=last)


@pytest.fixture
def staging(tmp_path: Path) -> str:
    path = tmp_path / "staging"
    path.mkdir()
    return str(path)


# --- writes ---

WRITE_WARMUP = 15.0
"""The import runs on 4 worker processes. Under load their first batches reach the proxy up to
~10 s after the budget released them (measured: the parent released ~80 units/s from the
first reservation, the proxy received ~42/s for 10 s, then the 400 late units in 4 s), so a
window opening 5 s in caught that catch-up and read 86-89% while the run averaged 81/s. The
release rate is what the tool controls; the window opens once every worker is sending."""
WRITE_ITEMS = 4_000
"""1 KB items, 1 WCU each: 80 WCU/s takes 50 s, past WRITE_WARMUP + WINDOW."""
WRITE_ITEM_BYTES = 1_000
WRITE_BURST_SECONDS = 5.0
"""DynamoDB banks up to 300 s of unused capacity; the proxy's default bank is 1 s (100 WCU,
four 25-item batches). On a loaded machine batches the budget spaced correctly reach the proxy
bunched (a worker process or the proxy's thread waits for a core), and a 1 s bank returned
more than 5% of them unprocessed, on main too. A 5 s bank (500 WCU) absorbs that and is still
far stricter than DynamoDB; a tool writing flat out would hold 100% + 500 WCU / 30 s = 117%."""


def test_import_holds_80_percent_of_a_100_wcu_table(
    aws: LocalAWS, fault_proxy: FaultProxy, staging: str
) -> None:
    source = f"cap-wsrc-{uuid.uuid4().hex[:8]}"
    dest = f"cap-wdst-{uuid.uuid4().hex[:8]}"
    create_provisioned(aws, SOURCE_ROLE, source, rcu=10_000, wcu=10_000)
    load_direct(aws, SOURCE_ROLE, source, count=WRITE_ITEMS, size=WRITE_ITEM_BYTES)
    exported = api.export(
        source=through(fault_proxy, SOURCE_ROLE),
        table=source,
        staging=api.StagingOptions(url=staging),
        segments=4,
    )
    assert exported.item_count == WRITE_ITEMS
    create_provisioned(aws, DEST_ROLE, dest, rcu=1_000, wcu=WCU_LIMIT)
    fault_proxy.limit(dest, wcu=WCU_LIMIT, burst_seconds=WRITE_BURST_SECONDS)
    before = fault_proxy.stats()
    messages = Messages()

    result = api.import_(
        dest=through(fault_proxy, DEST_ROLE),
        source_url=exported.url,
        table=dest,
        workers=4,
        throughput=ThroughputOptions(write_percent=PERCENT),
        observer=messages,
    )

    assert result.item_count == WRITE_ITEMS
    assert "dest writes provisioned: 80% of 100 WCU = 80 WCU/s" in messages.words()
    held = steady_state(fault_proxy, dest, "write", warmup=WRITE_WARMUP)
    stats = fault_proxy.stats()
    calls = stats.requests["BatchWriteItem"] - before.requests.get("BatchWriteItem", 0)
    refused = stats.throttled - before.throttled
    unprocessed = stats.capacity_unprocessed - before.capacity_unprocessed
    report = (
        f"{held.describe(WCU_LIMIT)}; {calls} BatchWriteItem calls, {refused} refused, "
        f"{unprocessed} items returned unprocessed by the limit"
    )
    print(report)
    assert 0.72 * WCU_LIMIT <= held.rate <= 0.88 * WCU_LIMIT, report
    # A call that had items returned unprocessed counts as throttled: at most one per item.
    assert (refused + min(unprocessed, calls)) / calls < 0.05, report
    assert unprocessed / WRITE_ITEMS < 0.05, report
    # Every write the proxy charged is one item: nothing was written twice.
    assert sum(u for _, u in fault_proxy.consumed(dest, "write")) == WRITE_ITEMS


# --- reads ---

READ_ITEMS = 6_800
"""8 KB items: 160 RCU/s of eventually consistent Scan is ~1.3 MB/s, so 6,800 items take
~42 s; moto scans ~20 MB/s here, so the limit, not moto, sets the pace."""
READ_ITEM_BYTES = 8_000
READ_BURST_SECONDS = 5.0
"""DynamoDB banks up to 300 s of unused capacity; the proxy's default bank is 1 s. A 5 s bank
(1,000 RCU) absorbs the export's start, when every worker's first 1 MB page is sent before any
page's cost is known (see test_export_start_stays_within_the_budget), and is still far
stricter than DynamoDB. A tool reading flat out would hold 100% + 1,000 RCU / 30 s = 117%."""


def test_export_holds_80_percent_of_a_200_rcu_table(
    aws: LocalAWS, fault_proxy: FaultProxy, staging: str
) -> None:
    source = f"cap-rsrc-{uuid.uuid4().hex[:8]}"
    create_provisioned(aws, SOURCE_ROLE, source, rcu=RCU_LIMIT, wcu=100)
    load_direct(aws, SOURCE_ROLE, source, count=READ_ITEMS, size=READ_ITEM_BYTES)
    fault_proxy.limit(source, rcu=RCU_LIMIT, burst_seconds=READ_BURST_SECONDS)
    messages = Messages()

    exported = api.export(
        source=through(fault_proxy, SOURCE_ROLE),
        table=source,
        staging=api.StagingOptions(url=staging),
        segments=8,
        workers=4,
        throughput=ThroughputOptions(read_percent=PERCENT),
        observer=messages,
    )

    assert exported.item_count == READ_ITEMS
    assert "source reads provisioned: 80% of 200 RCU = 160 RCU/s" in messages.words()
    held = steady_state(fault_proxy, source, "read")
    stats = fault_proxy.stats()
    scans = stats.requests["Scan"]
    report = f"{held.describe(RCU_LIMIT)}; {scans} Scan calls, {stats.throttled} throttled"
    print(report)
    assert 0.72 * RCU_LIMIT <= held.rate <= 0.88 * RCU_LIMIT, report
    assert stats.throttled / scans < 0.05, report


def test_export_start_stays_within_the_budget(
    aws: LocalAWS, fault_proxy: FaultProxy, staging: str
) -> None:
    """The export's first pages fit a table that banks only one second of capacity.

    Before a segment's first page answers, its cost is unknown; a 1 MB page costs ~122 RCU.
    The first page asks for one second of the segment's share assuming 1 RCU per item
    (``ddbmigrate.pages``: 160 RCU/s over 4 segments, 40 items of 8 KB, ~40 RCU) and
    reserves that before it waits. Sending four 1 MB pages at once (the bug this guards),
    ~490 RCU, makes a 200 RCU table that banks 1 s throttle the third: the rate halves.

    Judged by the proxy's throttling, not by RCU per wall-clock second: a page reaches the
    proxy some time after its reservation (a new worker's first request also opens its
    connection), and on a loaded machine that lag is uneven enough to put three correctly
    paced pages into one second. The proxy's bank of 200 RCU refilling at 200 RCU/s admits
    correctly paced pages even when the first of them lags by over a second.
    """
    source = f"cap-rstart-{uuid.uuid4().hex[:8]}"
    create_provisioned(aws, SOURCE_ROLE, source, rcu=RCU_LIMIT, wcu=100)
    # 4 segments of ~1.2 MB each: every worker's first page is a full 1 MB page.
    load_direct(aws, SOURCE_ROLE, source, count=600, size=READ_ITEM_BYTES)
    fault_proxy.limit(source, rcu=RCU_LIMIT)

    exported = api.export(
        source=through(fault_proxy, SOURCE_ROLE),
        table=source,
        staging=api.StagingOptions(url=staging),
        segments=4,
        workers=4,
        throughput=ThroughputOptions(read_percent=PERCENT),
    )

    assert exported.item_count == 600
    series = fault_proxy.consumed(source, "read")
    first = series[0][0]
    opening = sum(units for at, units in series if at < first + 1.0)
    throttled = fault_proxy.stats().throttled
    report = (
        f"{opening:g} RCU reached the proxy in the export's first second (budget "
        f"{PERCENT * RCU_LIMIT:g} RCU/s, bucket the same); {throttled} Scan calls throttled; "
        f"pages at {[round(at - first, 2) for at, _ in series]} s"
    )
    print(report)
    assert throttled == 0, report


# --- a small table: 60 RCU that banks one second, ~1 KB items ---

SMALL_RCU = 60.0
SMALL_ITEM_BYTES = 1_000
"""1 KB items: a Scan reads 4 of them per 4 KB, so an item costs 1/8 RCU eventually
consistent, and a 1 MB page (about 1,000 items) costs ~126 RCU, 2.6 s of 48 RCU/s."""
SMALL_ITEMS = 11_000
"""48 RCU/s reads 384 items/s: 11,000 items last ~29 s, past WARMUP + SMALL_WINDOW."""
SMALL_WINDOW = 20.0


def small_steady_state(
    proxy: FaultProxy, table: str, direction: str = "read", window: float = SMALL_WINDOW
) -> Held:
    """The mean rate over ``window`` seconds, WARMUP seconds after the first charge."""
    series = proxy.consumed(table, direction)  # type: ignore[arg-type]
    assert series, f"the proxy charged nothing to {table}"
    first, last = series[0][0], series[-1][0]
    start = first + WARMUP
    end = start + window
    assert last >= end, f"the run ended at {last:.1f} s, before the window's end {end:.1f} s"
    rate = proxy.held_rate(table, direction, start=start, end=end)  # type: ignore[arg-type]
    return Held(rate=rate, start=start, end=end, first=first, last=last)


def small_source(aws: LocalAWS, proxy: FaultProxy, prefix: str, *, count: int = SMALL_ITEMS) -> str:
    """A table provisioned at 60 RCU, that the proxy holds to 60 RCU banking 1 s."""
    table = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_provisioned(aws, SOURCE_ROLE, table, rcu=SMALL_RCU, wcu=100)
    load_direct(aws, SOURCE_ROLE, table, count=count, size=SMALL_ITEM_BYTES)
    proxy.limit(table, rcu=SMALL_RCU, burst_seconds=1.0)
    return table


def scans_and_throttled(proxy: FaultProxy) -> tuple[int, int]:
    stats = proxy.stats()
    return stats.requests["Scan"], stats.throttled + sum(stats.faults.values())


def assert_small_share_held(proxy: FaultProxy, source: str, scans_of: str = "") -> None:
    """72-88% of the 60 RCU source held in the steady state, under 5% of Scans throttled."""
    held = small_steady_state(proxy, source)
    scans, throttled = scans_and_throttled(proxy)
    report = f"{held.describe(SMALL_RCU)}; {scans} Scan calls{scans_of}, {throttled} throttled"
    print(report)
    assert 0.72 * SMALL_RCU <= held.rate <= 0.88 * SMALL_RCU, report
    assert throttled / scans < 0.05, report


def test_export_holds_80_percent_of_a_60_rcu_table_with_1_kb_items(
    aws: LocalAWS, fault_proxy: FaultProxy, staging: str
) -> None:
    """Pages sized to the budget: each costs about a second of its segment's share (12 RCU,
    ~96 items), not a 1 MB page of ~126 RCU that a table banking 1 s refuses."""
    source = small_source(aws, fault_proxy, "cap-small")

    exported = api.export(
        source=through(fault_proxy, SOURCE_ROLE),
        table=source,
        staging=api.StagingOptions(url=staging),
        segments=4,
        workers=2,
        throughput=ThroughputOptions(read_percent=PERCENT),
    )

    assert exported.item_count == SMALL_ITEMS
    assert_small_share_held(fault_proxy, source)


def test_validation_holds_80_percent_of_a_60_rcu_table_with_1_kb_items(
    aws: LocalAWS, fault_proxy: FaultProxy
) -> None:
    """Validation scans size their pages by the same rule (the destination is unlimited)."""
    source = small_source(aws, fault_proxy, "cap-vsrc")
    dest = f"cap-vdst-{uuid.uuid4().hex[:8]}"
    create_provisioned(aws, DEST_ROLE, dest, rcu=10_000, wcu=100)
    load_direct(aws, DEST_ROLE, dest, count=SMALL_ITEMS, size=SMALL_ITEM_BYTES)

    report = api.validate(
        source=through(fault_proxy, SOURCE_ROLE),
        dest=through(fault_proxy, DEST_ROLE),
        source_table=source,
        dest_table=dest,
        workers=2,
        throughput=ThroughputOptions(read_percent=PERCENT),
    )

    # Every item of the source was read (whether the tables match is not this test's matter).
    assert report.source_count == SMALL_ITEMS
    assert_small_share_held(fault_proxy, source, " (both tables)")


SMALL_WCU = 500.0
SMALL_WRITE_WINDOW = 15.0
"""At 80% of 500 WCU a 1 KB item a unit, the import writes 400 items/s. 15 s of steady state
(6,000 units) is the shortest window that still tells the tool from one writing flat out:
that one would hold 100% + one second's bank (500 WCU) / 15 s = 107%, far above 88%, and a
one-second stall of a loaded machine moves the share by under 7 points. Longer windows cost
the suite 2.5 s per second of window (loading, exporting and importing 400 more items)."""
SMALL_WRITE_ITEMS = 9_000
"""WARMUP + SMALL_WRITE_WINDOW = 20 s at 400 items/s is 8,000 items, and a margin."""


def test_import_holds_80_percent_of_a_500_wcu_table_banking_1_s(
    aws: LocalAWS, fault_proxy: FaultProxy, staging: str
) -> None:
    """Writes of ~1 KB items into 500 WCU that bank one second (as a busy table does):
    72-88% of the provisioned WCU as the proxy charges it, under 5% of calls throttled."""
    source = f"cap-ssrc-{uuid.uuid4().hex[:8]}"
    dest = f"cap-sdst-{uuid.uuid4().hex[:8]}"
    create_provisioned(aws, SOURCE_ROLE, source, rcu=10_000, wcu=10_000)
    load_direct(aws, SOURCE_ROLE, source, count=SMALL_WRITE_ITEMS, size=SMALL_ITEM_BYTES)
    direct = Side(role_arn=SOURCE_ROLE, endpoint_url=aws.endpoint_url, region=aws.region)
    exported = api.export(source=direct, table=source, staging=api.StagingOptions(url=staging))
    assert exported.item_count == SMALL_WRITE_ITEMS
    create_provisioned(aws, DEST_ROLE, dest, rcu=1_000, wcu=SMALL_WCU)
    fault_proxy.limit(dest, wcu=SMALL_WCU, burst_seconds=1.0)
    messages = Messages()

    result = api.import_(
        dest=through(fault_proxy, DEST_ROLE),
        source_url=exported.url,
        table=dest,
        workers=2,
        throughput=ThroughputOptions(write_percent=PERCENT),
        observer=messages,
    )

    assert result.item_count == SMALL_WRITE_ITEMS
    assert "dest writes provisioned: 80% of 500 WCU = 400 WCU/s" in messages.words()
    held = small_steady_state(fault_proxy, dest, "write", SMALL_WRITE_WINDOW)
    stats = fault_proxy.stats()
    calls = stats.requests["BatchWriteItem"]
    unprocessed = stats.capacity_unprocessed
    report = (
        f"{held.describe(SMALL_WCU)}; {calls} BatchWriteItem calls, {stats.throttled} "
        f"refused, {unprocessed} items returned unprocessed by the limit"
    )
    print(report)
    assert 0.72 * SMALL_WCU <= held.rate <= 0.88 * SMALL_WCU, report
    # A call that had items returned unprocessed counts as throttled: at most one per item.
    assert (stats.throttled + min(unprocessed, calls)) / calls < 0.05, report
    # Every write the proxy charged is one item: nothing was written twice.
    assert sum(u for _, u in fault_proxy.consumed(dest, "write")) == SMALL_WRITE_ITEMS


STORM_AFTER = 8.0
"""Seconds after the export's first charge when the storm starts (past its first pages)."""
STORM = 10.0
RECOVERY = 10.0
"""The rate must be back at the target this long after the storm ends..."""
AFTER_WINDOW = 12.0
"""...and hold it over this many seconds."""
STORM_ITEMS = 14_000
"""384 items/s: 8 s before the storm, 10 s of it, 22 s after it and a margin."""


class Storm:
    """Refuses every Scan of one table for STORM seconds, STORM_AFTER seconds after the
    proxy's first charge to it; records when it started and ended on the proxy's time axis."""

    def __init__(self, proxy: FaultProxy, table: str) -> None:
        self.proxy = proxy
        self.table = table
        self.started: float | None = None
        self.ended: float | None = None
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.proxy.consumed(self.table, "read"):
            if self.cancel.wait(0.05):
                return
        first = self.proxy.consumed(self.table, "read")[0][0]
        if self.cancel.wait(max(0.0, first + STORM_AFTER - self.proxy.elapsed())):
            return
        self.proxy.inject(FaultKind.THROUGHPUT_EXCEEDED, operations="Scan", tables=[self.table])
        self.started = self.proxy.elapsed()
        self.cancel.wait(STORM)
        self.proxy.clear_faults()
        self.ended = self.proxy.elapsed()


def test_export_is_back_at_its_target_within_10_s_of_a_throttling_storm(
    aws: LocalAWS, fault_proxy: FaultProxy, staging: str
) -> None:
    """Ten seconds of every Scan refused, in the middle of an export of a 60 RCU table:
    the rate backs off to its floor, then grows back on time (not only on the rare successful
    call), so ten seconds after the storm the proxy charges the target again."""
    source = small_source(aws, fault_proxy, "cap-storm", count=STORM_ITEMS)
    storm = Storm(fault_proxy, source)
    storm.thread.start()
    try:
        exported = api.export(
            source=through(fault_proxy, SOURCE_ROLE),
            table=source,
            staging=api.StagingOptions(url=staging),
            segments=4,
            workers=2,
            throughput=ThroughputOptions(read_percent=PERCENT),
        )
    finally:
        storm.cancel.set()
        storm.thread.join(timeout=30)

    assert exported.item_count == STORM_ITEMS
    assert storm.started is not None, "the storm never blew"
    assert storm.ended is not None, "the storm never ended"
    series = fault_proxy.consumed(source, "read")
    start = storm.ended + RECOVERY
    end = start + AFTER_WINDOW
    during = fault_proxy.held_rate(source, "read", start=storm.started, end=storm.ended)
    seconds = fault_proxy.per_second(source, "read")
    report = (
        f"storm [{storm.started:.1f}, {storm.ended:.1f}] s, {during:.1f} RCU/s during it; "
        f"per second: {[round(units) for units in seconds]}"
    )
    print(report)
    assert series[-1][0] >= end, f"the export ended before {end:.1f} s; {report}"
    after = fault_proxy.held_rate(source, "read", start=start, end=end)
    assert 0.72 * SMALL_RCU <= after <= 0.88 * SMALL_RCU, f"{after:.1f} RCU/s after; {report}"
