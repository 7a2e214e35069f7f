"""What the command bodies share: the observer, reporting, and printing results."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ddbmigrate import api
from ddbmigrate.cli.logging_setup import Labelled, LineObserver, LogCapture, LogFormat
from ddbmigrate.cli.options import ProgressMode
from ddbmigrate.cli.output import ConsoleObserver, migrate_lines, stdout, validation_lines
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.errors import ConfigError, Interrupted, ValidationMismatchError
from ddbmigrate.notify import MultiNotifier
from ddbmigrate.options import BulkSettings
from ddbmigrate.pipeline import MigrateReport
from ddbmigrate.ports import Observer
from ddbmigrate.validator import ValidationReport


def staging_options(url: str, given: Mapping[str, Any]) -> api.StagingOptions:
    """The staging URL with the owner, ACL and encryption options ``given`` to the command;
    those it does not take keep the defaults of :class:`api.StagingOptions`."""
    chosen = {name: given[name] for name in STAGING_FIELDS if name in given}
    if "acl" in chosen and chosen["acl"].lower() == "none":
        chosen["acl"] = None
    return api.StagingOptions(url=url, **chosen)


STAGING_FIELDS = ("bucket_owner", "acl", "sse", "sse_kms_key_id")


def choice(value: str, flag: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{flag} {value!r} is not one of {', '.join(allowed)}")
    return value


def bulk_settings(given: Mapping[str, Any]) -> BulkSettings:
    """``--bulk-max-wru`` / ``--bulk-tier`` as the options object takes them; the tier in
    capitals, as AWS spells it."""
    written = str(given["bulk_tier"])
    if written.upper() not in BULK_TIERS:  # the message quotes what was written
        raise ConfigError(f"--bulk-tier {written!r} is not one of {', '.join(BULK_TIERS)}")
    return BulkSettings(max_wru=given["bulk_max_wru"], tier=written.upper())


BULK_TIERS = ("STANDARD", "ACCELERATED")


@contextlib.contextmanager
def observing(
    progress: ProgressMode, log_format: LogFormat = LogFormat.text, *, table: str | None = None
) -> Iterator[Observer]:
    """The console (or JSON lines) observer; with ``table``, every line is ``[table] ...``."""
    observer: ConsoleObserver | LineObserver
    if log_format == LogFormat.json:
        observer = LineObserver(SystemClock())
    else:
        observer = ConsoleObserver(
            bars=progress in (ProgressMode.auto, ProgressMode.on), raw=progress == ProgressMode.raw
        )
    try:
        with observer:
            yield observer if table is None else Labelled(observer, table)
    except KeyboardInterrupt as exc:  # name the run to resume (the observer saw its id)
        raise Interrupted.of(exc, observer.run_id) from None


def reported(
    run: Callable[[Observer, MultiNotifier], tuple[Any, dict[str, Any]]],
    *,
    dest: Side,
    reporting: api.Reporting,
    progress: ProgressMode,
    log_format: LogFormat,
    table: str | None = None,
    ref: RunRef | None = None,
) -> Any:
    """Run with notifications, a captured log and the report written at the end; with
    ``table``, every line (on stderr and in run.log) is ``[table] ...``; ``ref`` gets the
    run's id and where the report went."""
    clock = SystemClock()
    with observing(progress, log_format) as console:
        capture = LogCapture(console, clock, fmt=log_format)
        notifications = api.notifier(dest=dest, reporting=reporting, on_error=capture.warning)
        observer: Observer = capture if table is None else Labelled(capture, table)
        result, report = run(observer, notifications)
        written = []
        if report:
            written = api.publish_report(
                report,
                reporting=reporting,
                side=dest,
                log_text=capture.text(),
                clock=clock,
                warn=capture.warning,
            )
            for where in written:
                capture.message(f"report written: {where}")
    if ref is not None:
        ref.run_id, ref.report = getattr(console, "run_id", None), written
    return result


@dataclass(slots=True)
class RunRef:
    """Where a command's run is found again, for its ``--json`` result: the run's id (None
    for a command that records no run), the staging URL it is recorded under, and where
    its report was written (the HTML file, report.json and run.log; empty when none)."""

    staging: str | None
    run_id: str | None = None
    report: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, observer: Observer, staging: str | None) -> RunRef:
        """The run an observer was bound to (``bind_run``) under ``staging``."""
        return cls(staging, getattr(observer, "run_id", None))

    def json(self, body: dict[str, object]) -> dict[str, object]:
        return {"run_id": self.run_id, "staging": self.staging, "report": self.report, **body}


def print_lines(lines: list[str]) -> None:
    for line in lines:
        stdout.print(line, markup=False)


def print_json(body: object) -> None:
    stdout.print(orjson.dumps(body).decode(), markup=False)


def finish_validation(report: ValidationReport | None, *, as_json: bool) -> None:
    """Print the verdict (unless JSON already carried it); a mismatch ends with exit code 3."""
    if report is None:
        return
    if not as_json:
        print_lines(validation_lines(report))
    if not report.matches:
        raise ValidationMismatchError(report.summary(), report=report)


def print_migration(report: MigrateReport, *, as_json: bool, ref: RunRef) -> None:
    if as_json:
        print_json(ref.json(report.to_dict()))
    else:
        print_lines(migrate_lines(report))
    finish_validation(report.validation, as_json=as_json)
