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

``GapBridge`` does the three as ``Replay.gap``, resumably (docs/adr/0045): the replay
calls it when a pass stops on a gap, and goes on once it returns.

Exact for the reason of ADR 31: per key, the export leaves the state as of ``end``, and
the stream then supplies, in order, every change after ``resume_from`` (before ``end``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ddbmigrate.errors import ExportFailedError, StreamTrimmedError
from ddbmigrate.live.checkpoints import Bridge, BridgeWindow, PendingBridge, ShardCheckpoints
from ddbmigrate.live.ports import ChangeExports
from ddbmigrate.live.replay import Replay
from ddbmigrate.ports import Clock, NullObserver, Observer

MAX_WINDOW = 24 * 3600.0
MIN_WINDOW = 15 * 60.0
OVERLAP = 1.0
"""``ApproximateCreationDateTime`` has one-second resolution: start one second earlier."""
MARGIN = 60.0
"""Stream records this much older than the export's end are written again (clock skew
between the export's time and the records' times)."""
EXPORT_LAG = 15 * 60.0
"""The exports end this long before now: an ExportToTime AWS accepts (in the past, within
the PITR window, whose newest point trails now by minutes); the stream, which holds the
last 24 hours, supplies every change after it (docs/adr/0045)."""

Apply = Callable[[str], int]
"""Applies the incremental export in a folder (relative to the staging root) to the
destination, newest change per key; returns the changes applied."""


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


@dataclass(slots=True)
class GapBridge:
    """``Replay.gap`` when point-in-time recovery may hold what the stream lost: plan the
    bridge (saved before any export starts), export and apply each window in order (each
    recorded once started and once applied), then ``close_gap``. Called again after a
    crash, it takes up the saved bridge: the same exports, the windows not applied yet."""

    exports: ChangeExports
    apply: Apply
    clock: Clock
    observer: Observer = field(default_factory=NullObserver)
    lag: float = EXPORT_LAG

    def __call__(self, replay: Replay, gap: StreamTrimmedError) -> None:
        checkpoints = replay.checkpoints
        pending = checkpoints.load_pending() or self._planned(replay, gap)
        for index in range(len(pending.windows)):
            pending = self._window(checkpoints, pending, index)
        close_gap(replay, pending.bridge)
        checkpoints.drop_pending()
        self.observer.message(
            f"bridge         closed: the stream goes on from {_when(pending.bridge.resume_from)}"
        )

    def _planned(self, replay: Replay, gap: StreamTrimmedError) -> PendingBridge:
        end = self.clock.now_ms() / 1000.0 - self.lag
        bridge = plan_bridge(replay, now=end)
        windows = tuple(BridgeWindow(a, b) for a, b in bridge_windows(bridge))
        self.exports.check_history(windows[0].start, gap)
        pending = PendingBridge(bridge, windows)
        replay.checkpoints.save_pending(pending)
        self.observer.message(
            f"bridge         the stream lost changes the replay had not applied: "
            f"{len(windows)} incremental export(s) of {_when(windows[0].start)} to "
            f"{_when(bridge.end)} bring them back (point-in-time recovery)"
        )
        return pending

    def _window(
        self, checkpoints: ShardCheckpoints, pending: PendingBridge, index: int
    ) -> PendingBridge:
        window = pending.windows[index]
        if window.applied:
            return pending
        if window.export is None:
            slot = f"{int(pending.bridge.end)}-{index}"
            if window.attempt:  # after a FAILED export: a new ClientToken, a new export
                slot += f"-{window.attempt}"
            started = self.exports.start_export(window.start, window.end, slot=slot)
            window = replace(window, export=started)
            pending = _with(pending, index, window)
            checkpoints.save_pending(pending)  # a crash waits for this export, not a new one
        try:
            folder = self.exports.wait_export(str(window.export))
        except ExportFailedError:  # the next run starts a new export of this window
            again = replace(window, export=None, attempt=window.attempt + 1)
            checkpoints.save_pending(_with(pending, index, again))
            raise
        changes = self.apply(folder)
        pending = _with(pending, index, replace(window, applied=True))
        checkpoints.save_pending(pending)
        self.observer.message(
            f"bridge         {_when(window.start)} to {_when(window.end)}: {changes} "
            "changes applied"
        )
        return pending


def _with(pending: PendingBridge, index: int, window: BridgeWindow) -> PendingBridge:
    windows = list(pending.windows)
    windows[index] = window
    return replace(pending, windows=tuple(windows))


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
