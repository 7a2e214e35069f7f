"""The replay's engine seam (``--engine spark``): each wave of ready shards as units of an
engine, one per shard, parents' waves before children's; the checkpoints saved by the
units, the plan lock checked by the driver, the budget and observer shared as for import.

The engine here runs the units in this process (the fake stream is not visible from a
Spark task); tests/integration/test_spark_engine.py runs them as Spark tasks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from live_setup import RUN_DIR, Live, live
from test_live_bridge import _export_incremental, _gap

from ddbmigrate.checkpoint import LedgerConflictError
from ddbmigrate.engines.base import NOTHING_SHARED, Shared, ThreadEngine, replay_engine
from ddbmigrate.engines.spark import SparkEngine
from ddbmigrate.errors import StreamTrimmedError, ThrottledError
from ddbmigrate.live import Replay, ShardCheckpoints, ShardMark
from ddbmigrate.live.bridge import bridge_windows, close_gap, plan_bridge
from ddbmigrate.live.ports import ChangeRecord
from ddbmigrate.live.replay import ShardJob
from ddbmigrate.throttle import CapacityBudget


class UnitsEngine:
    """Runs every unit in this process, one after the other, and keeps what it was given."""

    runs_replay = True

    def __init__(self, *, fail_after: int | None = None) -> None:
        self.waves: list[list[str]] = []
        self.shared: list[Shared] = []
        self.fns: list[Callable[..., Any]] = []
        self.fail_after = fail_after

    @property
    def workers(self) -> int:
        return 2

    def describe(self) -> str:
        return "in this process, for the test"

    def run(
        self,
        fn: Callable[[Any, threading.Event], Any],
        units: Sequence[Any],
        *,
        shared: Shared = NOTHING_SHARED,
    ) -> list[Any]:
        self.waves.append([shard.shard_id for shard, _ in units])
        self.shared.append(shared)
        self.fns.append(fn)
        results = [fn(unit, threading.Event()) for unit in units]
        if self.fail_after is not None and len(self.waves) > self.fail_after:
            raise ThrottledError("a task gave up after its retries")
        return results


def on_engine(setup: Live, engine: UnitsEngine, **options: Any) -> Replay:
    replay = setup.replay(**options)
    replay.engine = engine
    return replay


def test_each_wave_of_shards_is_one_unit_per_shard_parents_before_children() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    for n in range(20):
        setup.put(n, 0)
    left, right = setup.streams.split(root)
    for n in range(20):
        setup.put(n, 1)
    grandchild = setup.streams.close(left)
    for n in range(20):
        setup.put(n, 2)
    engine = UnitsEngine()
    replay = on_engine(setup, engine, page_limit=7)
    budget = CapacityBudget(1000.0, clock=setup.clock)
    replay.budget = budget

    applied = replay.catch_up()

    assert applied == 60
    assert setup.same_tables()
    assert [sorted(wave) for wave in engine.waves] == [[root], sorted([left, right]), [grandchild]]
    for shared in engine.shared:  # as import shares them with Spark tasks
        assert shared.forward == (replay.checkpoints,)
        assert shared.notify == (replay.observer,)
        assert shared.budgets == (budget,)
    assert all(getattr(fn, "__qualname__", "") == "ShardJob.read" for fn in engine.fns)
    saved = ShardCheckpoints(setup.store, RUN_DIR).load()
    assert saved[root].finished  # saved by the units themselves
    assert saved[left].finished
    assert replay.status().applied == 60  # the marks the units ended at came back


def test_a_pass_with_a_watcher_keeps_the_reader_threads() -> None:
    setup = live()
    for n in range(5):
        setup.put(n)
    engine = UnitsEngine()
    replay = on_engine(setup, engine)
    seen: list[ChangeRecord] = []
    replay.watchers.append(seen.append)  # the cutover's sentinel watches in this process

    replay.catch_up()

    assert engine.waves == []
    assert len(seen) == 5
    assert setup.same_tables()


def test_a_failed_wave_keeps_what_its_units_saved_and_the_next_pass_resumes_there() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    for n in range(10):
        setup.put(n)
    setup.streams.close(root)
    failing = UnitsEngine(fail_after=0)  # the first wave's units ran, then the job failed
    replay = on_engine(setup, failing)

    with pytest.raises(ThrottledError):
        replay.catch_up()
    assert replay.status().applied == 10  # reloaded from the checkpoints the units saved
    writes = len(setup.writer.applied())
    replay.engine = UnitsEngine()
    replay.catch_up()

    assert len(setup.writer.applied()) == writes  # the root is not read again
    assert setup.same_tables()


def test_the_plan_lock_is_checked_before_each_wave_and_not_in_the_units() -> None:
    setup = live()
    setup.put(1)
    lost = LedgerConflictError("the plan is run by pid 7 on another host")

    def guard() -> None:
        raise lost

    checkpoints = ShardCheckpoints(setup.store, RUN_DIR, guard)
    replay = on_engine(setup, UnitsEngine())
    replay.checkpoints = checkpoints

    with pytest.raises(LedgerConflictError):
        replay.catch_up()
    assert len(setup.dest) == 0
    task_side = checkpoints.task_side()  # what a Spark task writes with
    task_side.save(ShardMark("s-1", "5", applied=1))
    assert ShardCheckpoints(setup.store, RUN_DIR).load()["s-1"].sequence == "5"


def test_only_an_engine_that_runs_the_replay_gets_it() -> None:
    thread_engine = ThreadEngine()
    unit_engine = UnitsEngine()

    assert replay_engine(thread_engine) is None  # --engine local: reader threads, as before
    assert replay_engine(unit_engine) is unit_engine
    assert SparkEngine.runs_replay is True


def test_a_shard_job_reads_its_shard_from_the_mark_it_is_given() -> None:
    setup = live()
    for n in range(6):
        setup.put(n)
    replay = setup.replay()
    replay.catch_up()
    for n in range(6, 9):
        setup.put(n)
    (shard,) = replay.listed_shards()
    mark = ShardCheckpoints(setup.store, RUN_DIR).load()[shard.shard_id]
    saved: list[ShardMark] = []
    access = replay._access(saved.append)  # what the engine path hands a unit

    ended, applied = ShardJob(access).read((shard, mark), threading.Event())

    assert applied == 3
    assert ended.applied == 9
    assert saved == [ended]
    assert setup.same_tables()


def test_a_gap_met_by_a_unit_is_bridged_by_the_driver_and_the_next_wave_skips_the_export() -> None:
    setup = live()
    _gap(setup)  # applied, then changes trimmed before the replay saw them
    setup.clock.advance(600.0)
    engine = UnitsEngine()
    replay = on_engine(setup, engine)
    exported: list[int] = []

    def bridge_it(replay: Replay, _error: StreamTrimmedError) -> None:
        bridge = plan_bridge(replay, now=setup.clock.now_ms() / 1000.0)
        exported.extend(_export_incremental(setup, a, b) for a, b in bridge_windows(bridge))
        close_gap(replay, bridge)

    replay.gap = bridge_it
    replay.catch_up()

    assert len(engine.waves) == 2  # the wave that met the gap, then the one after the bridge
    assert sum(exported) == 6 + 8
    assert setup.same_tables()
    assert (
        len(setup.writer.applied()) == 6
    )  # before the gap; the units skip what the export covered
