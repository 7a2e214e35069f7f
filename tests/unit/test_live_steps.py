"""steps.live: when a followed replay counts as caught up, and the figures ``status`` reads
from the shard checkpoints."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from ddbmigrate.capacity import Budgets
from ddbmigrate.engines.base import ThreadEngine
from ddbmigrate.live import ReplayStatus, ShardCheckpoints, ShardMark
from ddbmigrate.ports import NullObserver
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.live import CAUGHT_UP_LAG, GC_THRESHOLD, follow, live_figures
from ddbmigrate.testing import FakeClock, MemoryStore


@dataclass
class ScriptedReplay:
    """Stands in for live.Replay: each pass applies the next count, at the next lag."""

    passes: list[tuple[int, float | None]]
    done: int = 0
    stop_after: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def catch_up(self, stop: threading.Event | None = None) -> int:
        applied, _ = self.passes[self.done]
        self.done += 1
        if self.stop_after is not None and self.done >= self.stop_after:
            self.stop.set()
        return applied

    def status(self) -> ReplayStatus:
        _, lag = self.passes[self.done - 1]
        return ReplayStatus(
            applied=0, shards_open=1, shards_finished=0, newest_applied=None, lag=lag
        )


class Lines(NullObserver):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def context(observer: NullObserver) -> RunContext:
    return RunContext(
        clock=FakeClock(),
        observer=observer,
        engine=ThreadEngine(1),
        budgets=Budgets.unlimited(),
    )


def test_a_quiet_source_is_caught_up_at_the_first_pass_that_finds_nothing() -> None:
    replay = ScriptedReplay([(7, 60.0), (3, 61.0), (0, 300.0), (5, 1.0)])
    lines = Lines()
    follow(context(lines), replay, until_caught_up=True, pause=0)  # type: ignore[arg-type]
    assert replay.done == 3
    assert lines.lines[-1].startswith("caught up: replay")


def test_a_source_that_never_stops_is_caught_up_once_the_lag_is_small() -> None:
    small = CAUGHT_UP_LAG - 0.5
    replay = ScriptedReplay([(900, 40.0), (400, CAUGHT_UP_LAG + 1), (120, small), (80, 1.0)])
    follow(context(Lines()), replay, until_caught_up=True, pause=0)  # type: ignore[arg-type]
    assert replay.done == 3


def test_without_until_caught_up_only_stop_ends_it() -> None:
    replay = ScriptedReplay([(0, None)] * 5, stop_after=4)
    follow(context(Lines()), replay, stop=replay.stop, pause=0)  # type: ignore[arg-type]
    assert replay.done == 4


def test_status_figures_come_from_the_checkpoints() -> None:
    store, clock = MemoryStore(), FakeClock()
    marks = ShardCheckpoints(store, "ddbmigrate/runs/r1")
    now = clock.now_ms() / 1000.0
    marks.save(ShardMark("shard-a", sequence="10", finished=True, applied=4, newest=now - 90))
    marks.save(ShardMark("shard-b", sequence="22", applied=6, newest=now - 30))
    figures = live_figures(store, "ddbmigrate/runs/r1", clock)
    assert figures == {
        "applied": 10,
        "shards_open": 1,
        "shards_finished": 1,
        "newest_applied": now - 30,
        "lag_seconds": 30.0,
    }
    assert live_figures(store, "ddbmigrate/runs/none", clock)["applied"] == 0


@pytest.fixture
def default_gc() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_following_collects_garbage_less_often(default_gc: None) -> None:
    # The replay's pages are many short-lived dicts: the bench measured a third of the
    # parse in the collector at Python's default threshold.
    replay = ScriptedReplay([(0, None)])

    follow(context(Lines()), replay, until_caught_up=True, pause=0)  # type: ignore[arg-type]

    assert gc.get_threshold()[0] == GC_THRESHOLD
    assert gc.get_freeze_count() > 0
