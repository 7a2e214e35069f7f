"""Exit codes, decided here and nowhere else."""

from __future__ import annotations

import signal
from enum import IntEnum

from ddbmigrate import errors


class ExitCode(IntEnum):
    """What ``ddbmigrate`` exits with."""

    OK = 0
    FAILURE = 1
    """The run stopped on an error (permissions, missing table, damaged export, a table
    setting that cannot be copied under ``--strict-settings``...), or on an unexpected one
    (``error: ...``, the traceback with ``--debug``)."""
    USAGE = 2
    """A flag, environment variable or config value is wrong."""
    MISMATCH = 3
    """Validation ran and the tables differ."""
    TRANSIENT = 4
    """AWS kept failing or throttling after every retry; running again may succeed."""
    DECLINED = 5
    """A confirmation was answered "no", or got no answer (stdin closed or not a terminal):
    nothing was done."""
    NOT_VALIDATED = 6
    """``run``: every table was copied, but at least one was not validated (``validate:
    false``, or a ``steps`` list without validate): no proof the copy is exact, so not 0,
    which means every table matched. Failures (1, 4) and mismatches (3) come first."""
    STREAM = 7
    """Live migration: the source's stream cannot carry it (keys or old images only,
    disabled, another table's, disabled and enabled again since the run started) or lost
    records the replay had not applied (past the 24-hour retention) that no incremental
    export can bring back (point-in-time recovery off, or a local staging directory). Start
    a new live run."""
    INTERRUPTED = 130
    """SIGINT (Ctrl-C) stopped the run; the same command again resumes it (128 + 2)."""
    TERMINATED = 143
    """SIGTERM stopped the run; the same command again resumes it (128 + 15)."""


_BY_ERROR: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], ExitCode], ...] = (
    (KeyboardInterrupt, ExitCode.INTERRUPTED),
    (errors.ConfigError, ExitCode.USAGE),
    (errors.ValidationMismatchError, ExitCode.MISMATCH),
    ((errors.StreamUnusableError, errors.StreamTrimmedError), ExitCode.STREAM),
    (errors.TransientError, ExitCode.TRANSIENT),
)
"""The first entry ``exc`` is an instance of decides (order matters: subclasses first)."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code of an error that ended a command."""
    if isinstance(exc, errors.Interrupted) and exc.signum == signal.SIGTERM:
        return ExitCode.TERMINATED
    return next((code for kind, code in _BY_ERROR if isinstance(exc, kind)), ExitCode.FAILURE)
