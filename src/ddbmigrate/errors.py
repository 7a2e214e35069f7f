"""One exception root, grouped by what the caller should do.

``TransientError`` and its children may be retried (at the smallest unit: one page, one
batch). ``FatalError`` and its children stop the run at once. Every message names the value
that was wrong and, where there is one, the fix; the CLI prints ``str(error)`` and the hint
and maps the class to an exit code in one place (``ddbmigrate.cli.exit_codes``).
``Interrupted`` (SIGINT, SIGTERM) is the one exception here outside that root.
"""

from __future__ import annotations

import signal


class DdbMigrateError(Exception):
    """Root of every error ddbmigrate raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Errors travel from worker processes: keep every attribute, whatever __init__ takes.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(
    cls: type[DdbMigrateError], args: tuple[object, ...], state: dict[str, object]
) -> DdbMigrateError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class TransientError(DdbMigrateError):
    """A fault that may pass: throttling, 5xx, a dropped connection, a timeout."""


class ThrottledError(TransientError):
    """DynamoDB or S3 asked us to slow down."""


class StepTimeoutError(TransientError):
    """A step ran past its timeout; a step retry resumes it where it stopped."""


class FatalError(DdbMigrateError):
    """Retrying will not help; the run stops."""


class ConfigError(FatalError):
    """A flag, environment variable or config file value is wrong."""


class EngineError(FatalError):
    """The engine cannot run the work: a Spark master that cannot be reached or started, no
    executors, a Spark session without the API the engine needs."""


class CredentialsError(FatalError):
    """No credentials, or credentials that AWS refuses."""


class AccessDeniedError(FatalError):
    """AWS refused a call for lack of permission."""


class NotFoundError(FatalError):
    """A table, bucket, export or file does not exist."""


class UnsupportedError(FatalError):
    """The endpoint does not implement the operation (UnknownOperationException, HTTP 501,
    "not implemented"): a DynamoDB-compatible store or emulator with a subset of the API."""


class SettingsNotCopiedError(FatalError):
    """``--strict-settings``: an optional table setting could not be read or copied."""


class SchemaMismatchError(FatalError):
    """The destination table exists with a key schema that differs from the source."""


class DestinationNotEmptyError(FatalError):
    """The destination table already holds items and ``--into-existing`` was not given."""


class StagingError(FatalError):
    """The staging store cannot be read or written, or is owned by the wrong account."""


class CorruptDataError(FatalError):
    """An export file is damaged: bad checksum, wrong item count, unparsable line."""


class ResumeMismatchError(FatalError):
    """What a resumed run finds differs from what its first run resolved and recorded: the
    export it imports, that export's manifests or files, or the table it was creating."""


class CapacityGuardError(FatalError):
    """The table to create asks for provisioned capacity above what the export vouches for,
    and the flag that allows it was not given."""


class RejectedItemError(FatalError):
    """DynamoDB refused an item for a reason retrying cannot fix (e.g. a ValidationException)."""


class StreamUnusableError(FatalError):
    """A table's change stream cannot carry a live migration: disabled, keys or old images
    only, another table's, or not the stream the run started on."""


class StreamTrimmedError(FatalError):
    """Stream records the replay had not applied yet are gone (past the 24-hour retention):
    the replay cannot make an exact copy any more."""


class ExportFailedError(FatalError):
    """AWS's ExportTableToPointInTime ended FAILED: waiting for it again cannot help, a new
    export may (the bridge of a live run starts one on the next run)."""


class ExpiredIteratorError(DdbMigrateError):
    """A shard iterator was not used within 15 minutes. Neither transient (sending the same
    iterator again fails again) nor fatal: the replay opens a new one at its checkpoint."""


class ValidationMismatchError(DdbMigrateError):
    """Source and destination differ. Carries the report that says where."""

    def __init__(self, message: str, *, report: object, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM asked the run to stop (the CLI raises it from its signal handler).

    Not a ``DdbMigrateError`` on purpose: like the ``KeyboardInterrupt`` it extends, it passes
    every ``except Exception``, so no retry loop or per-item handler mistakes it for a failed
    request. ``run_id`` is filled in on the way out, once it is known which run stopped.
    """

    def __init__(self, signum: int = signal.SIGINT, run_id: str | None = None) -> None:
        super().__init__(signum)
        self.signum = signum
        self.run_id = run_id

    @classmethod
    def of(cls, exc: BaseException, run_id: str | None = None) -> Interrupted:
        """``exc`` as an Interrupted (a plain KeyboardInterrupt is a SIGINT), with the run
        id added when it has none yet."""
        interrupted = exc if isinstance(exc, Interrupted) else cls(signal.SIGINT)
        interrupted.run_id = interrupted.run_id or run_id
        return interrupted
