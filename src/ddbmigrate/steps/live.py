"""The live steps of a run: the stream's start point before the export, and the replay that
follows the source after the import (``migrate --live``, ``sync``, ``cutover``).

Core only: the stream arrives as a ``live.ChangeStreams`` port.
"""

from __future__ import annotations

import gc
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
from ddbmigrate.live.checkpoints import ShardCheckpoints
from ddbmigrate.live.replay import status_of
from ddbmigrate.notify.live import LiveEvents, notifying
from ddbmigrate.ports import Clock, Store, TableWriter
from ddbmigrate.steps.context import RunContext

STREAM_STEP = "stream"
"""The ledger's step that recorded the start point."""
REPLAY_STEP = "replay"
"""The ledger's step of the replay: running until the cutover marks it done."""
STREAM_TIMEOUT = 600.0
"""Seconds for a newly enabled stream to become ENABLED."""
CAUGHT_UP_LAG = 5.0
"""Seconds of lag under which a replay whose source never stops writing counts as caught
up (a quiet source is caught up when a pass finds nothing new)."""


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
    ctx.observer.message(
        "limit          stream records live 24 hours: the copy, and any pause of `sync` "
        "after it, must leave the replay less than that behind"
    )
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
    """Replay passes until ``stop`` is set, or (``until_caught_up``) until caught up: a pass
    found nothing new, or the newest applied change is less than ``CAUGHT_UP_LAG`` seconds
    old (a source that keeps writing never gives a pass with nothing). A line per pass that
    applied records; a run that notifies sends ``replay_started``, then ``caught_up`` and
    ``fell_behind`` as the passes cross (``notify.live.LagAlarm``). Checkpoints are kept at
    every page, so an interrupt loses nothing."""
    stop = stop or threading.Event()
    collect_less()
    ctx.mark(REPLAY_STEP, "running")
    events = _started(ctx, replay)
    while not stop.is_set():
        applied = replay.catch_up(stop)
        status = replay.status()
        if applied:
            ctx.observer.message(status_line(status))
        if events is not None:
            events.replay_passed(status, caught_up=_caught_up(applied, status))
        if until_caught_up and _caught_up(applied, status):
            ctx.observer.message(f"caught up: {status_line(status)}")
            break
        stop.wait(pause)
    return replay.status()


def _started(ctx: RunContext, replay: Replay) -> LiveEvents | None:
    """The run's live events (None when it notifies no one), ``replay_started`` sent."""
    run = notifying(ctx.observer)
    if run is None:
        return None
    events = LiveEvents(run, stream_arn=replay.start.arn)
    shards = len(replay.listed_shards())  # first: the status counts the listed shards
    events.replay_started(replay.status(), shards=shards)
    return events


GC_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation (Python's default: 700)."""


def collect_less() -> None:
    """As the local engine's workers do: a replay parses pages of about 500 records into
    many short-lived dicts, and the cyclic collector running every 700 allocations took a
    third of the parse (bench/README.md: 12.4 against 7.8 µs per record). What is loaded
    by now is never garbage, so the collector stops walking it (``gc.freeze``)."""
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], GC_THRESHOLD), 20, 20)


def _caught_up(applied: int, status: ReplayStatus) -> bool:
    return applied == 0 or (status.lag is not None and status.lag <= CAUGHT_UP_LAG)


def status_line(status: ReplayStatus) -> str:
    """Records applied, shards open, lag: the replay's progress in one line."""
    lag = "-" if status.lag is None else f"{status.lag:.1f}s"
    return (
        f"replay         {status.applied} records applied, {status.shards_open} shards open, "
        f"lag {lag}"
    )


def live_figures(store: Store, run_dir: str, clock: Clock) -> dict[str, object]:
    """A live run's replay as its checkpoints last recorded it (no stream call: ``status``
    reads the staging store only). Shards open are the checkpointed shards not read to
    their end (a shard never read from is not counted)."""
    marks = ShardCheckpoints(store, run_dir).load().values()
    opened = sum(1 for m in marks if not m.finished)
    return status_of(marks, shards_open=opened, now=clock.now_ms() / 1000.0).to_dict()
