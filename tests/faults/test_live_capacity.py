"""The live replay holds its share of the destination's write capacity, as the proxy counts it.

The replay writes through import's sender and budget (``importer.send_requests``), so it must
hold what import holds: the proxy enforces 100 WCU on the destination, the replay aims at 80%
of it, and over 30 s of steady state the proxy must have charged 72-88 WCU/s with nothing
written twice. The stream is read straight from moto; only the writes pass the proxy.
moto only: dynalite has no DynamoDB Streams.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from test_capacity import (  # the capacity test's own setup and measure
    PERCENT,
    WCU_LIMIT,
    WRITE_BURST_SECONDS,
    WRITE_ITEM_BYTES,
    aws,  # noqa: F401 - a fixture
    create_provisioned,
    load_direct,
    local_aws,  # noqa: F401 - a fixture
    steady_state,
    through,
)

from ddbmigrate.aws.dynamodb import DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.streams import DynamoStreams
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.live import Replay, ShardCheckpoints, start_stream
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS
from ddbmigrate.stores.local import LocalStore
from ddbmigrate.throttle import CapacityBudget

pytestmark = pytest.mark.faults

CHANGES = 3_200
"""1 KB images, 1 WCU each: 80 WCU/s takes 40 s, past the warm-up and the 30 s window."""


def test_the_replay_holds_80_percent_of_a_100_wcu_destination(
    aws: LocalAWS,  # noqa: F811 - the fixture imported above
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    source = f"live-cap-src-{uuid.uuid4().hex[:8]}"
    dest = f"live-cap-dst-{uuid.uuid4().hex[:8]}"
    create_provisioned(aws, SOURCE_ROLE, source, rcu=10_000, wcu=10_000)
    direct = SideSession(
        Side(role_arn=SOURCE_ROLE, endpoint_url=aws.endpoint_url, region=aws.region)
    )
    clock = SystemClock()
    start = start_stream(DynamoStreams(direct), source, clock=clock, timeout=60)
    load_direct(aws, SOURCE_ROLE, source, count=CHANGES, size=WRITE_ITEM_BYTES)
    create_provisioned(aws, DEST_ROLE, dest, rcu=1_000, wcu=WCU_LIMIT)
    fault_proxy.limit(dest, wcu=WCU_LIMIT, burst_seconds=WRITE_BURST_SECONDS)
    writer = DynamoTableWriter(WireClient(SideSession(through(fault_proxy, DEST_ROLE))), dest)
    replay = Replay(
        streams=DynamoStreams(direct),
        start=start,
        writer=writer,
        checkpoints=ShardCheckpoints(LocalStore(str(tmp_path)), "ddbmigrate/runs/live"),
        clock=clock,
        budget=CapacityBudget(PERCENT * WCU_LIMIT, clock=clock),
    )

    applied = replay.catch_up()

    held = steady_state(fault_proxy, dest, "write")
    report = held.describe(WCU_LIMIT)
    print(report)
    assert applied == CHANGES
    assert 0.72 * WCU_LIMIT <= held.rate <= 0.88 * WCU_LIMIT, report
    assert sum(u for _, u in fault_proxy.consumed(dest, "write")) == CHANGES  # none twice
