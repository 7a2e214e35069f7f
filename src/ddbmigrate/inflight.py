"""Requests in flight: how many one process keeps at once, following latency and the budget.

A run is meant to be limited by the table's capacity, not by a thread count. By Little's law
the requests a process must keep in flight are its allowed request rate times the request
latency: 10 ms of latency and 400 BatchWriteItem calls a second need 4, 100 ms need 40. Neither
factor is known in advance (requests differ in cost, the budget is shared, latency depends on
the network and on this machine's CPU), so the limit is found by measurement, one window of
requests at a time (see docs/adr/0022-requests-in-flight.md):

- throttled: halve the limit (the table, not us, is the limit);
- callers waited for the capacity budget: the budget is the limit; keep what Little's law
  says it needs (the window's mean requests in flight) with headroom, never more than now;
- latency well above the lowest seen (requests queue in this process's CPU, or at the
  server): step back towards the start;
- every slot was taken and latency is near the lowest seen: latency is the limit; grow.

The limit stays between 1 and the ceiling (``--threads`` per worker). A process has one
:class:`InflightGate` per job; requests take a slot with :meth:`InflightGate.request`.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from ddbmigrate.engines.base import Cancelled
from ddbmigrate.errors import ThrottledError
from ddbmigrate.ports import Budget, Clock

START = 4
"""Requests in flight per process at first (what 4 threads allowed before)."""
GROW_FACTOR = 1.5
SHRINK_FACTOR = 0.75
HEADROOM = 1.5
"""Little's law gives the mean; bursts of slow answers need room above it."""
CALM_RATIO = 1.5
"""Latency below this multiple of the lowest seen: the limit may grow."""
QUEUED_RATIO = 3.0
"""Latency above this multiple of the lowest seen: requests queue; the limit steps back."""
MIN_WINDOW_SECONDS = 0.05
"""A window also lasts at least this long, so one burst of fast answers is not a trend."""
BASELINE_WINDOWS = 50
"""The lowest latency is the least of this many windows' least: it follows a network that
became slower for good, after a while."""


@dataclass(slots=True)
class _Window:
    """What the requests completed since the last adjustment saw."""

    started: float
    completed: int = 0
    latency: float = 0.0
    """Sum of request latencies (seconds)."""
    least: float = math.inf
    budget_wait: float = 0.0
    saturated: bool = False
    cut: bool = False
    """Opened by a throttle: more throttles in it are the same overload seen by others."""


@dataclass(slots=True)
class InflightControl:
    """The control law, without threads: feed it events, read :attr:`limit`."""

    ceiling: int
    clock: Clock
    limit: int = START
    window: _Window = field(init=False)
    lows: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.ceiling = max(1, self.ceiling)
        self.limit = max(1, min(self.limit, self.ceiling))
        self.window = _Window(self.clock.monotonic())
        self.lows = deque(maxlen=BASELINE_WINDOWS)

    def saturated(self) -> None:
        """A request found every slot taken."""
        self.window.saturated = True

    def waited_for_budget(self, seconds: float) -> None:
        self.window.budget_wait += seconds

    def completed(self, latency: float) -> None:
        """A request was answered after ``latency`` seconds (its budget wait excluded)."""
        window = self.window
        window.completed += 1
        window.latency += latency
        window.least = min(window.least, latency)
        elapsed = self.clock.monotonic() - window.started
        if window.completed >= self.limit and elapsed >= MIN_WINDOW_SECONDS:
            self._adjust(elapsed)

    def throttled(self) -> None:
        """The table refused a request: halve at once, then start a new window. Requests
        in flight together meet the same overload: once per window, as the budget does."""
        if self.window.cut:
            return
        self.limit = max(1, self.limit // 2)
        self.window = _Window(self.clock.monotonic(), cut=True)

    @property
    def baseline(self) -> float:
        return min(self.lows, default=math.inf)

    def _adjust(self, elapsed: float) -> None:
        window = self.window
        self.lows.append(window.least)
        self.limit = max(1, min(self.ceiling, self._decide(window, elapsed)))
        self.window = _Window(self.clock.monotonic())

    def _decide(self, window: _Window, elapsed: float) -> int:
        latency = window.latency / window.completed
        if window.budget_wait > 0:
            # Little's law: the mean in flight is what the budget's rate needs at this latency.
            needed = window.latency / elapsed
            return min(self.limit, math.ceil(needed * HEADROOM) + 1)
        if latency > QUEUED_RATIO * self.baseline and self.limit > START:
            return max(START, math.floor(self.limit * SHRINK_FACTOR))
        if window.saturated and latency <= CALM_RATIO * self.baseline:
            return max(self.limit + 1, math.ceil(self.limit * GROW_FACTOR))
        return self.limit


class InflightGate:
    """Slots for requests, as many as :class:`InflightControl` allows now. Thread-safe.

    Pickled into a worker process, it arrives as a new gate with the same ceiling: each
    process measures its own latency and keeps its own requests in flight."""

    def __init__(self, ceiling: int, *, clock: Clock, start: int = START) -> None:
        self._clock = clock
        self._control = InflightControl(ceiling, clock, start)
        self._cond = threading.Condition()
        self._in_flight = 0
        self._units = threading.BoundedSemaphore(max(1, min(start, ceiling)))
        self._pool: ThreadPoolExecutor | None = None
        self.peak = 0
        """The most requests this gate had in flight at once."""

    def unit(self) -> threading.BoundedSemaphore:
        """A place among the few units (import files) a process works on at once, as a
        context manager: a file's requests go out together (:class:`Pipeline`), so more
        files at once would only hold more of them open and decoded."""
        return self._units

    def pool(self) -> ThreadPoolExecutor:
        """Threads to send requests on (as many as the ceiling), started on first use."""
        with self._cond:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.ceiling, thread_name_prefix="request")
            return self._pool

    def close(self) -> None:
        """Stop the request threads (a gate of a worker process goes with its job)."""
        with self._cond:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    @property
    def limit(self) -> int:
        return self._control.limit

    @property
    def ceiling(self) -> int:
        return self._control.ceiling

    def readers(self, processes: int | None) -> int | None:
        """Pages the run may have in flight now: ``processes`` gates like this one (None:
        unknown, as on Spark, whose tasks hold budget shares of their own). Never fewer
        than ``START`` per process, the segments read at once before the limit adapted, so
        pages are never larger than they were then."""
        if processes is None:
            return None
        return processes * max(self._control.limit, START)

    @contextlib.contextmanager
    def request(self) -> Iterator[Ticket]:
        """Hold a slot for one request: its budget wait and its call."""
        with self.holding() as slot, slot.request() as ticket:
            yield ticket

    @contextlib.contextmanager
    def holding(self) -> Iterator[Slot]:
        """Hold a slot for a request and what is done with its answer before the next one
        (an export writes a Scan page to its part): the page's memory and CPU count as in
        flight, so a process short of CPU sees its latency rise and stops growing."""
        self._enter()
        slot = Slot(self, self._clock, self._clock.monotonic())
        try:
            yield slot
        except BaseException:
            self._leave(_nothing)
            raise
        latency = self._clock.monotonic() - slot.started - slot.budget_wait
        self._leave(lambda: self._record(slot.budget_wait, latency))

    def throttled(self) -> None:
        with self._cond:
            self._control.throttled()

    def _enter(self) -> None:
        with self._cond:
            if self._in_flight >= self._control.limit:
                self._control.saturated()
            while self._in_flight >= self._control.limit:
                self._cond.wait(timeout=0.5)  # woken by a slot freed or the limit raised
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)

    def _leave(self, event: Callable[[], None]) -> None:
        with self._cond:
            self._in_flight -= 1
            event()
            # Wake as many waiters as there are free slots (the event may have raised the
            # limit), not every one: most would only find the slot taken and wait again.
            self._cond.notify(max(0, self._control.limit - self._in_flight))

    def _record(self, budget_wait: float, latency: float) -> None:
        if budget_wait:
            self._control.waited_for_budget(budget_wait)
        self._control.completed(latency)

    def __reduce__(self) -> tuple[Any, ...]:
        # A worker process starts afresh: slots, counters and latencies are this process's.
        return (_new_gate, (self._control.ceiling, self._clock))


def _nothing() -> None:
    return None


def _new_gate(ceiling: int, clock: Clock) -> InflightGate:
    return InflightGate(ceiling, clock=clock)


@dataclass(slots=True)
class Slot:
    """A slot held (:meth:`InflightGate.holding`): the requests made in it, retries included."""

    gate: InflightGate
    clock: Clock
    started: float
    budget_wait: float = 0.0

    @contextlib.contextmanager
    def request(self) -> Iterator[Ticket]:
        """One attempt in this slot: the gate learns of its budget wait and throttling."""
        ticket = Ticket(self.clock)
        try:
            yield ticket
        except ThrottledError:
            self.gate.throttled()
            raise
        finally:
            self.budget_wait += ticket.budget_wait


@dataclass(slots=True)
class Ticket:
    """One attempt: how long it waited for the capacity budget."""

    clock: Clock
    budget_wait: float = 0.0

    def spend(self, budget: Budget, expected: float) -> None:
        """``budget.acquire(expected)``, with the wait told to the gate (the budget is then
        the limit) and left out of the request's latency."""
        wait = budget.reserve(expected)
        if wait > 0:
            self.clock.sleep(wait)
            self.budget_wait += wait


class RequestGate(Protocol):
    """Where an attempt takes its slot: a gate, or a slot already held."""

    def request(self) -> contextlib.AbstractContextManager[Ticket]: ...


class Pipeline:
    """The requests of one unit of work sent together on the gate's threads, at most
    ``depth`` waiting or in flight, each key's writes in the order they were submitted.

    A task whose keys overlap a task still in flight waits until everything before it has
    ended, so the later write of a key always wins. :meth:`finish` returns when every task
    has ended, with the sum of their results; the first error is raised only after the
    others ended too, so nothing of the unit is still in flight when it reports (a unit is
    recorded as done only after all its writes succeeded)."""

    def __init__(self, gate: InflightGate, stop: threading.Event) -> None:
        self._pool = gate.pool()
        self._depth = gate.ceiling
        self._stop = stop
        self._abandon = threading.Event()
        self._pending: dict[Future[int], Collection[bytes]] = {}
        self._keys: set[bytes] = set()
        self._total = 0

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None:
            self._abandon.set()  # tasks not started yet stop at once
            wait(self._pending)

    def submit(self, keys: Collection[bytes], task: Callable[[], int]) -> None:
        if not self._keys.isdisjoint(keys):
            self._collect(everything=True)
        while len(self._pending) >= self._depth:
            self._collect(everything=False)
        future = self._pool.submit(self._run, task)
        self._pending[future] = keys
        self._keys.update(keys)

    def finish(self) -> int:
        self._collect(everything=True)
        return self._total

    def _run(self, task: Callable[[], int]) -> int:
        if self._abandon.is_set() or self._stop.is_set():
            raise Cancelled
        return task()

    def _collect(self, *, everything: bool) -> None:
        done, _ = wait(self._pending, return_when=ALL_COMPLETED if everything else FIRST_COMPLETED)
        for future in done:
            self._keys.difference_update(self._pending.pop(future))
            self._total += future.result()  # the first error stops the unit (see __exit__)
