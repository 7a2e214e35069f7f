"""Many tables of a pipeline file, side by side: globs expanded, each table a migrate run
retried by resuming it, throughput shared fairly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.clock import SystemClock
from ddbmigrate.multi import (
    Prefixed,
    TableJob,
    TableOutcome,
    expand_tables,
    run_tables,
    with_step_retries,
)
from ddbmigrate.notify import MultiNotifier
from ddbmigrate.options import BulkSettings
from ddbmigrate.pipeline import MigrateOptions, MigrateReport
from ddbmigrate.pipelinefile import PipelineSpec
from ddbmigrate.plans import MigratePlan
from ddbmigrate.ports import NullObserver, Observer
from ddbmigrate.report import merge_reports
from ddbmigrate.wiring.accounts import Account, StagingOptions
from ddbmigrate.wiring.commands import migrate, migrate_plan
from ddbmigrate.wiring.records import finished_run, running_step
from ddbmigrate.wiring.reporting import Reporting, observed


def expand_pipeline(spec: PipelineSpec) -> list[TableJob]:
    """The tables a pipeline file names, globs expanded against the source account."""
    src = Account(spec.source, "source")
    return expand_tables(spec.tables, src.admin.list_tables, file=spec.path)


def table_options(spec: PipelineSpec, job: TableJob) -> MigrateOptions:
    """What ``run`` migrates one table of a pipeline file with (``plan --pipeline`` too)."""
    return MigrateOptions(
        source_table=job.source_table,
        dest_table=job.dest_table,
        segments=job.spec.segments,
        workers=spec.workers,
        threads=spec.threads,
        validate=job.spec.validate and "validate" in spec.steps,
        max_rejects=spec.max_rejects if job.spec.max_rejects is None else job.spec.max_rejects,
        export_method=job.spec.export_method,
        import_method=job.spec.import_method,
        bulk=BulkSettings(max_wru=job.spec.bulk_max_wru, tier=job.spec.bulk_tier),
        boost=job.spec.boost,
        boost_source=job.spec.boost_source,
        live=job.spec.live,
        timeouts=spec.timeouts,
        settings=spec.settings,
        strict_settings=spec.strict_settings,
    )


def table_throughput(spec: PipelineSpec, jobs: list[TableJob]) -> ThroughputOptions:
    """Each table's throughput when ``jobs`` run as the file says (side by side)."""
    return _shared_throughput(spec.throughput, min(spec.parallel_tables, len(jobs)))


def reporting_of(spec: PipelineSpec) -> Reporting:
    """The notification, report and log settings of a pipeline file."""
    return Reporting(
        notify_sns=spec.notify_sns,
        notify_webhook=spec.notify_webhook,
        notify_steps=spec.notify_steps,
        notify_lag=spec.notify_lag,
        log_location=spec.log_location,
        report_html=spec.report_html,
        bucket_owner=spec.bucket_owner,
    )


def run_pipeline(
    spec: PipelineSpec,
    *,
    observer: Observer | None = None,
    notifications: MultiNotifier | None = None,
) -> tuple[list[TableOutcome], dict[str, Any]]:
    """Every table of a pipeline file, side by side: one outcome per table, and the report
    of all of them. Each table sends its own success or failure event."""
    observer = observer or NullObserver()
    jobs = expand_pipeline(spec)
    run = _PipelineRun(
        spec,
        observer=observer,
        notifications=notifications or MultiNotifier([], on_error=observer.message),
        throughput=table_throughput(spec, jobs),
    )
    outcomes = run_tables(
        jobs,
        run.run_one,
        concurrency=min(spec.parallel_tables, len(jobs)),
        fail_fast=spec.fail_fast,
        finished_before=run.finished_before,
    )
    ran = [run.reports[job.source_table] for job in jobs if job.source_table in run.reports]
    return outcomes, merge_reports(ran) if ran else {}


class _PipelineRun:
    """One pipeline file's run: each table a migrate run, retried by resuming it."""

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        observer: Observer,
        notifications: MultiNotifier,
        throughput: ThroughputOptions,
    ) -> None:
        self.spec = spec
        self.observer = observer
        self.notifications = notifications
        self.throughput = throughput
        self.staging = StagingOptions(url=spec.staging, bucket_owner=spec.bucket_owner)
        self.clock = SystemClock()
        self.reports: dict[str, dict[str, Any]] = {}

    def options_of(self, job: TableJob) -> MigrateOptions:
        return table_options(self.spec, job)

    def plan_of(self, options: MigrateOptions) -> MigratePlan:
        spec = self.spec
        return migrate_plan(
            source=spec.source, dest=spec.dest, staging=self.staging, options=options
        )

    def finished_before(self, job: TableJob) -> str | None:
        return finished_run(self.staging, self.spec.dest, self.plan_of(self.options_of(job)))

    def attempts(self, options: MigrateOptions, events: Observer) -> MigrateReport:
        """The table's migration, resumed after a failed step as its retries allow."""
        spec, plan = self.spec, self.plan_of(options)
        return with_step_retries(
            lambda: migrate(
                source=spec.source,
                dest=spec.dest,
                staging=self.staging,
                options=options,
                throughput=self.throughput,
                observer=events,
                engine=spec.engine,
            ),
            failed_step=lambda: running_step(self.staging, spec.dest, plan),
            retries=spec.retries,
        )

    def run_one(self, job: TableJob) -> MigrateReport:
        options = self.options_of(job)
        result, error, report = observed(
            lambda events: self.attempts(options, events),
            source_table=job.source_table,
            dest_table=job.dest_table,
            notifications=self.notifications,
            observer=Prefixed(self.observer, job.source_table),
            clock=self.clock,
        )
        self.reports[job.source_table] = report
        if error is not None:
            raise error
        assert result is not None  # observed returns a result or an error
        return result


def _shared_throughput(values: Mapping[str, float], tables: int) -> ThroughputOptions:
    """Percents apply to each table's own capacity; absolute caps are shared fairly."""
    caps = {k: v / max(1, tables) for k, v in values.items() if k in ("max_rcu", "max_wcu")}
    shares = {k: v for k, v in values.items() if k in ("read_percent", "write_percent")}
    return ThroughputOptions(**shares, **caps)
