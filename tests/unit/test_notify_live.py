"""A live run's events: the lag alarm's crossings (once each, no flapping at the threshold),
the events a followed replay sends, and their bodies (schema version 2). In memory: the
replay is the real one over ``testing.FakeStreams``, its lag is its own status's."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from live_setup import Live, live

from ddbmigrate.capacity import Budgets
from ddbmigrate.engines.base import ThreadEngine
from ddbmigrate.errors import StepTimeoutError
from ddbmigrate.live import Replay, ReplayStatus, Shard
from ddbmigrate.notify import (
    BEHIND_AFTER,
    EventError,
    LagAlarm,
    LiveEvents,
    MultiNotifier,
    RunEvent,
    RunNotifications,
    notifying,
)
from ddbmigrate.ports import NullObserver
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.live import CAUGHT_UP_LAG, follow
from ddbmigrate.testing import FakeClock

LIMIT = 300.0


def crossings(alarm: LagAlarm, passes: list[tuple[bool, float | None]]) -> list[str | None]:
    return [alarm.after_pass(caught_up=caught, lag=lag) for caught, lag in passes]


def test_the_default_threshold_is_minutes_not_seconds_nor_hours() -> None:
    assert CAUGHT_UP_LAG < 60 <= BEHIND_AFTER <= 3600
    assert LagAlarm().behind_after == BEHIND_AFTER


def test_fell_behind_once_then_caught_up_once() -> None:
    alarm = LagAlarm(behind_after=LIMIT)
    passes = [(True, 1.0), (False, 400.0), (False, 500.0), (False, 450.0), (True, 2.0)]
    assert crossings(alarm, passes) == [
        "caught_up",
        "fell_behind",
        None,  # still behind: no second event
        None,
        "caught_up",
    ]
    assert alarm.state == "caught_up"


def test_a_lag_wavering_at_the_threshold_sends_one_event_not_one_per_pass() -> None:
    alarm = LagAlarm(behind_after=LIMIT)
    wavering = [(False, LIMIT + d) for d in (1.0, -1.0, 0.5, -0.5, 2.0, -30.0, 1.0)]
    assert crossings(alarm, [(True, 0.0), *wavering]) == ["caught_up", "fell_behind"] + [None] * (
        len(wavering) - 1
    )
    assert alarm.state == "behind"  # back under the threshold is not caught up


def test_the_threshold_itself_is_not_behind() -> None:
    alarm = LagAlarm(behind_after=LIMIT)
    assert crossings(alarm, [(True, 0.0), (False, LIMIT), (False, LIMIT + 0.001)]) == [
        "caught_up",
        None,
        "fell_behind",
    ]


def test_catching_up_after_the_copy_is_not_falling_behind() -> None:
    alarm = LagAlarm(behind_after=LIMIT)
    # The first passes after a long copy apply hours-old changes.
    assert crossings(alarm, [(False, 7200.0), (False, 3600.0), (False, None)]) == [None] * 3
    assert crossings(alarm, [(True, 3.0), (True, 1.0), (True, None)]) == ["caught_up", None, None]


class Recorder:
    target = "recorder"

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def send(self, event: RunEvent) -> None:
        self.events.append(event)


class Failing:
    target = "webhook http://127.0.0.1:9/hooks/…"

    def send(self, event: RunEvent) -> None:
        raise OSError("connection refused")


@dataclass
class Driven:
    """The real replay; before each pass, the next step of a script (source writes, time
    passing). The script's end stops ``follow``."""

    replay: Replay
    script: list[Callable[[], None]]
    stop: threading.Event
    passes: int = 0

    @property
    def start(self) -> object:
        return self.replay.start

    def listed_shards(self) -> list[Shard]:
        return self.replay.listed_shards()

    def status(self) -> ReplayStatus:
        return self.replay.status()

    def catch_up(self, stop: threading.Event | None = None) -> int:
        self.script[self.passes]()
        self.passes += 1
        applied = self.replay.catch_up(stop)
        if self.passes == len(self.script):
            self.stop.set()
        return applied


def changes_then(setup: Live, count: int, wait: float) -> Callable[[], None]:
    """``count`` source changes now, then ``wait`` seconds before the replay reads them."""

    def step() -> None:
        for n in range(count):
            setup.put(n, version=int(setup.clock.monotonic()))
        setup.clock.advance(wait)

    return step


def followed(
    setup: Live, script: list[Callable[[], None]], *, targets: list[object], limit: float = LIMIT
) -> tuple[list[str], Driven]:
    """``follow`` over the script with notifications to ``targets``; the warnings logged."""
    warnings: list[str] = []
    notifier = MultiNotifier(targets, on_error=warnings.append, behind_after=limit)  # type: ignore[arg-type]
    events = RunNotifications(
        NullObserver(), notifier, source_table="src", dest_table="dst", clock=setup.clock
    )
    events.bind_run("live-1")
    ctx = RunContext(
        clock=setup.clock, observer=events, engine=ThreadEngine(1), budgets=Budgets.unlimited()
    )
    stop = threading.Event()
    driven = Driven(setup.replay(), script, stop)
    follow(ctx, driven, stop=stop, pause=0)  # type: ignore[arg-type]
    return warnings, driven


def nothing() -> None:
    return None


def test_a_followed_replay_sends_started_caught_up_fell_behind_caught_up() -> None:
    setup, sink = live(), Recorder()
    script = [
        changes_then(setup, 3, wait=1.0),  # lag 1 s: caught up
        changes_then(setup, 2, wait=400.0),  # 400 s: fell behind
        changes_then(setup, 2, wait=450.0),  # still behind: nothing
        changes_then(setup, 1, wait=250.0),  # under 300 s, over 5 s: still behind
        changes_then(setup, 1, wait=2.0),  # caught up again
        nothing,  # nothing new: caught up, already said
    ]
    warnings, _ = followed(setup, script, targets=[sink])
    assert warnings == []
    assert [e.kind for e in sink.events] == [
        "replay_started",
        "caught_up",
        "fell_behind",
        "caught_up",
    ]
    started, caught, behind, again = sink.events
    assert started.live is not None
    assert started.live["stream_arn"] == setup.start.arn
    assert started.live["shards"] == 1
    assert started.live["applied"] == 0
    assert started.live["lag_seconds"] is None
    assert caught.live is not None
    assert behind.live is not None
    assert again.live is not None
    assert (caught.live["applied"], caught.live["lag_seconds"]) == (3, 1.0)
    assert (behind.live["applied"], behind.live["lag_seconds"]) == (5, 400.0)
    assert behind.live["behind_after_seconds"] == LIMIT
    assert (again.live["applied"], again.live["lag_seconds"]) == (9, 2.0)
    assert {e.run_id for e in sink.events} == {"live-1"}
    assert {e.table for e in sink.events} == {"src -> dst"}


def test_the_threshold_is_the_users() -> None:
    setup, sink = live(), Recorder()
    script = [changes_then(setup, 1, wait=1.0), changes_then(setup, 1, wait=40.0)]
    followed(setup, script, targets=[sink], limit=30.0)
    assert [e.kind for e in sink.events][-1] == "fell_behind"
    assert sink.events[-1].live == {
        "stream_arn": setup.start.arn,
        "applied": 2,
        "shards_open": 1,
        "shards_finished": 0,
        "newest_applied": sink.events[-1].live["newest_applied"],  # type: ignore[index]
        "lag_seconds": 40.0,
        "behind_after_seconds": 30.0,
    }


def test_a_failing_target_is_a_warning_and_the_others_still_get_every_event() -> None:
    setup, sink = live(), Recorder()
    script = [changes_then(setup, 2, wait=1.0), changes_then(setup, 1, wait=600.0)]
    warnings, driven = followed(setup, script, targets=[Failing(), sink])
    assert driven.passes == len(script)  # the replay went on
    assert [e.kind for e in sink.events] == ["replay_started", "caught_up", "fell_behind"]
    assert warnings == [
        f"notification ({kind}) not sent: webhook http://127.0.0.1:9/hooks/… failed: "
        "OSError: connection refused"
        for kind in ("replay_started", "caught_up", "fell_behind")
    ]
    assert setup.same_tables()


def test_no_target_no_event_and_no_call_made_for_them() -> None:
    assert notifying(NullObserver()) is None
    run = RunNotifications(
        NullObserver(),
        MultiNotifier([], on_error=print),
        source_table="a",
        dest_table="b",
        clock=FakeClock(),
    )
    assert notifying(run) is None


def status(applied: int, lag: float | None) -> ReplayStatus:
    return ReplayStatus(
        applied=applied, shards_open=1, shards_finished=0, newest_applied=None, lag=lag
    )


def live_events(sink: Recorder) -> LiveEvents:
    run = RunNotifications(
        NullObserver(),
        MultiNotifier([sink], on_error=print),
        source_table="customer",
        dest_table="customer-copy",
        clock=FakeClock(),
        run_id="r1",
    )
    return LiveEvents(run, stream_arn="arn:aws:dynamodb:us-east-1:1:table/customer/stream/x")


def test_cutover_event_says_match_with_the_counts() -> None:
    sink = Recorder()
    counts = {"source_items": 5, "dest_items": 5, "missing": 0, "extra": 0, "changed": 0}
    live_events(sink).cutover_done(status(12, 0.5), counts=counts)
    [done] = sink.events
    body = json.loads(done.to_json())
    assert body["type"] == "ddbmigrate.run-event/2"
    assert body["kind"] == "cutover"
    assert body["error"] is None
    assert body["counts"] == counts
    assert body["live"]["applied"] == 12
    assert done.subject() == "ddbmigrate customer -> customer-copy cutover done: MATCH"


def test_cutover_event_carries_the_failure() -> None:
    sink = Recorder()
    stopped = StepTimeoutError("cutover ran past its timeout", hint="stop the writers")
    live_events(sink).cutover_done(None, error=stopped)
    [failed] = sink.events
    assert failed.error == EventError("cutover ran past its timeout", "stop the writers")
    assert failed.live == {"stream_arn": "arn:aws:dynamodb:us-east-1:1:table/customer/stream/x"}
    assert failed.subject() == "ddbmigrate customer -> customer-copy cutover failed"


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("replay_started", "replay started (2 shards)"),
        ("caught_up", "replay caught up (lag 1.5s)"),
        ("fell_behind", "replay fell behind (lag 1.5s)"),
    ],
)
def test_live_kinds_are_schema_2_with_a_live_object(kind: str, subject: str) -> None:
    figures = {"stream_arn": "arn", "shards": 2, **status(3, 1.5).to_dict()}
    event = RunEvent(
        kind=kind,  # type: ignore[arg-type]
        run_id="r1",
        source_table="a",
        dest_table="b",
        live=figures,
    )
    body = json.loads(event.to_json())
    assert body["type"] == "ddbmigrate.run-event/2"
    assert body["live"] == figures
    assert event.subject() == f"ddbmigrate a -> b {subject}"


def test_success_failure_and_step_bodies_stay_version_1() -> None:
    for kind in ("success", "failure", "step"):
        body = json.loads(
            RunEvent(kind=kind, run_id="r1", source_table="a", dest_table="b").to_json()  # type: ignore[arg-type]
        )
        assert body["type"] == "ddbmigrate.run-event/1"
        assert "live" not in body
