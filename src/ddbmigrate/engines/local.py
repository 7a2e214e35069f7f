"""The local engine: units of work on threads, or on worker processes that each run threads.

A unit function is a bound method of a plain job object (``job.run(unit, stop)``), so it
can be pickled and run in another process (and, later, as a Spark task). What must stay in
the parent is named in :class:`Shared`:

- ``forward``: objects whose method calls are made in the parent on the worker's behalf
  (the run ledger, the rejects file): the worker waits for each call, and an exception the
  call raises in the parent (the rejects limit, say) is raised in the worker. They return
  None there: only methods called for their effect may be forwarded.
- ``notify``: the same, one-way, for calls nobody waits for (the progress observer). Calls
  are applied in the order each worker made them, before that worker's result.
- ``budgets``: capacity budgets. They stay in the parent too: a worker reserves capacity
  with one round trip per request (``Budget.reserve``) and sleeps for the wait it is told,
  so all processes draw from one bucket exactly as threads do (the AIMD rate, the capacity
  watcher's target and the burst limit hold for the run as a whole). Settlements travel
  with the next reservation.

Everything else in the job is pickled; AWS clients rebuild themselves in the worker from
their side's configuration, so each process has its own connections and credentials.

The first real error stops the other units (they see ``stop`` and raise Cancelled) and is
re-raised in the parent. A worker that dies, or a parent that dies, ends the whole run:
workers exit when their pipe to the parent closes, so a killed run leaves no process behind.
Workers ignore SIGINT and SIGTERM (a terminal sends Ctrl-C to the whole process group): the
parent stops them when it is interrupted, and engines driven from any thread see
:data:`INTERRUPT` (ADR 14).
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, Protocol, TypeVar

from ddbmigrate.engines.portable import from_worker as _portable
from ddbmigrate.errors import (
    ConfigError,
    FatalError,
    Interrupted,
    TransientError,
)
from ddbmigrate.ports import Budget

U = TypeVar("U")
R = TypeVar("R")

DEFAULT_THREADS = 4
WORKERS_PER_CORE = 4
POLL_SECONDS = 0.5
LEASE_SECONDS = 0.05
"""A worker leases at least this many seconds of the budget's rate per round trip."""
NOTIFY_SECONDS = 0.25
"""A worker sends its progress notifications together, at most this long after the first."""


class Cancelled(Exception):  # noqa: N818 - a signal between workers, never shown to users
    """Raised inside a unit when a sibling failed and the run is stopping."""


class _Interrupt:
    """SIGINT or SIGTERM, seen by every engine of the process, whatever thread drives it.

    The signal handler raises in the main thread only; the tables of a pipeline run are
    driven by other threads, whose engines poll this and raise :class:`Interrupted` too.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._signum = int(signal.SIGINT)
        self._deferring = 0  # changed by the main thread only, where the handler runs

    @property
    def deferring(self) -> bool:
        """The main thread is in :meth:`deferred`: the handler records, it does not raise."""
        return self._deferring > 0 and threading.current_thread() is threading.main_thread()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A section a raised signal must not cut in two, raised at its end instead.

        Starting a spawned worker writes its start-up data down a pipe; an exception in the
        middle of that write leaves the child reading a cut pickle, and it prints a
        traceback ("Ran out of input") after the command has said "interrupted"."""
        main = threading.current_thread() is threading.main_thread()
        self._deferring += main
        try:
            yield
        finally:
            self._deferring -= main
        self.check()

    def set(self, signum: int) -> None:
        self._signum = signum
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def check(self) -> None:
        if self._event.is_set():
            raise Interrupted(self._signum)


INTERRUPT = _Interrupt()
"""Set by the CLI's signal handler (and cleared when its command ends)."""


@dataclass(frozen=True, slots=True)
class Shared:
    """Objects that stay in the parent process (see the module docstring)."""

    forward: tuple[object | None, ...] = ()
    notify: tuple[object | None, ...] = ()
    budgets: tuple[Budget, ...] = ()


class Engine(Protocol):
    """Runs ``fn(unit, stop)`` for every unit; results in unit order."""

    @property
    def workers(self) -> int:
        """Independent workers (processes or tasks) running units at once."""
        ...

    def describe(self) -> str:
        """How units are spread, for the run's plan (``workers ...`` line)."""
        ...

    def run(
        self,
        fn: Callable[[U, threading.Event], R],
        units: Sequence[U],
        *,
        shared: Shared = ...,
    ) -> list[R]: ...


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    return cpu_count()


def max_workers() -> int:
    return cpu_count() * WORKERS_PER_CORE


def check_workers(workers: int, threads: int = DEFAULT_THREADS) -> None:
    """Refuse a worker or thread count that cannot help, naming the limit."""
    cores = cpu_count()
    limit = max_workers()
    if workers < 1:
        raise ConfigError(f"--workers {workers} must be at least 1")
    if workers > limit:
        raise ConfigError(
            f"--workers {workers} is more processes than this machine's {cores} cores can "
            f"use (at most {limit})",
            hint=f"one worker per core is best ({cores} here); raise --threads to have more "
            "requests in flight",
        )
    if not 1 <= threads <= 64:
        raise ConfigError(f"--threads {threads} must be between 1 and 64")


def local_engine(workers: int, threads: int = DEFAULT_THREADS) -> ThreadEngine | ProcessEngine:
    """One worker runs in this process; more run as a pool of worker processes."""
    check_workers(workers, threads)
    if workers == 1:
        return ThreadEngine(threads)
    return ProcessEngine(workers, threads)


# --- threads ------------------------------------------------------------------------------


class ThreadEngine:
    """Units on a thread pool of this process. Budgets and observers are shared as they are."""

    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self.threads = threads

    @property
    def workers(self) -> int:
        return 1

    def describe(self) -> str:
        return f"this process, {self.threads} threads"

    def run(
        self,
        fn: Callable[[U, threading.Event], R],
        units: Sequence[U],
        *,
        shared: Shared = Shared(),
    ) -> list[R]:
        return run_units(fn, units, workers=self.threads)

    def close(self) -> None:
        return None

    def __enter__(self) -> ThreadEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def run_units(
    fn: Callable[[U, threading.Event], R],
    units: Sequence[U],
    *,
    workers: int,
) -> list[R]:
    """Run ``fn(unit, stop)`` for every unit on ``workers`` threads; results in unit order.

    ``stop`` is set when any unit fails (or the caller is interrupted); long units check it
    between requests and raise Cancelled. The first real error is re-raised here.
    """
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(units) or 1)))
    futures: list[Future[R]] = [pool.submit(fn, unit, stop) for unit in units]
    try:
        pending = _wait_first_error(futures)
        if pending:  # something failed: stop the siblings before reporting it
            stop.set()
            for future in pending:
                future.cancel()
            wait(pending)
    except BaseException:
        stop.set()
        for future in futures:
            future.cancel()
        raise
    finally:
        pool.shutdown(wait=True)
    _raise_first_error(
        [None if f.cancelled() else f.exception() for f in futures],
    )
    return [f.result() for f in futures]


def _wait_first_error(futures: Sequence[Future[R]]) -> set[Future[R]]:
    """Until every unit ended or one failed (what is still pending); polls INTERRUPT."""
    while True:
        done, pending = wait(futures, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
        INTERRUPT.check()
        if not pending or any(not f.cancelled() and f.exception() is not None for f in done):
            return pending


def _raise_first_error(errors: Sequence[BaseException | None]) -> None:
    found = [e for e in errors if e is not None]
    real = [e for e in found if not isinstance(e, Cancelled)]
    if real:
        raise real[0]
    if found:
        raise found[0]  # pragma: no cover - only Cancelled means someone set stop from outside


# --- processes ------------------------------------------------------------------------------


class ProcessEngine:
    """Units on ``workers`` processes of ``threads`` threads each; started on first use and
    kept for every step of a command (a process costs ~0.5 s to start)."""

    def __init__(self, workers: int, threads: int = DEFAULT_THREADS) -> None:
        self._workers = workers
        self.threads = threads
        self._procs: list[_Worker] = []
        self._job_ids = itertools.count(1)

    @property
    def workers(self) -> int:
        return self._workers

    def describe(self) -> str:
        return f"{self._workers} worker processes x {self.threads} threads, one capacity budget"

    def __enter__(self) -> ProcessEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Ask the workers to exit; kill those that do not within a few seconds."""
        procs, self._procs = self._procs, []
        for worker in procs:
            worker.send(("exit",))
        for worker in procs:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.release()

    def run(
        self,
        fn: Callable[[U, threading.Event], R],
        units: Sequence[U],
        *,
        shared: Shared = Shared(),
    ) -> list[R]:
        if not units:
            return []
        try:
            self._start()
        except BaseException:
            self._kill()  # the workers started before an interrupt, or before a failed start
            raise
        run = _Run(
            job_id=next(self._job_ids),
            procs=self._procs,
            threads=self.threads,
            shared=shared,
            total=len(units),
        )
        try:
            run.begin(dumps_job(fn, shared), [(b.rate, b.target) for b in shared.budgets])
            return run.drive(list(units))
        except BaseException:
            # Interrupted, or a worker died: the pool is in an unknown state.
            self._kill()
            raise
        finally:
            run.end()

    def _start(self) -> None:
        if self._procs:
            return
        ctx = get_context("spawn")  # fork would copy locks held by this process's threads
        with INTERRUPT.deferred():
            self._spawn(ctx)

    def _spawn(self, ctx: SpawnContext) -> None:
        for _ in range(self._workers):
            parent_end, child_end = ctx.Pipe(duplex=True)
            process = ctx.Process(
                target=_worker_main, args=(child_end, self.threads), daemon=True, name="worker"
            )
            with _stop_signals_blocked():
                process.start()
            child_end.close()
            self._procs.append(_Worker(process, parent_end))

    def _kill(self) -> None:
        procs, self._procs = self._procs, []
        for worker in procs:
            worker.process.kill()
        for worker in procs:
            worker.process.join()
            worker.release()


STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Starts a worker with SIGINT and SIGTERM blocked (the mask is inherited across spawn's
    exec), so a Ctrl-C that reaches the whole process group while the worker boots cannot
    end it with a traceback; the worker ignores both before unblocking them. Here a signal
    that arrives meanwhile waits, and is delivered when the block ends."""
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # this thread's mask
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection

    def release(self) -> None:
        """Close the pipe and the process handle (after it exited)."""
        self.conn.close()
        self.process.close()

    def send(self, message: tuple[Any, ...]) -> None:
        # A dead worker's sentinel tells whoever waits; the send itself may fail quietly.
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(message)


class _Run:
    """One ``ProcessEngine.run``: hands out units, applies forwarded calls, collects results."""

    def __init__(
        self,
        *,
        job_id: int,
        procs: list[_Worker],
        threads: int,
        shared: Shared,
        total: int,
    ) -> None:
        self.job_id = job_id
        self.procs = procs
        self.threads = threads
        self.shared = shared
        self.results: list[Any] = [None] * total
        self.errors: list[BaseException | None] = [None] * total
        self.finished = 0
        self.inflight = {id(w): 0 for w in procs}
        self.stopping = False
        self.first_error: BaseException | None = None

    def begin(self, payload: bytes, rates: list[tuple[float, float]]) -> None:
        for worker in self.procs:
            worker.send(("job", self.job_id, payload, rates))

    def end(self) -> None:
        for worker in self.procs:
            worker.send(("end", self.job_id))

    def drive(self, units: list[Any]) -> list[Any]:
        pending = deque(enumerate(units))
        sent = 0
        while self.finished < sent or (pending and not self.stopping):
            INTERRUPT.check()
            sent += self._hand_out(pending)
            if self.finished >= sent:
                continue
            by_conn = {w.conn: w for w in self.procs}
            sentinels = {w.process.sentinel: w for w in self.procs}
            ready = wait_ready([*by_conn, *sentinels], timeout=POLL_SECONDS)
            for item in ready:
                if item in sentinels:
                    self._died(sentinels[item])
                else:
                    self._drain(by_conn[item])  # type: ignore[index]
        if self.first_error is not None:
            raise self.first_error
        _raise_first_error(self.errors)
        return self.results

    def _hand_out(self, pending: deque[tuple[int, Any]]) -> int:
        """Give each unit to the least busy worker, so units spread over processes."""
        sent = 0
        while pending and not self.stopping:
            worker = min(self.procs, key=lambda w: self.inflight[id(w)])
            if self.inflight[id(worker)] >= self.threads:
                break
            index, unit = pending.popleft()
            worker.send(("unit", self.job_id, index, unit))
            self.inflight[id(worker)] += 1
            sent += 1
        return sent

    def _drain(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            worker.process.join(timeout=2)  # the pipe broke because the worker is dying
            self._died(worker)

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind, job_id = message[0], message[1]
        if job_id != self.job_id:
            return  # a late message of an earlier run that stopped
        if kind == "batch":
            for held in message[2]:
                self._handle(worker, held)
            return
        if kind == "call":
            self._call(worker, message)
            return
        _, _, index, value = message
        self.inflight[id(worker)] -= 1
        self.finished += 1
        if kind == "result":
            self.results[index] = value
        else:
            self._fail(index, value)

    def _call(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        _, _, (kind, target), method, args, kwargs, call_id = message
        error: BaseException | None = None
        value: Any = None
        try:
            if kind == "budget":
                value = _budget_call(self.shared.budgets[target], method, args)
            else:
                objects = self.shared.forward if kind == "forward" else self.shared.notify
                value = getattr(objects[target], method)(*args, **kwargs)
        except KeyboardInterrupt:
            raise  # SIGINT/SIGTERM reached the parent during the call: the run stops
        except BaseException as exc:  # noqa: BLE001 - it belongs to the worker that called
            error = exc
        if call_id is not None:
            reply = None if error is None else _portable(error)
            worker.send(("reply", self.job_id, call_id, reply, value))
        elif error is not None:
            self._fail(None, error)

    def _fail(self, index: int | None, error: BaseException) -> None:
        """A unit failed (``index``) or a forwarded call did (None): stop every worker."""
        if index is not None:
            self.errors[index] = error
        if isinstance(error, Cancelled):
            return
        if self.first_error is None:
            self.first_error = error
        if not self.stopping:
            self.stopping = True
            for worker in self.procs:
                worker.send(("stop", self.job_id))

    def _died(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        raise TransientError(
            f"worker process {worker.process.pid} stopped unexpectedly (exit code {code}); "
            "a re-run resumes where it stopped",
            hint="a worker killed by the system is often out of memory: lower --threads",
        )


def _budget_call(budget: Budget, method: str, args: tuple[Any, ...]) -> Any:
    """A worker's budget call, made on the parent's budget (see ``_RemoteBudget``)."""
    if method == "reserve":
        want, *report = args
        _apply(budget, *report)
        return budget.reserve(want), budget.rate, budget.target
    if method == "flush":
        _apply(budget, *args)
        return None
    if method == "on_throttled":
        budget.on_throttled()
        return None
    raise ValueError(f"unknown budget call {method!r}")


def _apply(budget: Budget, returned: float, consumed: float, successes: int) -> None:
    """``consumed`` was charged (for the counters; its lease was reserved already), and
    ``returned`` units of lease come back (negative: an overdraft to charge)."""
    if returned or consumed:
        budget.settle(consumed + returned, consumed)
    for _ in range(successes):
        budget.on_success()


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


def _worker_main(conn: Connection, threads: int) -> None:
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
