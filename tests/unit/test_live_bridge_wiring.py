"""The bridge wired (issue 15 point 4, ADR 32/45): a replay that finds a gap in the stream
exports the lost window incrementally, applies it with the incremental import and goes on,
on its own; resumable at every step; PITR off is a clear error. On the fakes: moto has no
incremental export (``ddbmigrate.testing.change_exports`` writes AWS's layout)."""

from __future__ import annotations

import pytest
from live_setup import KEY, RUN_DIR, Live, key, live

from ddbmigrate.capacity import Budgets
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.engines.base import ThreadEngine
from ddbmigrate.errors import ExportFailedError, StreamTrimmedError
from ddbmigrate.live import Replay, cutover, record_start
from ddbmigrate.live.bridge import EXPORT_LAG, MAX_WINDOW, MIN_WINDOW, GapBridge
from ddbmigrate.live.checkpoints import ShardCheckpoints
from ddbmigrate.ports import NullObserver
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.live import LiveSource, bridge_apply, replay_of, retention_lines
from ddbmigrate.testing.change_exports import FakeChangeExports

HOUR = 3600.0


class Lines(NullObserver):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def context(setup: Live, observer: NullObserver | None = None) -> RunContext:
    return RunContext(
        clock=setup.clock,
        observer=observer or NullObserver(),
        engine=ThreadEngine(1),
        budgets=Budgets.unlimited(),
        ledger=Ledger(setup.store, RUN_DIR.rsplit("/", 1)[-1], setup.clock),
    )


def bridged(
    setup: Live, exports: FakeChangeExports, observer: NullObserver | None = None
) -> Replay:
    """A replay of ``setup`` whose gaps are bridged by ``exports``, as ``replay_of`` wires it."""
    replay = setup.replay()
    ctx = context(setup, observer)
    apply = bridge_apply(ctx, setup.store, setup.writer, KEY)
    replay.gap = GapBridge(exports, apply, setup.clock, ctx.observer)
    return replay


def exports_of(setup: Live, *, pitr_since: float | None = 0.0) -> FakeChangeExports:
    return FakeChangeExports(setup.streams, "src", setup.store, pitr_since=pitr_since)


def fell_behind(setup: Live, *, hours: float = 25.0) -> None:
    """Changes applied, more made, then the replay pauses ``hours``: the stream trims the
    ones it had not applied (older than 24 hours)."""
    (shard,) = setup.streams.shard_ids("src")
    for n in range(6):
        setup.put(n)
    setup.replay().catch_up()
    setup.clock.advance(HOUR)
    for n in range(3, 10):
        setup.put(n, 1)
    setup.streams.delete("src", key(0))
    setup.clock.advance(hours * HOUR)
    setup.streams.trim(shard, 10)  # 4 of the unapplied changes are gone from the stream


def test_a_gap_is_bridged_by_the_replay_itself_and_the_tables_end_identical() -> None:
    setup = live()
    fell_behind(setup)
    with pytest.raises(StreamTrimmedError, match="trimmed"):
        setup.replay().catch_up()  # without a bridge the same gap stops the replay
    exports = exports_of(setup)
    lines = Lines()
    replay = bridged(setup, exports, lines)

    replay.catch_up()
    setup.put(20, 5)  # the stream goes on after the bridge
    setup.streams.delete("src", key(4))
    replay.catch_up()

    assert setup.same_tables()
    now = setup.clock.now_ms() / 1000.0
    windows = [(a, b) for a, b, _ in exports.started]
    end = windows[-1][1]
    assert end == now - EXPORT_LAG  # an ExportToTime AWS accepts: 15 minutes in the past
    assert all(MIN_WINDOW <= b - a <= MAX_WINDOW for a, b in windows)
    assert replay.bridge is not None
    assert replay.bridge.end == end
    assert ShardCheckpoints(setup.store, RUN_DIR).load_pending() is None
    assert any("changes applied" in line for line in lines.lines)


def test_a_gap_longer_than_a_day_takes_several_windows_in_order() -> None:
    setup = live()
    fell_behind(setup, hours=60.0)
    exports = exports_of(setup)

    bridged(setup, exports).catch_up()

    windows = [(a, b) for a, b, _ in exports.started]
    assert len(windows) == 3  # 61 hours less 15 minutes
    assert all(windows[i][1] == windows[i + 1][0] for i in range(2))
    assert all(b - a <= MAX_WINDOW for a, b in windows)
    assert setup.same_tables()


def test_a_crash_during_the_exports_redoes_the_bridge_with_the_same_export() -> None:
    setup = live()
    fell_behind(setup)
    exports = exports_of(setup)
    exports.fail_wait = 1
    with pytest.raises(KeyboardInterrupt):
        bridged(setup, exports).catch_up()
    pending = ShardCheckpoints(setup.store, RUN_DIR).load_pending()
    assert pending is not None
    assert pending.windows[0].export is not None
    setup.clock.advance(HOUR)  # the rerun comes later: the saved bridge is kept, not re-planned

    bridged(setup, exports).catch_up()

    assert len(exports.started) == 2  # the second window; the first export waited for
    assert setup.same_tables()
    assert ShardCheckpoints(setup.store, RUN_DIR).load_pending() is None


def test_with_pitr_off_the_gap_is_an_error_that_says_the_changes_are_gone() -> None:
    setup = live()
    fell_behind(setup)
    exports = exports_of(setup, pitr_since=None)
    with pytest.raises(StreamTrimmedError, match="point-in-time recovery"):
        bridged(setup, exports).catch_up()
    assert exports.started == []
    assert ShardCheckpoints(setup.store, RUN_DIR).load_pending() is None


def test_a_lost_parent_shard_is_bridged_too() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    setup.put(1)
    setup.replay().catch_up()
    setup.clock.advance(HOUR)
    setup.put(2, 1)
    child = setup.streams.close(root)
    setup.put(3)
    setup.clock.advance(25 * HOUR)
    setup.streams.age_out(root)  # left the stream before the replay read it to its end
    exports = exports_of(setup)

    replay = bridged(setup, exports)
    replay.catch_up()

    assert exports.started
    assert replay.bridge is not None
    assert child in replay.bridge.shards
    assert setup.same_tables()


def test_the_cutover_drain_bridges_a_gap_too() -> None:
    setup = live()
    fell_behind(setup)
    replay = bridged(setup, exports_of(setup))

    result = cutover(replay=replay, source=setup.streams.writer("src"), key=KEY, clock=setup.clock)

    assert setup.same_tables()
    assert result.status.applied > 0


def test_replay_of_bridges_when_the_source_has_exports() -> None:
    setup = live()
    ctx = context(setup)
    record_start(ctx.run_ledger, setup.start)
    fell_behind(setup)
    exports = exports_of(setup)
    source = LiveSource(setup.streams, exports=exports, staging=setup.store)

    replay_of(ctx, source, setup.writer, KEY).catch_up()

    assert exports.started
    assert setup.same_tables()


def test_the_plan_warns_when_the_copy_outlasts_the_stream_and_pitr_is_off() -> None:
    long_copy = 30 * HOUR

    off = retention_lines(pitr=False, copy_seconds=long_copy)
    on = retention_lines(pitr=True, copy_seconds=long_copy)

    assert "(the copy: ~30.0 h estimated)" in off[0]
    assert off[1].startswith("warning        the copy is estimated to take longer")
    assert len(retention_lines(pitr=False, copy_seconds=HOUR)) == 1  # fits: no warning
    assert len(on) == 1
    assert "bridged by incremental exports" in on[0]


def test_a_failed_export_is_started_again_by_the_next_run_not_waited_for() -> None:
    setup = live()
    fell_behind(setup)
    exports = exports_of(setup)
    exports.failed_exports = 1
    with pytest.raises(ExportFailedError):
        bridged(setup, exports).catch_up()

    bridged(setup, exports).catch_up()

    slots = [slot for _, _, slot in exports.started]
    assert slots[0] != slots[1]  # a new ClientToken: AWS would return the failed one
    assert slots[1].endswith("-1")
    assert setup.same_tables()
