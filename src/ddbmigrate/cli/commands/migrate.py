"""``migrate`` and ``plan``: one table from end to end, and what that would take."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from ddbmigrate import api
from ddbmigrate.cli.common import (
    RunRef,
    bulk_settings,
    print_lines,
    print_migration,
    reported,
    staging_options,
)
from ddbmigrate.cli.options import (
    BULK,
    CONFIG,
    DEBUG,
    DEST,
    ENGINE,
    JSON,
    NOTIFY_LAG,
    PARALLEL,
    PROGRESS,
    READ,
    REPORTING,
    SOURCE,
    STAGING_WRITES,
    WRITE,
    BoostOpt,
    BoostSourceOpt,
    MaxRejects,
    Segments,
    SettingsChoice,
    StrictSettings,
)
from ddbmigrate.cli.optionset import Given, uses
from ddbmigrate.cli.output import staging_line
from ddbmigrate.cli.resolve import Resolved, check_file_profiles, resolve
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import ConfigError
from ddbmigrate.estimate import Prices
from ddbmigrate.notify import MultiNotifier
from ddbmigrate.pipeline import MigrateOptions
from ddbmigrate.pipelinefile import load_pipeline
from ddbmigrate.ports import Observer
from ddbmigrate.settings import parse_settings

PRICES = Prices()


@uses(
    SOURCE,
    DEST,
    CONFIG,
    STAGING_WRITES,
    READ,
    WRITE,
    BULK,
    ENGINE,
    REPORTING,
    NOTIFY_LAG,
    JSON,
    PROGRESS,
    DEBUG,
)
def migrate(
    *,
    source_table: Annotated[str, typer.Option("--source-table", help="Table to copy.")],
    staging: Annotated[
        str,
        typer.Option(
            "--staging",
            help="s3://bucket/prefix/ owned by the destination account, or ./dir, /abs/dir, "
            "file:///dir.",
        ),
    ],
    dest_table: Annotated[
        str | None,
        typer.Option("--dest-table", help="Destination table.", show_default="same name"),
    ] = None,
    into_existing: Annotated[
        bool,
        typer.Option(
            "--into-existing", help="Write into a destination table that already holds items."
        ),
    ] = False,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Compare both tables at the end.")
    ] = True,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Live migration: enable the source's stream before the export and replay it "
            "after the import until caught up; then `sync` and `cutover` (README: Live "
            "migration).",
        ),
    ] = False,
    export_method: Annotated[
        str,
        typer.Option(
            "--export-method",
            help="scan: parallel Scan within --read-percent; native: AWS's "
            "ExportTableToPointInTime (no read capacity used; needs PITR on the source).",
        ),
    ] = "scan",
    import_method: Annotated[
        str,
        typer.Option(
            "--import-method",
            help="batch: BatchWriteItem within --write-percent; native: AWS's ImportTable "
            "(new table only, no LSIs; TTL, tags, PITR, streams applied after); bulk: AWS's "
            "StartBulkPutItems into the table (s3:// staging; --bulk-max-wru, --bulk-tier).",
        ),
    ] = "batch",
    dest_kms_key_id: Annotated[
        str | None,
        typer.Option(
            "--dest-kms-key-id",
            help="KMS key for the new table's encryption "
            "(source keys are not reused across accounts).",
        ),
    ] = None,
    segments: Segments = None,
    max_rejects: MaxRejects = 0,
    settings_choice: SettingsChoice = "all",
    strict_settings: StrictSettings = False,
    boost: BoostOpt = None,
    boost_source: BoostSourceOpt = None,
    given: Given,
) -> None:
    """Move a table: preflight, schema, export, import, validate.

    Each step in order, each recorded so a re-run continues where a stopped one ended.

    Example: ddbmigrate migrate --source-profile a --source-table customer --dest-profile b
    --staging s3://bucket-in-b/migrations/
    """
    run = resolve(given)
    options = _table_options(
        run,
        source_table,
        dest_table,
        segments,
        into_existing=into_existing,
        validate=validate,
        max_rejects=max_rejects,
        dest_kms_key_id=dest_kms_key_id,
        export_method=export_method,
        import_method=import_method,
        settings=parse_settings(settings_choice),
        strict_settings=strict_settings,
        bulk=bulk_settings(given),
        boost=boost,
        boost_source=boost_source,
        live=live,
    )
    job = _migration(run, options, staging_options(staging, given))
    ref = RunRef(staging)
    report, error = reported(
        job,
        dest=run.dest,
        reporting=_reporting(given),
        progress=given["progress"],
        log_format=given["log_format"],
        table=source_table,
        ref=ref,
    )
    if error is not None:
        raise error
    print_migration(report, as_json=given["as_json"], ref=ref)


def _table_options(
    run: Resolved, source_table: str, dest_table: str | None, segments: int | None, **more: Any
) -> MigrateOptions:
    """One table's options; the destination keeps the source's name unless given one."""
    return MigrateOptions(
        source_table=source_table,
        dest_table=dest_table or source_table,
        segments=segments,
        workers=run.workers_or_default,
        threads=run.threads,
        **more,
    )


def _reporting(given: Given) -> api.Reporting:
    report_html = given["report_html"]
    return api.Reporting(
        notify_sns=given["notify_sns"],
        notify_webhook=given["notify_webhook"],
        notify_steps=given["notify_steps"],
        notify_lag=given["notify_lag"],
        log_location=given["log_location"],
        report_html=str(report_html) if report_html else None,
        bucket_owner=given["bucket_owner"],
    )


def _migration(run: Resolved, options: MigrateOptions, staging: api.StagingOptions) -> Any:
    """The migration as :func:`reported` runs it: events observed, the error kept."""

    def job(observer: Observer, notifications: MultiNotifier) -> tuple[Any, dict[str, Any]]:
        result, error, report = api.observed(
            lambda events: api.migrate(
                source=run.source,
                dest=run.dest,
                staging=staging,
                options=options,
                throughput=run.throughput,
                observer=events,
                engine=run.engine,
            ),
            source_table=options.source_table,
            dest_table=options.dest_table,
            notifications=notifications,
            observer=observer,
            clock=SystemClock(),
        )
        return (result, error), report

    return job


@uses(SOURCE, DEST, CONFIG, READ, WRITE, BULK, PARALLEL, DEBUG)
def plan_cmd(
    *,
    source_table: Annotated[
        str | None, typer.Option("--source-table", help="Table to plan for.")
    ] = None,
    staging: Annotated[
        str | None,
        typer.Option(
            "--staging",
            help="s3://bucket/prefix/, or ./dir, /abs/dir, file:///dir, as migrate would take it: "
            "checked and named, nothing written.",
            show_default="none; with --pipeline, the file's staging",
        ),
    ] = None,
    dest_table: Annotated[
        str | None,
        typer.Option("--dest-table", help="Destination table.", show_default="same name"),
    ] = None,
    pipeline_file: Annotated[
        Path | None,
        typer.Option(
            "--pipeline",
            help="Plan every table of a pipeline file as run would (its sides, throughput, "
            "methods; --workers/--threads over its keys).",
        ),
    ] = None,
    segments: Segments = None,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Count the validation scans.")
    ] = True,
    price_read: Annotated[
        float, typer.Option("--price-read", help="USD per million on-demand read units.")
    ] = PRICES.on_demand_read_per_million,
    price_write: Annotated[
        float, typer.Option("--price-write", help="USD per million on-demand write units.")
    ] = PRICES.on_demand_write_per_million,
    price_rcu_hour: Annotated[
        float, typer.Option("--price-rcu-hour", help="USD per provisioned RCU-hour.")
    ] = PRICES.provisioned_rcu_hour,
    price_wcu_hour: Annotated[
        float, typer.Option("--price-wcu-hour", help="USD per provisioned WCU-hour.")
    ] = PRICES.provisioned_wcu_hour,
    boost: BoostOpt = None,
    given: Given,
) -> None:
    """Print what a migration would do and take; write nothing.

    Items, bytes, capacity shares, duration,
    request cost — from read-only calls. Nothing is written. Then the import methods
    compared (batch, bulk, native: duration and cost for this table) and, with --boost,
    what the boost changes and costs.

    Example: ddbmigrate plan --source-profile a --source-table customer --dest-profile b
    """
    prices = Prices(
        on_demand_read_per_million=price_read,
        on_demand_write_per_million=price_write,
        provisioned_rcu_hour=price_rcu_hour,
        provisioned_wcu_hour=price_wcu_hour,
    )
    if pipeline_file is not None:
        beside: dict[str, object] = {"--source-table": source_table, "--dest-table": dest_table}
        beside |= {"--segments": segments, "--boost": boost, "--no-validate": not validate or None}
        _plan_pipeline(pipeline_file, given, beside, prices, staging)
        return
    run = resolve(given)
    if source_table is None:
        raise ConfigError("plan needs --source-table or --pipeline FILE")
    if staging is not None:
        print_lines([staging_line(staging)])
    options = _table_options(
        run,
        source_table,
        dest_table,
        segments,
        validate=validate,
        bulk=bulk_settings(given),
        boost=boost,
    )
    print_lines(
        api.plan_lines(
            source=run.source,
            dest=run.dest,
            options=options,
            throughput=run.throughput,
            prices=prices,
        )
    )


PIPELINE_FLAGS = frozenset({"workers", "threads", "debug"})
"""The shared options ``plan --pipeline`` takes over the file's keys, as ``run`` does."""


def _plan_pipeline(
    pipeline_file: Path,
    given: Given,
    beside: dict[str, object],
    prices: Prices,
    staging: str | None,
) -> None:
    """Plan each table as ``run`` would migrate it: the file's sides, tables, throughput,
    methods and steps; ``--workers``/``--threads`` over its keys."""
    _refuse_beside_pipeline(given, beside)
    spec = load_pipeline(pipeline_file)
    keys = {n: given[n] for n in ("workers", "threads") if n not in given.defaulted}
    spec = replace(spec, **keys)
    check_file_profiles(spec)
    print_lines([staging_line(staging or spec.staging)])
    jobs = api.expand_pipeline(spec)
    throughput = api.table_throughput(spec, jobs)
    for job in jobs:
        lines = api.plan_lines(
            source=spec.source,
            dest=spec.dest,
            options=api.table_options(spec, job),
            throughput=throughput,
            prices=prices,
        )
        print_lines(lines)


def _refuse_beside_pipeline(given: Given, beside: dict[str, object]) -> None:
    """A flag the file's keys decide would be ignored: a usage error instead."""
    flags = [f for f, value in beside.items() if value is not None]
    flags += [
        "--" + name.replace("_", "-")
        for name in given
        if name not in given.defaulted and name not in PIPELINE_FLAGS
    ]
    if flags:
        raise ConfigError(
            f"{', '.join(sorted(flags))} cannot be given with --pipeline: the file decides them",
            hint="change the pipeline file, or plan one table without --pipeline",
        )
