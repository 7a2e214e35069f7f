"""Requests in flight follow latency and the budget (ddbmigrate.inflight), on a fake clock."""

from __future__ import annotations

import pickle
import random
import threading
from collections.abc import Callable, Iterator

import pytest

from ddbmigrate.clock import SystemClock
from ddbmigrate.engines.base import Cancelled
from ddbmigrate.errors import FatalError, ThrottledError
from ddbmigrate.importer import ImportOptions, _Line, _Writer
from ddbmigrate.inflight import START, InflightControl, InflightGate, Pipeline
from ddbmigrate.items import key_bytes
from ddbmigrate.model import KeyAttribute, KeySchema
from ddbmigrate.ports import NullObserver, Unlimited, WriteRequest, WriteResult
from ddbmigrate.retry import RetryPolicy, metered
from ddbmigrate.runs import RejectLog
from ddbmigrate.testing import FakeClock, MemoryStore
from ddbmigrate.throttle import CapacityBudget

Latency = Callable[[int], float]


def run_windows(control: InflightControl, clock: FakeClock, latency: Latency, rounds: int) -> None:
    """``rounds`` round trips with every slot taken: ``limit`` requests each answered after
    ``latency(limit)`` seconds (more requests than slots are always waiting)."""
    for _ in range(rounds):
        limit = control.limit
        control.saturated()
        clock.advance(latency(limit))
        for _ in range(limit):
            control.completed(latency(limit))


def flat(seconds: float) -> Latency:
    """The network is the limit: latency does not depend on how many are in flight."""
    return lambda _limit: seconds


def cpu_bound(seconds: float, cores: int) -> Latency:
    """Past ``cores`` requests in flight, answers queue for the CPU: latency grows with them."""
    return lambda limit: seconds * max(1.0, limit / cores)


def test_grows_to_the_ceiling_when_latency_is_the_limit() -> None:
    clock = FakeClock()
    control = InflightControl(32, clock)
    assert control.limit == START
    seen = []
    for _ in range(60):  # 0.6 s of 10 ms round trips
        run_windows(control, clock, flat(0.010), rounds=1)
        seen.append(control.limit)
    assert seen == sorted(seen), "it only grows while latency stays flat"
    assert control.limit == 32


def test_never_passes_the_ceiling() -> None:
    clock = FakeClock()
    control = InflightControl(6, clock)
    run_windows(control, clock, flat(0.050), rounds=20)
    assert control.limit == 6


def test_does_not_grow_past_what_the_cpu_can_serve() -> None:
    """Latency rising with the requests in flight (the process is short of CPU) stops the
    growth near the knee; it never runs away to the ceiling."""
    clock = FakeClock()
    control = InflightControl(64, clock)
    run_windows(control, clock, cpu_bound(0.010, cores=8), rounds=60)
    assert START <= control.limit <= 3 * 8


def test_steps_back_when_answers_start_to_queue() -> None:
    """Grown on a fast network, then the CPU becomes short (another job started): latency
    triples at the same requests in flight, and the limit comes back down to the start."""
    clock = FakeClock()
    control = InflightControl(32, clock)
    run_windows(control, clock, flat(0.010), rounds=60)
    assert control.limit == 32
    run_windows(control, clock, flat(0.040), rounds=60)
    assert control.limit == START


def test_does_not_grow_when_slots_are_free() -> None:
    """Fewer requests than slots (one file left, say): more slots would change nothing."""
    clock = FakeClock()
    control = InflightControl(32, clock)
    for _ in range(40):
        clock.advance(0.010)
        for _ in range(control.limit):
            control.completed(0.010)
    assert control.limit == START


def test_throttling_halves_at_once_and_once_per_round_trip() -> None:
    clock = FakeClock()
    control = InflightControl(32, clock)
    run_windows(control, clock, flat(0.010), rounds=60)
    assert control.limit == 32
    control.throttled()
    assert control.limit == 16
    control.throttled()  # another request of the same overload
    assert control.limit == 16
    for _ in range(5):  # a round trip of 50 ms answers between throttles: each one counts
        for _ in range(control.limit):
            clock.advance(0.050)
            control.completed(0.050)
        control.throttled()
    assert control.limit == 1, "never below one request"


def test_grows_back_after_throttling_stops() -> None:
    clock = FakeClock()
    control = InflightControl(32, clock)
    for _ in range(5):
        control.throttled()
        control.window.cut = False  # as if a round trip had passed in between
    assert control.limit == 1
    run_windows(control, clock, flat(0.010), rounds=100)  # 1 s
    assert control.limit == 32


def test_budget_bound_keeps_what_littles_law_needs() -> None:
    """The budget pays for 200 requests a second at 10 ms: 2 in flight on average. With
    callers waiting for the budget, the limit comes down to that with headroom."""
    clock = FakeClock()
    control = InflightControl(32, clock)
    run_windows(control, clock, flat(0.010), rounds=60)
    assert control.limit == 32
    for _ in range(5):
        for _ in range(control.limit):
            clock.advance(1 / 200)  # the budget spaces requests 5 ms apart
            control.waited_for_budget(0.004)
            control.completed(0.010)
    assert control.limit == 4  # ceil(2 x 1.5) + 1


def test_budget_bound_never_grows() -> None:
    clock = FakeClock()
    control = InflightControl(32, clock)
    for _ in range(40):
        control.saturated()
        for _ in range(control.limit):
            clock.advance(0.001)
            control.waited_for_budget(0.010)
            control.completed(0.010)
    assert control.limit <= START


# --- the gate ---


def test_the_gate_counts_requests_in_flight_and_learns_throttling() -> None:
    clock = FakeClock()
    gate = InflightGate(8, clock=clock)
    with gate.request(), gate.request():
        assert gate.peak == 2
    with pytest.raises(ThrottledError), gate.request():
        raise ThrottledError("slow down")
    assert gate.limit == START // 2
    with pytest.raises(FatalError), gate.request():
        raise FatalError("no")
    assert gate.limit == START // 2, "only throttling cuts the limit"


def test_metered_takes_a_slot_per_attempt_and_reports_budget_waits() -> None:
    clock = FakeClock()
    gate = InflightGate(8, clock=clock)
    budget = CapacityBudget(10.0, clock=clock)  # a bucket of 10 units
    inside: list[int] = []

    def call() -> float:
        inside.append(gate.peak)
        clock.advance(0.010)
        return 20.0

    for _ in range(3):
        metered(
            call,
            budget=budget,
            expected=20.0,
            consumed=lambda units: units,
            policy=RetryPolicy(),
            clock=clock,
            rng=random.Random(1),
            gate=gate,
        )
    assert inside == [1, 1, 1]
    assert clock.sleeps, "the budget made callers wait"
    assert gate._control.window.budget_wait > 0


def test_a_gate_sent_to_a_worker_process_starts_afresh() -> None:
    gate = InflightGate(12, clock=SystemClock())
    with gate.request():
        copy = pickle.loads(pickle.dumps(gate))
    assert copy.ceiling == 12
    assert copy.peak == 0
    assert copy.limit == START


# --- the pipeline of one file's batches ---


def test_the_pipeline_sends_together_and_returns_when_all_ended() -> None:
    gate = InflightGate(8, clock=FakeClock())
    release = threading.Event()
    started = threading.Semaphore(0)

    def batch() -> int:
        started.release()
        assert release.wait(30)
        return 25

    try:
        with Pipeline(gate, threading.Event()) as pipeline:
            for _ in range(3):
                pipeline.submit({b"k%d" % _}, batch)
            for _ in range(3):  # all three run at once: none has returned yet
                assert started.acquire(timeout=30)
            release.set()
            assert pipeline.finish() == 75
    finally:
        gate.close()


def test_a_key_in_flight_holds_back_its_next_write() -> None:
    """The same key twice: the second batch waits until the first was answered, so the
    later record wins as it did when batches went one by one."""
    gate = InflightGate(8, clock=FakeClock())
    order: list[str] = []
    first_may_end = threading.Event()

    def first() -> int:
        assert first_may_end.wait(30)
        order.append("first")
        return 1

    def second() -> int:
        order.append("second")
        return 1

    try:
        with Pipeline(gate, threading.Event()) as pipeline:
            pipeline.submit({b"a", b"b"}, first)
            threading.Timer(0.05, first_may_end.set).start()
            pipeline.submit({b"b"}, second)  # waits here for first
            assert order == ["first"]
            assert pipeline.finish() == 2
        assert order == ["first", "second"]
    finally:
        gate.close()


def test_the_first_error_comes_after_the_others_ended() -> None:
    gate = InflightGate(8, clock=FakeClock())
    ended: list[str] = []
    slow_may_end = threading.Event()

    def slow() -> int:
        assert slow_may_end.wait(30)
        ended.append("slow")
        return 1

    def failing() -> int:
        slow_may_end.set()
        raise FatalError("refused")

    try:
        with Pipeline(gate, threading.Event()) as pipeline:
            pipeline.submit({b"a"}, slow)
            pipeline.submit({b"b"}, failing)
            with pytest.raises(FatalError):
                pipeline.finish()
        assert ended == ["slow"], "nothing of the unit is in flight when it reports"
    finally:
        gate.close()


def test_a_stopped_unit_sends_nothing_more() -> None:
    gate = InflightGate(8, clock=FakeClock())
    stop = threading.Event()
    stop.set()
    sent: list[int] = []
    try:
        with Pipeline(gate, stop) as pipeline:
            pipeline.submit({b"a"}, lambda: sent.append(1) or 1)
            with pytest.raises(Cancelled):
                pipeline.finish()
        assert sent == []
    finally:
        gate.close()


# --- the importer: a file's batches together, in order per key ---


class HoldingWriter:
    """A destination whose first BatchWriteItem waits (up to a deadline) for a second call
    to start: if one does while the first is in flight, the two overlapped."""

    table_name = "dest"

    def __init__(self) -> None:
        self.events: list[str] = []
        self.calls = 0
        self._second_started = threading.Event()
        self._lock = threading.Lock()

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        with self._lock:
            self.calls += 1
            call = self.calls
            self.events.append(f"start {call}")
        if call == 1:
            self._second_started.wait(1.0)  # a deadline: only a missing barrier ends it early
        else:
            self._second_started.set()
        with self._lock:
            self.events.append(f"end {call}")
        return WriteResult(consumed=float(len(requests)))


def lines(keys: list[str]) -> Iterator[_Line]:
    for number, name in enumerate(keys, start=1):
        item = {"pk": {"S": name}}
        yield _Line("f", number, {"PutRequest": {"Item": item}}, item, 20, key_bytes(item))


def writer_for(dest: HoldingWriter, gate: InflightGate) -> _Writer:
    return _Writer(
        dest,  # type: ignore[arg-type]
        KeySchema(partition=KeyAttribute("pk", "S")),
        ImportOptions(),
        FakeClock(),
        NullObserver(),
        RejectLog(MemoryStore(), "run", max_rejects=0),
        Unlimited(),
        gate,
    )


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        # Distinct keys (a full export's file): the second batch goes while the first waits.
        ([f"k{n}" for n in range(30)], ["start 1", "start 2", "end 2", "end 1"]),
        # k0 again in the second batch: it waits until the first was answered.
        ([f"k{n}" for n in range(25)] + ["k25", "k0"], ["start 1", "end 1", "start 2", "end 2"]),
    ],
)
def test_a_files_batches_overlap_unless_they_share_a_key(
    keys: list[str], expected: list[str]
) -> None:
    dest = HoldingWriter()
    gate = InflightGate(8, clock=FakeClock())
    try:
        written = writer_for(dest, gate).write_all(lines(keys), threading.Event())
    finally:
        gate.close()
    assert written == len(keys)
    assert dest.events == expected
