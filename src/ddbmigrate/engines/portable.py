"""What a worker sends back when a unit of work fails: the error, if it can travel.

The process engine and the Spark engine both pickle a unit's failure back to the parent.
Our own errors (and ``Cancelled``) keep their class, so the parent maps them to the right
exit code; anything else (or one that does not pickle) becomes a FatalError carrying the
worker's traceback as its hint, since that traceback exists nowhere else.
"""

from __future__ import annotations

import contextlib
import pickle
import traceback

from ddbmigrate.engines.base import Cancelled
from ddbmigrate.errors import DdbMigrateError, FatalError


def portable(exc: BaseException, *, failed: str) -> BaseException:
    """``exc`` itself when it is ours and survives pickling; else a FatalError saying what
    ``failed`` (``"a worker"``), with the traceback."""
    if isinstance(exc, DdbMigrateError | Cancelled):
        with contextlib.suppress(Exception):
            pickle.dumps(exc)
            return exc
    text = "".join(traceback.format_exception(exc)).strip()
    return FatalError(f"{failed} failed: {type(exc).__name__}: {exc}", hint=text)


def from_worker(exc: BaseException) -> BaseException:
    """A process-engine worker's failure, ready to pickle."""
    return portable(exc, failed="a worker")


def from_spark_task(exc: BaseException) -> BaseException:
    """A Spark task's failure, ready to pickle."""
    return portable(exc, failed="a Spark task")
