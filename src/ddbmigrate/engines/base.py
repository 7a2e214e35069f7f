"""The engine seam: what core steps need from whoever runs their units of work.

The core (exporter, importer, validator, pipeline) talks to the :class:`Engine` protocol,
hands over what must stay in the parent as :class:`Shared`, and stops on :class:`Cancelled`
or :data:`INTERRUPT`. :class:`ThreadEngine` runs units on threads of this process; worker
processes live in ``engines/local.py`` and Spark tasks in ``engines/spark.py``, which only
the wiring (``api``) imports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ddbmigrate.errors import ConfigError, Interrupted
from ddbmigrate.ports import Budget

U = TypeVar("U")
R = TypeVar("R")

DEFAULT_THREADS = 16
"""The most requests a worker keeps in flight (and units it runs at once); the requests
really in flight adapt below it (``ddbmigrate.inflight``, ADR 22)."""
WORKERS_PER_CORE = 4
POLL_SECONDS = 0.5


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


NOTHING_SHARED = Shared()
"""The default of :meth:`Engine.run`: every object of the job may be copied."""


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


def requests_per_worker(engine: object) -> int:
    """The most requests one worker of ``engine`` keeps in flight: its threads. An engine
    without threads (Spark runs one unit per task) keeps one per unit."""
    threads = getattr(engine, "threads", 1)
    return threads if isinstance(threads, int) and threads > 0 else 1


def gated_processes(engine: Engine) -> int | None:
    """Processes of ``engine`` that share one capacity budget through per-process gates of
    requests in flight (None for an engine without threads, whose units hold budget shares)."""
    return engine.workers if getattr(engine, "threads", None) else None


def replay_engine(engine: Engine) -> Engine | None:
    """``engine`` when a live replay runs its shards as ``engine``'s units (the Spark
    engine says so with ``runs_replay``); None keeps the replay's reader threads in this
    process, as the local engines do (docs/adr/0049, 0050)."""
    return engine if getattr(engine, "runs_replay", False) is True else None


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
        shared: Shared = NOTHING_SHARED,
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
    raise_first_error(
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


def raise_first_error(errors: Sequence[BaseException | None]) -> None:
    """The first error that is not Cancelled (a sibling stopping because of it), if any."""
    found = [e for e in errors if e is not None]
    real = [e for e in found if not isinstance(e, Cancelled)]
    if real:
        raise real[0]
    if found:
        raise found[0]  # pragma: no cover - only Cancelled means someone set stop from outside
