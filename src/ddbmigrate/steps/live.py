"""The live steps of a run: the stream's start point before the export, and the replay that
follows the source after the import (``migrate --live``, ``sync``, ``cutover``).

Core only: the stream arrives as a ``live.ChangeStreams`` port.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ddbmigrate.live import (
    ChangeStreams,
    Replay,
    ReplayOptions,
    ReplayStatus,
    StreamStart,
    check_stream,
    open_replay,
    record_start,
    recorded_start,
    start_stream,
)
from ddbmigrate.ports import TableWriter
from ddbmigrate.steps.context import RunContext

STREAM_STEP = "stream"
"""The ledger's step that recorded the start point."""
REPLAY_STEP = "replay"
"""The ledger's step of the replay: running until the cutover marks it done."""
STREAM_TIMEOUT = 600.0
"""Seconds for a newly enabled stream to become ENABLED."""


@dataclass(frozen=True, slots=True)
class LiveSource:
    """What a live run needs from the source: its stream."""

    streams: ChangeStreams


def stream_start_step(ctx: RunContext, live: LiveSource, table: str) -> StreamStart:
    """Enable (or accept) ``table``'s stream and record where the replay starts; a resumed
    run keeps the start point it recorded (proven to still be the table's stream)."""
    ledger = ctx.run_ledger
    recorded = recorded_start(ledger)
    if recorded is not None:
        check_stream(live.streams, recorded)
        return recorded
    ctx.mark(STREAM_STEP, "running")
    start = start_stream(live.streams, table, clock=ctx.clock, timeout=STREAM_TIMEOUT)
    record_start(ledger, start)
    ctx.mark(STREAM_STEP, "done")
    how = "enabled by this run" if start.enabled_by_us else "already enabled"
    ctx.observer.message(f"stream         {start.arn} ({how}, {start.view_type})")
    ctx.observer.message(f"replay         every change from {start.started} on")
    return start


def replay_of(ctx: RunContext, live: LiveSource, writer: TableWriter) -> Replay:
    """The run's replay into ``writer``, resumed from its checkpoints, writing within the
    destination's write budget (import's ``--write-percent``)."""
    return open_replay(
        streams=live.streams,
        ledger=ctx.run_ledger,
        writer=writer,
        clock=ctx.clock,
        options=ReplayOptions(),
        budget=ctx.budgets.dest_write,
        observer=ctx.observer,
    )


def follow(
    ctx: RunContext,
    replay: Replay,
    *,
    stop: threading.Event | None = None,
    until_caught_up: bool = False,
    pause: float = 1.0,
) -> ReplayStatus:
    """Replay passes until ``stop`` is set, or (``until_caught_up``) a pass finds nothing
    new; a line per pass that applied records. Checkpoints are kept at every page, so an
    interrupt loses nothing."""
    stop = stop or threading.Event()
    ctx.mark(REPLAY_STEP, "running")
    while not stop.is_set():
        applied = replay.catch_up(stop)
        if applied:
            ctx.observer.message(status_line(replay.status()))
        if until_caught_up and applied == 0:
            ctx.observer.message(f"caught up: {status_line(replay.status())}")
            break
        stop.wait(pause)
    return replay.status()


def status_line(status: ReplayStatus) -> str:
    """Records applied, shards open, lag: the replay's progress in one line."""
    lag = "-" if status.lag is None else f"{status.lag:.1f}s"
    return (
        f"replay         {status.applied} records applied, {status.shards_open} shards open, "
        f"lag {lag}"
    )
