"""The worker side of the process engine: a job pickled with what stays in the parent, the
worker process's main loop, and the stand-ins that carry its forwarded calls, notifications
and budget reservations back to the parent (see :mod:`ddbmigrate.engines.local`)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import itertools
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ddbmigrate.engines.base import Shared
from ddbmigrate.engines.portable import from_worker as _portable
from ddbmigrate.errors import FatalError

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
"""What a terminal or a supervisor sends to stop a run; workers ignore both."""

LEASE_SECONDS = 0.05
"""A worker leases at least this many seconds of the budget's rate per round trip."""
NOTIFY_SECONDS = 0.25
"""A worker sends its progress notifications together, at most this long after the first."""


# --- pickling a job with what stays in the parent -------------------------------------------


class _JobPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, shared: Shared) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        # None (no ledger, say) stays None: a stand-in would make "is not None" true.
        self._ids: dict[int, tuple[str, int]] = {}
        for kind, objects in (("forward", shared.forward), ("notify", shared.notify)):
            self._ids.update({id(o): (kind, i) for i, o in enumerate(objects) if o is not None})
        self._ids.update({id(b): ("budget", i) for i, b in enumerate(shared.budgets)})

    def persistent_id(self, obj: Any) -> Any:
        return self._ids.get(id(obj))


def dumps_job(
    fn: Callable[..., Any],
    shared: Shared,
    *,
    where: str = "on worker processes",
    hint: str = "use --workers 1 to run it in one process",
) -> bytes:
    """``fn`` pickled with every object of ``shared`` left out as a persistent id
    (``("forward"|"notify"|"budget", index)``); the receiving side supplies stand-ins."""
    buffer = io.BytesIO()
    try:
        _JobPickler(buffer, shared).dump(fn)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise FatalError(f"this work cannot run {where}: {exc}", hint=hint) from exc
    return buffer.getvalue()


class _JobUnpickler(pickle.Unpickler):
    def __init__(
        self, data: bytes, forwarder: Callable[[str, int], Any], budgets: list[_RemoteBudget]
    ) -> None:
        super().__init__(io.BytesIO(data))
        self._forwarder = forwarder
        self._budgets = budgets

    def persistent_load(self, pid: Any) -> Any:
        kind, index = pid
        return self._budgets[index] if kind == "budget" else self._forwarder(kind, index)


class _Replies:
    """The worker's calls waiting for the parent's answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, list[Any]] = {}

    def open(self) -> tuple[int, threading.Event, list[Any]]:
        event, slot = threading.Event(), [None, None]
        with self._lock:
            call_id = next(self._ids)
            self._waiting[call_id] = [event, slot]
        return call_id, event, slot

    def resolve(self, call_id: int, error: BaseException | None, value: Any) -> None:
        with self._lock:
            event, slot = self._waiting.pop(call_id)
        slot[0], slot[1] = error, value
        event.set()


class _Forwarder:
    """Stands in a worker for an object of the parent: ``obj.method(...)`` becomes a message,
    answered (``forward``) or not (``notify``)."""

    def __init__(
        self,
        send: Callable[[tuple[Any, ...]], None],
        job_id: int,
        target: tuple[str, int],
        replies: _Replies,
    ) -> None:
        self._send = send
        self._job_id = job_id
        self._target = target
        self._replies = replies

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._target[0] == "notify":
                self._tell(name, *args, **kwargs)
                return None
            return self._ask(name, args, kwargs)

        return call

    def _ask(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call_id, answered, slot = self._replies.open()
        self._send(("call", self._job_id, self._target, name, args, kwargs, call_id))
        answered.wait()
        if slot[0] is not None:
            raise slot[0]
        return slot[1]

    def _tell(self, name: str, *args: Any, **kwargs: Any) -> None:
        self._send(("call", self._job_id, self._target, name, args, kwargs, None))


class _RemoteBudget:
    """A worker's stand-in for a budget of the parent.

    Capacity is leased: ``acquire`` takes from a local lease and asks the parent for more
    only when it runs out, at least ``LEASE_SECONDS`` of the run's rate at a time (and never
    less than the request needs). A slow budget therefore costs one round trip per request,
    as it should; a fast one a round trip per many requests. The parent reserves every lease
    from its one bucket before granting it, so the run as a whole still never exceeds
    ``rate x elapsed + bucket``. What a unit did not use goes back when it ends.
    """

    def __init__(self, link: _Forwarder, rate: float, target: float) -> None:
        self._link = link
        self._rate = rate
        self._target = target
        self._lock = threading.Lock()
        self._lease = 0.0  # units granted by the parent and not spent yet (may go negative)
        self._consumed = 0.0  # units charged since the last report
        self._successes = 0

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def target(self) -> float:
        return self._target

    def reserve(self, expected: float = 1.0) -> float:
        with self._lock:
            if self._lease >= expected:
                self._lease -= expected
                return 0.0
            want = max(expected - self._lease, self._rate * LEASE_SECONDS)
            report = self._report(returned=0.0)
        # The round trip happens outside the lock: other threads spend what is left.
        wait, self._rate, self._target = self._link._ask("reserve", (want, *report), {})
        with self._lock:
            self._lease += want - expected
        return float(wait)

    def acquire(self, expected: float = 1.0) -> None:
        wait = self.reserve(expected)
        if wait > 0:
            time.sleep(wait)

    def settle(self, expected: float, consumed: float) -> None:
        with self._lock:
            self._lease += expected - consumed
            self._consumed += consumed

    def on_success(self) -> None:
        with self._lock:
            self._successes += 1

    def on_throttled(self) -> None:
        self.flush()
        self._link._tell("on_throttled")

    def flush(self) -> None:
        """Report what was charged and give the unspent lease back (or charge the overdraft)."""
        with self._lock:
            returned, self._lease = self._lease, 0.0
            report = self._report(returned=returned)
        if any(report):
            self._link._tell("flush", *report)

    def set_target(self, rate: float) -> None:
        raise TypeError("a worker cannot move the run's target")

    def share(self, parts: int) -> _RemoteBudget:
        raise TypeError("a worker's budget cannot be shared further")

    def _report(self, *, returned: float) -> tuple[float, float, int]:
        # Called with the lock held.
        report = (returned, self._consumed, self._successes)
        self._consumed, self._successes = 0.0, 0
        return report


# --- the worker process -------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    fn: Callable[[Any, threading.Event], Any]
    stop: threading.Event
    budgets: list[_RemoteBudget]


def worker_main(conn: Connection, threads: int) -> None:
    """Runs in a worker process: receive jobs and units, run units on threads, send back."""
    # Ctrl-C and SIGTERM reach the whole process group; the parent decides what stops and
    # kills this process itself, so the worker ignores both (they are blocked until now).
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # The hot loop allocates many short-lived dicts; collecting them less often saves ~1/3
    # of the CPU (DESIGN.md, reference numbers). Modules loaded so far are never garbage.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    _few_malloc_arenas()
    send = _Outbox(conn).send

    jobs: dict[int, _Job] = {}
    replies = _Replies()
    pool = ThreadPoolExecutor(max_workers=threads)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(3)  # the parent is gone: stop at once, write nothing more
        kind = message[0]
        if kind == "exit":
            break
        if kind == "reply":
            replies.resolve(message[2], message[3], message[4])
        else:
            _dispatch(message, jobs, pool, send, replies)
    pool.shutdown(wait=True)


M_ARENA_MAX = -8  # glibc's mallopt parameter number
WORKER_ARENAS = 2


def _few_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own heap (up to 8 per core) and keeps what
    was freed there. A worker's threads each decode 1 MB answers, so at 16 threads a worker
    held 340 MB where 8 threads held 150 MB; two heaps shared by all threads keep it near
    175 MB (bench, 100,000 items). Elsewhere than glibc there is nothing to do."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, WORKER_ARENAS)


class _Outbox:
    """The worker's one way to the parent. Progress notifications wait (at most
    ``NOTIFY_SECONDS``) and go together with the next message, in order: progress costs a
    few messages a second, not one per request."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._held: list[tuple[Any, ...]] = []
        self._since = 0.0

    def send(self, message: tuple[Any, ...]) -> None:
        notify = message[0] == "call" and message[2][0] == "notify"
        with self._lock:
            now = time.monotonic()
            if notify:
                if not self._held:
                    self._since = now
                self._held.append(message)
                if now - self._since < NOTIFY_SECONDS:
                    return
                message = ("batch", message[1], self._take())
            elif self._held:
                self._conn.send_bytes(_dumps(("batch", message[1], self._take())))
            self._conn.send_bytes(_dumps(message))

    def _take(self) -> list[tuple[Any, ...]]:
        held, self._held = self._held, []
        return held


def _dumps(message: tuple[Any, ...]) -> bytes:
    try:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable result: say what it was
        if message[0] in ("call", "batch"):
            raise
        return pickle.dumps(("error", message[1], message[2], _portable(exc)))


def _dispatch(
    message: tuple[Any, ...],
    jobs: dict[int, _Job],
    pool: ThreadPoolExecutor,
    send: Callable[[tuple[Any, ...]], None],
    replies: _Replies,
) -> None:
    kind, job_id = message[0], message[1]
    if kind == "job":
        _, _, payload, rates = message

        def forwarder(kind: str, index: int) -> _Forwarder:
            return _Forwarder(send, job_id, (kind, index), replies)

        budgets = [
            _RemoteBudget(forwarder("budget", i), rate, target)
            for i, (rate, target) in enumerate(rates)
        ]
        fn = _JobUnpickler(payload, forwarder, budgets).load()
        jobs[job_id] = _Job(fn, threading.Event(), budgets)
    elif kind == "unit":
        job = jobs.get(job_id)
        if job is not None:
            pool.submit(_run_unit, job, job_id, message[2], message[3], send)
    elif kind == "stop" and job_id in jobs:
        jobs[job_id].stop.set()
    elif kind == "end":
        jobs.pop(job_id, None)


def _run_unit(
    job: _Job, job_id: int, index: int, unit: Any, send: Callable[[tuple[Any, ...]], None]
) -> None:
    try:
        result = job.fn(unit, job.stop)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        _flush(job)
        job.stop.set()  # this worker's other units stop too; the parent tells the rest
        send(("error", job_id, index, _portable(exc)))
        return
    _flush(job)
    send(("result", job_id, index, result))


def _flush(job: _Job) -> None:
    """What this unit consumed reaches the parent's budgets before its result does."""
    for budget in job.budgets:
        budget.flush()
