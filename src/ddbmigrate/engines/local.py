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
- ``budgets``: capacity budgets. They stay in the parent too: a worker leases capacity
  from the parent's budget (``Budget.reserve``, at least ``LEASE_SECONDS`` of its rate a
  round trip, see ``engines/worker.py``) and sleeps for the wait it is told, so all
  processes draw from one bucket exactly as threads do (the AIMD rate, the capacity
  watcher's target and the burst limit hold for the run as a whole). Settlements travel
  with the next lease, and a unit's unspent lease goes back when it ends.

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
import itertools
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import get_context, resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, TypeVar

# Re-exported: the names lived here before the seam moved to engines/base.py.
from ddbmigrate.engines.base import (
    DEFAULT_THREADS,
    INTERRUPT,
    NOTHING_SHARED,
    POLL_SECONDS,
    WORKERS_PER_CORE,
    Cancelled,
    Engine,
    Shared,
    ThreadEngine,
    check_workers,
    cpu_count,
    default_workers,
    max_workers,
    raise_first_error,
    run_units,
)
from ddbmigrate.engines.portable import from_worker as _portable
from ddbmigrate.engines.worker import STOP_SIGNALS, dumps_job, worker_main
from ddbmigrate.errors import TransientError
from ddbmigrate.ports import Budget

__all__ = [
    "DEFAULT_THREADS",
    "INTERRUPT",
    "POLL_SECONDS",
    "WORKERS_PER_CORE",
    "Cancelled",
    "Engine",
    "ProcessEngine",
    "Shared",
    "ThreadEngine",
    "check_workers",
    "cpu_count",
    "default_workers",
    "dumps_job",
    "local_engine",
    "max_workers",
    "run_units",
]

U = TypeVar("U")
R = TypeVar("R")


def local_engine(workers: int, threads: int = DEFAULT_THREADS) -> ThreadEngine | ProcessEngine:
    """One worker runs in this process; more run as a pool of worker processes."""
    check_workers(workers, threads)
    if workers == 1:
        return ThreadEngine(threads)
    return ProcessEngine(workers, threads)


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
        shared: Shared = NOTHING_SHARED,
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
        # The first spawn starts multiprocessing's resource tracker, which unblocks SIGINT
        # and SIGTERM in this thread once it is up: the worker spawned right after would boot
        # with them unblocked, and a Ctrl-C then ends it with a traceback. Started here, it
        # is running before any worker, and the workers' spawns keep the block below.
        resource_tracker.ensure_running()
        for _ in range(self._workers):
            parent_end, child_end = ctx.Pipe(duplex=True)
            process = ctx.Process(
                target=worker_main, args=(child_end, self.threads), daemon=True, name="worker"
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
        raise_first_error(self.errors)
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
