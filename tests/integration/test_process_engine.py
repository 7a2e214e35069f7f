"""The process engine: units in worker processes, calls forwarded home, budgets split.

Here rather than in tests/unit because worker processes talk over socket pairs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ddbmigrate.clock import SystemClock
from ddbmigrate.engines.local import Cancelled, ProcessEngine, Shared
from ddbmigrate.errors import CorruptDataError, FatalError, TransientError
from ddbmigrate.throttle import CapacityBudget


@dataclass
class Recorder:
    """Stays in the parent; workers' calls arrive as messages."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def seen(self, unit: int, pid: int) -> None:
        self.calls.append(("seen", (unit, pid)))

    def refuse(self, unit: int) -> None:
        raise CorruptDataError(f"unit {unit} refused by the parent", hint="limit reached")


@dataclass(frozen=True)
class Job:
    recorder: Recorder
    budget: CapacityBudget | None = None
    sleep: float = 0.0

    def pid(self, unit: int, stop: threading.Event) -> tuple[int, int]:
        time.sleep(self.sleep)
        self.recorder.seen(unit, os.getpid())
        return unit * 10, os.getpid()

    def draw(self, unit: int, stop: threading.Event) -> float:
        """Five requests of 10 units each; returns the last target seen."""
        assert self.budget is not None
        for _ in range(5):
            self.budget.acquire(10.0)
            self.budget.settle(10.0, 10.0)
            self.budget.on_success()
        return self.budget.target

    def many_small(self, unit: int, stop: threading.Event) -> int:
        assert self.budget is not None
        for _ in range(1000):
            self.budget.acquire(1.0)
            self.budget.settle(1.0, 1.0)
            self.budget.on_success()
        return unit

    def watch_target(self, unit: int, stop: threading.Event) -> float:
        assert self.budget is not None
        deadline = time.monotonic() + 5
        while self.budget.target == 100.0 and time.monotonic() < deadline:
            self.budget.acquire(0.1)  # each reservation brings the parent's figures back
            time.sleep(0.05)
        return self.budget.target

    def fail_first(self, unit: int, stop: threading.Event) -> int:
        if unit == 0:
            raise CorruptDataError("part 0 is damaged", hint="export again")
        for _ in range(400):
            if stop.is_set():
                raise Cancelled
            time.sleep(0.01)
        return unit

    def crash_odd(self, unit: int, stop: threading.Event) -> int:
        if unit == 1:
            raise KeyError("no such thing")
        return unit

    def die(self, unit: int, stop: threading.Event) -> int:
        if unit == 2:
            os._exit(9)
        time.sleep(0.5)
        return unit

    def ask_refusal(self, unit: int, stop: threading.Event) -> int:
        self.recorder.refuse(unit)
        for _ in range(400):
            if stop.is_set():
                raise Cancelled
            time.sleep(0.01)
        return unit


@pytest.fixture(scope="module")
def engine() -> Any:
    with ProcessEngine(2, threads=2) as running:
        yield running


def test_units_run_in_two_worker_processes_with_results_in_order(engine: ProcessEngine) -> None:
    recorder = Recorder()
    job = Job(recorder, sleep=0.2)
    results = engine.run(job.pid, list(range(8)), shared=Shared(forward=(recorder,)))
    assert [r[0] for r in results] == [u * 10 for u in range(8)]
    pids = {r[1] for r in results}
    assert len(pids) == 2
    assert os.getpid() not in pids
    # Every forwarded call arrived in the parent, from the process that ran the unit.
    assert sorted(c[1] for c in recorder.calls) == sorted(
        (u, pid) for u, (_, pid) in enumerate(results)
    )


def test_the_same_workers_serve_every_run(engine: ProcessEngine) -> None:
    recorder = Recorder()
    first = {pid for _, pid in engine.run(Job(recorder).pid, [1, 2, 3, 4], shared=Shared())}
    second = {pid for _, pid in engine.run(Job(recorder).pid, [1, 2, 3, 4], shared=Shared())}
    assert first == second


def test_workers_draw_from_the_one_budget_of_the_parent(engine: ProcessEngine) -> None:
    budget = CapacityBudget(100.0, clock=SystemClock())
    t0 = time.monotonic()
    targets = engine.run(
        Job(Recorder(), budget=budget).draw, [0, 1, 2, 3], shared=Shared(budgets=(budget,))
    )
    elapsed = time.monotonic() - t0
    # 200 units reserved from a 100/s bucket that starts with 100: at least a second, as
    # threads sharing the budget would take; and every settlement reached the parent.
    assert elapsed >= 0.95
    assert budget.stats().consumed == 4 * 5 * 10.0
    assert targets == [100.0] * 4


class CountingBudget(CapacityBudget):
    """Counts the reservations the parent is asked for."""

    reserves = 0

    def reserve(self, expected: float = 1.0) -> float:
        self.reserves += 1
        return super().reserve(expected)


def test_a_fast_budget_is_leased_not_asked_for_per_request(engine: ProcessEngine) -> None:
    budget = CountingBudget(1_000_000.0, clock=SystemClock())
    job = Job(Recorder(), budget=budget)
    engine.run(job.many_small, [0, 1, 2, 3], shared=Shared(budgets=(budget,)))
    # 4,000 requests; each lease covers 50 ms of 1,000,000 units/s.
    assert budget.reserves <= 8
    assert budget.stats().consumed == 4000.0


def test_a_target_moved_in_the_parent_reaches_the_workers(engine: ProcessEngine) -> None:
    budget = CapacityBudget(100.0, clock=SystemClock())

    def move_target() -> None:
        time.sleep(0.5)
        budget.set_target(300.0)

    mover = threading.Thread(target=move_target)
    mover.start()
    job = Job(Recorder(), budget=budget)
    seen = engine.run(job.watch_target, [0, 1, 2, 3], shared=Shared(budgets=(budget,)))
    mover.join()
    assert seen == [300.0] * 4


def test_the_first_error_comes_back_with_its_class_and_hint_and_stops_the_rest(
    engine: ProcessEngine,
) -> None:
    t0 = time.monotonic()
    with pytest.raises(CorruptDataError, match="part 0 is damaged") as caught:
        engine.run(Job(Recorder()).fail_first, list(range(12)), shared=Shared())
    assert caught.value.hint == "export again"
    assert time.monotonic() - t0 < 3.0, "siblings must stop, not run their 4 s"


def test_an_unexpected_error_in_a_worker_names_its_type(engine: ProcessEngine) -> None:
    with pytest.raises(FatalError, match="KeyError") as caught:
        engine.run(Job(Recorder()).crash_odd, [0, 1, 2], shared=Shared())
    assert "Traceback" in (caught.value.hint or "")


def test_an_error_raised_by_a_forwarded_call_stops_the_run(engine: ProcessEngine) -> None:
    recorder = Recorder()
    with pytest.raises(CorruptDataError, match="refused by the parent"):
        engine.run(Job(recorder).ask_refusal, [0, 1, 2, 3], shared=Shared(forward=(recorder,)))


def test_a_worker_that_dies_fails_the_run_and_the_next_run_gets_new_workers() -> None:
    with ProcessEngine(2, threads=2) as engine:
        with pytest.raises(TransientError, match="stopped unexpectedly"):
            engine.run(Job(Recorder()).die, [0, 1, 2, 3], shared=Shared())
        results = engine.run(Job(Recorder()).pid, [5, 6], shared=Shared())
        assert [r[0] for r in results] == [50, 60]


def test_killing_the_parent_leaves_no_worker_behind(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, threading, time
            from ddbmigrate.engines.local import ProcessEngine, Shared

            class Job:
                def run(self, unit, stop):
                    print(os.getpid(), flush=True)
                    time.sleep(60)

            if __name__ == "__main__":
                with ProcessEngine(2, threads=1) as engine:
                    engine.run(Job().run, [0, 1], shared=Shared())
            """
        )
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert parent.stdout is not None
    with parent, parent.stdout:
        pids = [int(parent.stdout.readline()) for _ in range(2)]
        os.kill(parent.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        time.sleep(0.1)
    assert not alive, f"workers {alive} outlived their parent"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return status != "Z"
