"""How a run tells about itself: notifications, its report, where the report is written.
Notification and report problems never change a run's outcome: they become warnings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddbmigrate.aws.sns import SnsNotifier
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.errors import DdbMigrateError
from ddbmigrate.notify import BEHIND_AFTER, MultiNotifier, Notifier, RunNotifications
from ddbmigrate.notify.webhook import WebhookNotifier
from ddbmigrate.pipeline import MigrateReport
from ddbmigrate.ports import Observer
from ddbmigrate.render.html import render_html
from ddbmigrate.report import (
    RateRecorder,
    build_report,
    migrate_counts,
    outcome_of,
    write_report_files,
)
from ddbmigrate.wiring.accounts import Account, StagingOptions, run_store


@dataclass(frozen=True, kw_only=True, slots=True)
class Reporting:
    """Where a run tells about itself: notifications, the report and the log."""

    notify_sns: str | None = None
    """SNS topic ARN; published to with the destination's credentials."""
    notify_webhook: str | None = None
    """URL that receives each event as a JSON POST."""
    notify_steps: bool = False
    """Also send an event when each step finishes (not only success and failure)."""
    notify_lag: float = BEHIND_AFTER
    """Seconds of replay lag past which a live run sends ``fell_behind``."""
    log_location: str | None = None
    """s3:// URL or directory for report.json and run.log (one folder per run)."""
    report_html: str | None = None
    """File for the one-page HTML report."""
    bucket_owner: str | None = None


def notifier(*, dest: Side, reporting: Reporting, on_error: Callable[[str], None]) -> MultiNotifier:
    """The run's notification targets; a bad ARN or URL fails here, before anything moves."""
    targets: list[Notifier] = []
    if reporting.notify_sns:
        targets.append(SnsNotifier(Account(dest, "destination").session, reporting.notify_sns))
    if reporting.notify_webhook:
        targets.append(WebhookNotifier(reporting.notify_webhook))
    return MultiNotifier(
        targets,
        on_error=on_error,
        steps=reporting.notify_steps,
        behind_after=reporting.notify_lag,
    )


def observed(
    run: Callable[[Observer], MigrateReport],
    *,
    source_table: str,
    dest_table: str,
    notifications: MultiNotifier,
    observer: Observer,
    clock: SystemClock,
) -> tuple[MigrateReport | None, DdbMigrateError | None, dict[str, Any]]:
    """Run one table's migration, then notify (success or failure) and build its report.

    Notification and report problems never change the outcome: they become warnings.
    """
    recorder = RateRecorder(observer, clock)
    events = RunNotifications(
        recorder, notifications, source_table=source_table, dest_table=dest_table, clock=clock
    )
    result: MigrateReport | None = None
    error: DdbMigrateError | None = None
    try:
        result = run(events)
    except DdbMigrateError as exc:
        error = exc
    failure = error or (outcome_of(result) if result is not None else None)
    if failure is not None:
        events.failed(failure)
    elif result is not None:
        events.succeeded(migrate_counts(result))
    report = build_report(
        recorder=recorder,
        source_table=source_table,
        dest_table=dest_table,
        finished_at=clock.now_iso(),
        result=result,
        error=error,
    )
    return result, error, report


def publish_report(
    report: dict[str, Any],
    *,
    reporting: Reporting,
    side: Side,
    log_text: str,
    clock: SystemClock,
    warn: Callable[[str], None],
) -> list[str]:
    """Write the HTML report and upload report.json and run.log; problems become warnings."""
    written: list[str] = []
    try:
        if reporting.report_html:
            Path(reporting.report_html).write_text(render_html(report), encoding="utf-8")
            written.append(reporting.report_html)
        if reporting.log_location:
            store = run_store(
                StagingOptions(url=reporting.log_location, bucket_owner=reporting.bucket_owner),
                side,
            )
            folder = str(report.get("run_id") or f"no-run-{clock.now_ms()}").split(",")[0]
            keys = write_report_files(report, store, folder, log_text=log_text)
            written += [f"{store.root.rstrip('/')}/{k}" for k in keys]
    except (DdbMigrateError, OSError) as exc:
        warn(f"the report could not be written: {exc}")
    return written
