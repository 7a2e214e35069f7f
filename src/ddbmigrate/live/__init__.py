"""Live migration through DynamoDB Streams: start point, replay, checkpoints, cutover.

Core code: it talks to DynamoDB Streams only through ``live.ports.ChangeStreams``
(``ddbmigrate.aws.streams`` on AWS, ``ddbmigrate.testing.streams`` in memory).
"""

from ddbmigrate.live.bridge import bridge_windows, close_gap, plan_bridge
from ddbmigrate.live.checkpoints import Bridge, ShardCheckpoints, ShardMark
from ddbmigrate.live.cutover import CutoverResult, cutover
from ddbmigrate.live.ports import ChangeRecord, ChangeStreams, Shard, StreamDescription
from ddbmigrate.live.replay import Replay, ReplayOptions, ReplayStatus, open_replay
from ddbmigrate.live.start import (
    StreamStart,
    check_stream,
    record_start,
    recorded_start,
    start_stream,
)

__all__ = [
    "Bridge",
    "ChangeRecord",
    "ChangeStreams",
    "CutoverResult",
    "Replay",
    "ReplayOptions",
    "ReplayStatus",
    "Shard",
    "ShardCheckpoints",
    "ShardMark",
    "StreamDescription",
    "StreamStart",
    "bridge_windows",
    "check_stream",
    "close_gap",
    "cutover",
    "open_replay",
    "plan_bridge",
    "record_start",
    "recorded_start",
    "start_stream",
]
