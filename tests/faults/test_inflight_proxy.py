"""Requests in flight follow latency, not a thread count (issue 12; ADR 22).

The proxy delays every answer of one operation, standing in for the network between a client
and AWS, and counts how many requests of it it serves at once. Before the change, the default
2 workers x 4 threads never had more than 8 in flight whatever the latency; now the number
grows while latency is the limit, and the provisioned capacity the proxy enforces still holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fault_proxy import FaultKind, FaultProxy

from ddbmigrate import api
from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.config import Side
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import LOCAL_REGION, MotoServer

pytestmark = pytest.mark.faults

ITEMS = 3_000
DELAY = 0.2
"""Seconds the proxy holds every answer: 20 ms-class networks, scaled up so that the test
does not depend on how fast this machine answers."""
OLD_CEILING = 8
"""2 workers x 4 threads: the most requests in flight before the change."""
WCU = 4_000.0
TARGET = 2_000.0
"""Half of WCU: 80 batches of 25 one-unit items a second, which at 0.2 s each need 16 in
flight (Little's law)."""
WRITE_ITEMS = 10_000
"""Five seconds of TARGET: long enough for the pace, not only the first burst, to show."""


@pytest.fixture(scope="module")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    names = {b["Name"] for b in env.client(DEST_ROLE, "s3").list_buckets().get("Buckets", [])}
    if BUCKET not in names:  # bootstrap refuses to run twice on one server
        bootstrap(env)
    return env


@pytest.fixture
def big_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """A proxy with room for more connections than the client will open."""
    with FaultProxy(moto_server.endpoint_url, seed=12, max_connections=256) as proxy:
        yield proxy
        assert proxy.stats().errors == []


def through(proxy: FaultProxy, role: str) -> Side:
    return Side(role_arn=role, endpoint_url=proxy.url, region=LOCAL_REGION)


def make_table(aws: LocalAWS, role: str, *, rcu: float, wcu: float, items: int = 0) -> str:
    name = f"inflight-{uuid.uuid4().hex[:8]}"
    client = aws.client(role, "dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": int(rcu), "WriteCapacityUnits": int(wcu)},
    )
    for first in range(0, items, 25):
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": f"k{n:06d}"}, "v": {"S": "x" * 50}}}}
            for n in range(first, min(items, first + 25))
        ]
        while requests:  # moto never throttles, but the loop costs nothing
            answer = client.batch_write_item(RequestItems={name: requests})
            requests = answer.get("UnprocessedItems", {}).get(name, [])
    return name


def test_export_keeps_more_than_8_scans_in_flight_when_latency_is_the_limit(
    local_aws: LocalAWS, big_proxy: FaultProxy, aws_env: None, tmp_path: object
) -> None:
    source = make_table(local_aws, SOURCE_ROLE, rcu=10_000, wcu=10_000, items=ITEMS)
    big_proxy.inject(FaultKind.SLOW, operations="Scan", delay=DELAY)

    result = api.export(
        source=through(big_proxy, SOURCE_ROLE),
        table=source,
        staging=api.StagingOptions(url=f"s3://{BUCKET}/inflight-{uuid.uuid4().hex[:6]}"),
    )

    assert result.item_count == ITEMS
    stats = big_proxy.stats()
    assert stats.peak_in_flight["Scan"] > OLD_CEILING, stats.peak_in_flight
    assert stats.throttled == 0


def test_import_keeps_more_than_8_writes_in_flight_within_the_provisioned_capacity(
    local_aws: LocalAWS, big_proxy: FaultProxy, aws_env: None
) -> None:
    source = make_table(local_aws, SOURCE_ROLE, rcu=10_000, wcu=10_000, items=WRITE_ITEMS)
    exported = api.export(
        source=Side(role_arn=SOURCE_ROLE, endpoint_url=local_aws.endpoint_url, region=LOCAL_REGION),
        table=source,
        staging=api.StagingOptions(url=f"s3://{BUCKET}/inflight-{uuid.uuid4().hex[:6]}"),
        segments=2,
    )
    dest = make_table(local_aws, DEST_ROLE, rcu=1_000, wcu=WCU)
    big_proxy.limit(dest, wcu=WCU)  # the table's capacity, enforced by the proxy
    big_proxy.inject(FaultKind.SLOW, operations="BatchWriteItem", delay=DELAY)

    result = api.import_(
        dest=through(big_proxy, DEST_ROLE),
        source_url=exported.url,
        table=dest,
        throughput=ThroughputOptions(write_percent=TARGET / WCU),
    )

    assert result.item_count == WRITE_ITEMS
    stats = big_proxy.stats()
    assert stats.peak_in_flight["BatchWriteItem"] > OLD_CEILING, stats.peak_in_flight
    # The proxy refused nothing: the capacity held with more in flight.
    assert stats.throttled == 0
    assert stats.capacity_unprocessed == 0
    assert_within_budget(big_proxy.consumed(dest, "write"), TARGET)


def assert_within_budget(charges: list[tuple[float, float]], rate: float) -> None:
    """By every charge, the proxy saw at most one second of ``rate`` (the budget's first
    bucket) plus ``rate`` per second since the first charge, with room for scheduling
    jitter on a loaded machine (5%, and 150 units: the first answer held 75 ms longer
    than a later one)."""
    assert sum(units for _, units in charges) == WRITE_ITEMS  # nothing written twice
    first = charges[0][0]
    total = 0.0
    worst = 0.0
    for at, units in charges:
        total += units
        worst = max(worst, total - (rate + rate * (at - first)))
    assert worst <= 0.05 * WRITE_ITEMS + 150, f"{worst:.0f} units over the budget"
