"""The local engine: run units of work on a bounded pool; the first fatal error stops the rest.

Units are plain data and the unit function takes everything it needs as arguments, so the
same functions can later run on a process pool or as Spark tasks (DESIGN.md, "Engines").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

U = TypeVar("U")
R = TypeVar("R")


class Cancelled(Exception):  # noqa: N818 - a signal between workers, never shown to users
    """Raised inside a unit when a sibling failed and the run is stopping."""


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
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
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
    _raise_first_error(futures)
    return [f.result() for f in futures]


def _raise_first_error(futures: Sequence[Future[R]]) -> None:
    errors: list[BaseException] = []
    for future in futures:
        error = None if future.cancelled() else future.exception()
        if error is not None:
            errors.append(error)
    real = [e for e in errors if not isinstance(e, Cancelled)]
    if real:
        raise real[0]
    if errors:
        raise errors[0]  # pragma: no cover - only Cancelled means someone set stop from outside
