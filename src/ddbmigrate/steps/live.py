"""The live steps of a run: the stream's start point before the export, and the replay that
follows the source after the import (``migrate --live``, ``sync``, ``cutover``).

Core only: the stream arrives as a ``live.ChangeStreams`` port.
"""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass

from ddbmigrate.engines.base import replay_engine
from ddbmigrate.errors import CorruptDataError
from ddbmigrate.estimate import Prices, estimate
from ddbmigrate.formats.detect import detect
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
from ddbmigrate.live.bridge import Apply, GapBridge
from ddbmigrate.live.checkpoints import ShardCheckpoints
from ddbmigrate.live.ports import ChangeExports
from ddbmigrate.live.replay import status_of
from ddbmigrate.model import KeySchema
from ddbmigrate.notify.live import LiveEvents, notifying
from ddbmigrate.ports import Clock, Store, TableSchema, TableWriter
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.import_ import unrecorded_import

STREAM_STEP = "stream"
"""The ledger's step that recorded the start point."""
REPLAY_STEP = "replay"
"""The ledger's step of the replay: running until the cutover marks it done."""
STREAM_TIMEOUT = 600.0
"""Seconds for a newly enabled stream to become ENABLED."""
RETENTION = 24 * 3600.0
"""Seconds DynamoDB Streams keeps a record."""
CAUGHT_UP_LAG = 5.0
"""Seconds of lag under which a replay whose source never stops writing counts as caught
up (a quiet source is caught up when a pass finds nothing new)."""


@dataclass(frozen=True, slots=True)
class LiveSource:
    """What a live run needs from the source: its stream, and where the stream ends (24
    hours), its history through incremental exports read back from ``staging``."""

    streams: ChangeStreams
    exports: ChangeExports | None = None
    """None: a gap in the stream stops the replay (StreamTrimmedError)."""
    staging: Store | None = None
    """Where the exports are read from (the destination's view of the staging store)."""


def stream_start_step(
    ctx: RunContext,
    live: LiveSource,
    table: str,
    *,
    src: TableSchema | None = None,
) -> StreamStart:
    """Enable (or accept) ``table``'s stream and record where the replay starts; a resumed
    run keeps the start point it recorded (proven to still be the table's stream). Says
    what the 24-hour limit means for this run (``retention_lines``), from the source's
    PITR and the copy's estimate at the run's rates."""
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
    pitr = src is not None and src.pitr_enabled
    copy = None if src is None else copy_estimate(ctx, src)
    for line in retention_lines(pitr=pitr, copy_seconds=copy):
        ctx.observer.message(line)
    return start


def copy_estimate(ctx: RunContext, src: TableSchema) -> float | None:
    """Seconds the copy takes by the plan's estimate (``estimate``), when the budgets
    have rates (not when unlimited)."""
    read, write = ctx.budgets.rates
    if read <= 0 or write <= 0:
        return None
    figures = estimate(
        src.description, read_rate=read, write_rate=write, validate=False, prices=Prices()
    )
    return figures.seconds


def retention_lines(*, pitr: bool, copy_seconds: float | None) -> list[str]:
    """What the stream's 24 hours mean for a live run, before it starts: with PITR on, a
    replay left further behind is bridged (docs/adr/0032); off, the copy (``copy_seconds``,
    the plan's estimate, when known) and any pause of ``sync`` must stay within them."""
    estimate = "" if copy_seconds is None else f" (the copy: ~{_hours(copy_seconds)} estimated)"
    if pitr:
        return [
            f"limit          stream records live 24 hours{estimate}; point-in-time recovery "
            "is on, so a replay left further behind is bridged by incremental exports"
        ]
    lines = [
        "limit          stream records live 24 hours and point-in-time recovery is off: the "
        f"copy, and any pause of `sync` after it, must leave the replay less than that "
        f"behind{estimate}"
    ]
    if copy_seconds is not None and copy_seconds >= RETENTION:
        lines.append(
            "warning        the copy is estimated to take longer than the stream keeps "
            "records: the replay would stop (exit 7) and the run start again; turn on "
            "point-in-time recovery for the source table before starting, and the tool "
            "bridges the gap itself"
        )
    return lines


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def replay_of(
    ctx: RunContext, live: LiveSource, writer: TableWriter, key: KeySchema | None = None
) -> Replay:
    """The run's replay into ``writer``, resumed from its checkpoints, writing within the
    destination's write budget (import's ``--write-percent``); with ``live.exports`` (and
    the table's ``key``), gaps in the stream are bridged by incremental exports. On the
    Spark engine its shards are read as Spark tasks (``engines.base.replay_engine``)."""
    replay = open_replay(
        streams=live.streams,
        ledger=ctx.run_ledger,
        writer=writer,
        clock=ctx.clock,
        options=ReplayOptions(),
        budget=ctx.budgets.dest_write,
        observer=ctx.observer,
    )
    replay.engine = replay_engine(ctx.engine)
    if live.exports is not None and live.staging is not None and key is not None:
        apply = bridge_apply(ctx, live.staging, writer, key)
        replay.gap = GapBridge(live.exports, apply, ctx.clock, ctx.observer)
    return replay


def bridge_apply(ctx: RunContext, store: Store, writer: TableWriter, key: KeySchema) -> Apply:
    """Applies one incremental export of the bridge with the import's incremental path
    (newest change per key; puts of full images, deletes), within the write budget."""

    def apply(folder: str) -> int:
        plan = detect(store, folder=folder)
        if not plan.incremental:  # a full export here would put back deleted items
            raise CorruptDataError(
                f"{store.root.rstrip('/')}/{folder} is not an incremental export",
                hint="give the live run a staging prefix of its own",
            )
        return unrecorded_import(ctx, store=store, plan=plan, writer=writer, key=key).item_count

    return apply


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
    try:
        _passes(ctx, replay, events, stop=stop, until_caught_up=until_caught_up, pause=pause)
    except Exception as exc:
        if events is not None:
            events.replay_stopped(_status_if_any(replay), error=exc)
        raise
    return replay.status()


def _passes(
    ctx: RunContext,
    replay: Replay,
    events: LiveEvents | None,
    *,
    stop: threading.Event,
    until_caught_up: bool,
    pause: float,
) -> None:
    while not stop.is_set():
        applied = replay.catch_up(stop)
        status = replay.status()
        if applied:
            ctx.observer.message(status_line(status))
        if events is not None:
            events.replay_passed(status, caught_up=_caught_up(applied, status))
        if until_caught_up and _caught_up(applied, status):
            ctx.observer.message(f"caught up: {status_line(status)}")
            return
        stop.wait(pause)


def _status_if_any(replay: Replay) -> ReplayStatus | None:
    """The replay's figures for a stop event; None when they cannot be read (the error may
    be the staging store's)."""
    try:
        return replay.status()
    except Exception:  # noqa: BLE001 - the event goes out with what is known
        return None


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
