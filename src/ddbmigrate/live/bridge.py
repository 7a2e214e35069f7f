"""Past the 24-hour retention: the replay's side of the incremental-export bridge (ADR 32).

When the replay stops with StreamTrimmedError, the changes it has not applied are gone from
the stream but, with PITR on, not from the table's history. The wiring then:

1. ``plan_bridge(replay, now=...)``: the time range that holds every unapplied change
   (from just before the oldest unapplied one to ``now``), cut into ``bridge_windows`` of 15
   minutes to 24 hours, as ExportTableToPointInTime INCREMENTAL_EXPORT requires;
2. exports each window incrementally and applies it with the existing incremental import
   (newest image or deletion per key, ``formats/incremental.py``);
3. ``close_gap(replay, bridge)``: records the bridge; shards that left the stream count as
   read, the others are read again from TRIM_HORIZON, and records older than
   ``resume_from`` (covered by the export) are not written again.

Exact for the reason of ADR 31: per key, the export leaves the state as of ``end``, and
the stream then supplies, in order, every change after ``resume_from`` (before ``end``).
"""

from __future__ import annotations

from ddbmigrate.live.checkpoints import Bridge
from ddbmigrate.live.replay import Replay

MAX_WINDOW = 24 * 3600.0
MIN_WINDOW = 15 * 60.0
OVERLAP = 1.0
"""``ApproximateCreationDateTime`` has one-second resolution: start one second earlier."""
MARGIN = 60.0
"""Stream records this much older than the export's end are written again (clock skew
between the export's time and the records' times)."""


def bridge_windows(bridge: Bridge) -> list[tuple[float, float]]:
    """``[start, end)`` of ``bridge`` as export windows of 15 minutes to 24 hours, in order."""
    cuts: list[tuple[float, float]] = []
    end = bridge.end
    while True:
        start = max(bridge.start, end - MAX_WINDOW)
        start = min(start, end - MIN_WINDOW)  # a short window reaches further back
        cuts.append((start, end))
        if start <= bridge.start:
            return cuts[::-1]
        end = start


def plan_bridge(replay: Replay, *, now: float, margin: float = MARGIN) -> Bridge:
    """The bridge that covers every change ``replay`` has not applied, up to ``now``."""
    start = min(replay.oldest_unapplied(), now) - OVERLAP
    return Bridge(
        start=start,
        end=now,
        resume_from=now - margin,
        shards=tuple(s.shard_id for s in replay.listed_shards()),
    )


def close_gap(replay: Replay, bridge: Bridge) -> None:
    """Once the exports of ``bridge`` are applied: record it and let the replay go on."""
    replay.bridged(bridge)
