"""The ``ddbmigrate`` command: thin typer commands over ``ddbmigrate.api``.

Errors become exit codes in one place (:func:`main`); no traceback for a user mistake
unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ddbmigrate import __version__, api
from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.cli.exit_codes import ExitCode, exit_code_for
from ddbmigrate.cli.logging_setup import LineObserver, LogCapture, LogFormat
from ddbmigrate.cli.output import (
    ConsoleObserver,
    export_line,
    import_line,
    live_lines,
    migrate_lines,
    print_error,
    print_interrupted,
    stderr,
    stdout,
    validation_lines,
)
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import SIDE_FIELDS, Side, load_config_file, resolve_side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.engines.local import DEFAULT_THREADS, INTERRUPT, default_workers
from ddbmigrate.errors import (
    ConfigError,
    DdbMigrateError,
    FatalError,
    Interrupted,
    ValidationMismatchError,
)
from ddbmigrate.estimate import Prices
from ddbmigrate.exporter import ExportResult
from ddbmigrate.local.demo import run_demo, serve_forever
from ddbmigrate.notify import MultiNotifier
from ddbmigrate.pipeline import MigrateOptions, MigrateReport
from ddbmigrate.pipelinefile import load_pipeline
from ddbmigrate.policies import render as render_policies
from ddbmigrate.policies import write_files as render_files
from ddbmigrate.ports import Observer
from ddbmigrate.settings import parse_settings
from ddbmigrate.validator import ValidationReport

app = typer.Typer(
    name="ddbmigrate",
    help="Move DynamoDB tables between AWS accounts and regions through S3, and prove the "
    "copy is exact.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
local_app = typer.Typer(help="The embedded two-account AWS (moto server) on this machine.")
app.add_typer(local_app, name="local")


class ProgressMode(StrEnum):
    """How progress is shown on stderr."""

    auto = "auto"
    on = "on"
    off = "off"
    raw = "raw"


# Side options, shared by every command. Each also reads DDBMIGRATE_SOURCE_<FIELD> /
# DDBMIGRATE_DEST_<FIELD> and the [source] / [destination] tables of --config.
_S = "Source account"
_D = "Destination account"
SrcProfile = Annotated[
    str | None,
    typer.Option("--source-profile", help="Source AWS profile (SSO too).", rich_help_panel=_S),
]
SrcRole = Annotated[
    str | None,
    typer.Option(
        "--source-role-arn",
        help="Role to assume for the source (refreshed automatically).",
        rich_help_panel=_S,
    ),
]
SrcExtId = Annotated[
    str | None,
    typer.Option(
        "--source-external-id", help="ExternalId for the source AssumeRole.", rich_help_panel=_S
    ),
]
SrcSession = Annotated[
    str | None,
    typer.Option(
        "--source-session-name", help="RoleSessionName for the source.", rich_help_panel=_S
    ),
]
SrcRegion = Annotated[
    str | None, typer.Option("--source-region", help="Source region.", rich_help_panel=_S)
]
SrcEndpoint = Annotated[
    str | None,
    typer.Option(
        "--source-endpoint-url",
        help="Endpoint for every source service (e.g. moto, LocalStack).",
        rich_help_panel=_S,
    ),
]
DstProfile = Annotated[
    str | None,
    typer.Option("--dest-profile", help="Destination AWS profile (SSO too).", rich_help_panel=_D),
]
DstRole = Annotated[
    str | None,
    typer.Option("--dest-role-arn", help="Role to assume for the destination.", rich_help_panel=_D),
]
DstExtId = Annotated[
    str | None,
    typer.Option(
        "--dest-external-id", help="ExternalId for the destination AssumeRole.", rich_help_panel=_D
    ),
]
DstSession = Annotated[
    str | None,
    typer.Option(
        "--dest-session-name", help="RoleSessionName for the destination.", rich_help_panel=_D
    ),
]
DstRegion = Annotated[
    str | None, typer.Option("--dest-region", help="Destination region.", rich_help_panel=_D)
]
DstEndpoint = Annotated[
    str | None,
    typer.Option(
        "--dest-endpoint-url", help="Endpoint for every destination service.", rich_help_panel=_D
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file with [source] and [destination] tables (profile, role_arn, "
        "external_id, session_name, region, endpoint_url).",
        envvar="DDBMIGRATE_CONFIG",
    ),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
ProgressOpt = Annotated[
    ProgressMode,
    typer.Option(
        "--progress",
        help="Progress on stderr: auto (bars on a terminal), on, off, raw (a plain line "
        "per step every 5 s, for logs).",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Worker processes, each with its own connections and a 1/N share of the "
        "capacity budget; 1 runs everything in this process [default: one per core]. With "
        "--engine spark: shares of the budget, at least the Spark tasks that can run at once.",
        show_default=False,
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local: worker processes of this machine; spark: Spark tasks on EMR, Glue or "
        "any Spark cluster (needs pyspark: the spark extra of ddbmigrate).",
        rich_help_panel="Engine",
    ),
]
SparkMaster = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master for --engine spark (local[N], spark://HOST:PORT, yarn ...) "
        "[default: the running SparkSession, else local[*]].",
        rich_help_panel="Engine",
        show_default=False,
    ),
]
Threads = Annotated[
    int,
    typer.Option(
        "--threads",
        help="Segments or files each worker processes at once (requests in flight).",
    ),
]
Segments = Annotated[
    int | None,
    typer.Option(
        "--segments",
        min=1,
        max=1_000_000,
        help="Parallel Scan segments [default: one per GiB of table, at least "
        "--workers x --threads].",
    ),
]
ReadPercent = Annotated[
    float,
    typer.Option(
        "--read-percent",
        help="Share of the source's read capacity to use, 0.1-1.5 (Data Pipeline's "
        "readThroughputPercent).",
        rich_help_panel="Throughput",
    ),
]
WritePercent = Annotated[
    float,
    typer.Option(
        "--write-percent",
        help="Share of the destination's write capacity to use, 0.1-1.5.",
        rich_help_panel="Throughput",
    ),
]
MaxRcu = Annotated[
    float | None,
    typer.Option(
        "--max-rcu",
        help="Cap on read units per second (on-demand tables: the capacity to share).",
        rich_help_panel="Throughput",
    ),
]
MaxWcu = Annotated[
    float | None,
    typer.Option(
        "--max-wcu",
        help="Cap on write units per second (on-demand tables: the capacity to share).",
        rich_help_panel="Throughput",
    ),
]
OutFormat = Annotated[
    str,
    typer.Option(
        "--format", help="native-json, native-ion (native export layout) or datapipeline."
    ),
]
OutCompression = Annotated[
    str, typer.Option("--compression", help="Data file compression: gzip, zstd or none.")
]
CompressionLevel = Annotated[
    int | None,
    typer.Option(
        "--compression-level",
        help="Compressor level: gzip 1-9, zstd 1-22 [default: gzip 1, zstd 3, measured fastest "
        "for keeping up with DynamoDB].",
        show_default=False,
    ),
]
NotifySns = Annotated[
    str | None,
    typer.Option(
        "--notify-sns",
        help="SNS topic ARN for success and failure events (published as the destination).",
        rich_help_panel="Notifications and reports",
    ),
]
NotifyWebhook = Annotated[
    str | None,
    typer.Option(
        "--notify-webhook",
        help="URL that receives each event as a JSON POST.",
        rich_help_panel="Notifications and reports",
    ),
]
NotifySteps = Annotated[
    bool,
    typer.Option(
        "--notify-steps",
        help="Also notify when each step finishes.",
        rich_help_panel="Notifications and reports",
    ),
]
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="text (for people) or json (one JSON object per line, for machines) on stderr.",
        rich_help_panel="Notifications and reports",
    ),
]
LogLocation = Annotated[
    str | None,
    typer.Option(
        "--log-location",
        help="s3:// URL or directory where report.json and run.log are uploaded.",
        rich_help_panel="Notifications and reports",
    ),
]
ReportHtml = Annotated[
    Path | None,
    typer.Option(
        "--report-html",
        help="Write a one-page HTML report (per-table results, items/s chart).",
        rich_help_panel="Notifications and reports",
    ),
]
SettingsOpt = Annotated[
    str,
    typer.Option(
        "--settings",
        help="Optional table settings to copy: all, keys-only, or a list of ttl, pitr, tags, "
        "stream, deletion-protection, table-class, sse. Best effort: one the endpoint lacks "
        "or the role is denied is left out with a warning. Keys, indexes and billing always.",
    ),
]
StrictSettings = Annotated[
    bool,
    typer.Option(
        "--strict-settings",
        help="Stop (exit 1) when a chosen table setting cannot be read or copied.",
    ),
]
MaxRejects = Annotated[
    int,
    typer.Option(
        "--max-rejects",
        min=0,
        help="Bad lines or refused items to record (in the run's rejects file) and skip before "
        "stopping; any reject still makes the exit code non-zero.",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
BucketOwner = Annotated[
    str | None,
    typer.Option(
        "--bucket-owner",
        help="Account id that must own the staging bucket, sent as ExpectedBucketOwner with "
        "every S3 request [default: the destination account; for export, the caller's "
        "account (STS)].",
    ),
]
Acl = Annotated[
    str,
    typer.Option(
        "--acl",
        help="Canned ACL of objects written into a bucket another account owns; not sent "
        "when its Object Ownership is BucketOwnerEnforced; 'none' sends none.",
    ),
]
Sse = Annotated[
    str | None,
    typer.Option("--sse", help="Server-side encryption of staging objects: AES256 or aws:kms."),
]
SseKms = Annotated[str | None, typer.Option("--sse-kms-key-id", help="KMS key for --sse aws:kms.")]


def _engine(name: str, master: str | None, workers: int | None) -> EngineChoice:
    """The engine flags; with spark, --workers counts the tasks at once."""
    spark = name == "spark"
    return EngineChoice(name=name, spark_master=master, spark_tasks=workers if spark else None)


def _side_from(role: str, values: Mapping[str, Any]) -> Side:
    """Build a side from a command's ``source_*`` or ``dest_*`` parameters and ``config``."""
    prefix = "source_" if role == "source" else "dest_"
    flags = {name: values.get(prefix + name) for name in SIDE_FIELDS}
    config = values.get("config")
    return resolve_side(role, flags=flags, file=load_config_file(config) if config else None)


def _staging(
    url: str, owner: str | None, acl: str, sse: str | None, kms: str | None
) -> api.StagingOptions:
    return api.StagingOptions(
        url=url,
        bucket_owner=owner,
        acl=None if acl.lower() == "none" else acl,
        sse=sse,
        sse_kms_key_id=kms,
    )


OUTPUT_FORMATS = ("native-json", "native-ion", "datapipeline")
COMPRESSIONS = ("gzip", "zstd", "none")


def _choice(value: str, flag: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{flag} {value!r} is not one of {', '.join(allowed)}")
    return value


@contextlib.contextmanager
def _observer(
    progress: ProgressMode, log_format: LogFormat = LogFormat.text
) -> Iterator[ConsoleObserver | LineObserver]:
    observer: ConsoleObserver | LineObserver
    if log_format == LogFormat.json:
        observer = LineObserver(SystemClock())
    else:
        observer = ConsoleObserver(
            bars=progress in (ProgressMode.auto, ProgressMode.on), raw=progress == ProgressMode.raw
        )
    try:
        with observer:
            yield observer
    except KeyboardInterrupt as exc:  # name the run to resume (the observer saw its id)
        raise Interrupted.of(exc, observer.run_id) from None


def _reported(
    run: Callable[[Observer, MultiNotifier], tuple[Any, dict[str, Any]]],
    *,
    dest: Side,
    reporting: api.Reporting,
    progress: ProgressMode,
    log_format: LogFormat,
) -> Any:
    """Run with notifications, a captured log and the report written at the end."""
    clock = SystemClock()
    with _observer(progress, log_format) as console:
        capture = LogCapture(console, clock, fmt=log_format)
        notifications = api.notifier(dest=dest, reporting=reporting, on_error=capture.warning)
        result, report = run(capture, notifications)
        if report:
            for where in api.publish_report(
                report,
                reporting=reporting,
                side=dest,
                log_text=capture.text(),
                clock=clock,
                warn=capture.warning,
            ):
                capture.message(f"report written: {where}")
    return result


def _print(lines: list[str]) -> None:
    for line in lines:
        stdout.print(line, markup=False)


def _print_json(body: object) -> None:
    stdout.print(orjson.dumps(body).decode(), markup=False)


def _finish_validation(report: ValidationReport | None, *, as_json: bool) -> None:
    """Print the verdict (unless JSON already carried it); a mismatch ends with exit code 3."""
    if report is None:
        return
    if not as_json:
        _print(validation_lines(report))
    if not report.matches:
        raise ValidationMismatchError(report.summary(), report=report)


def _print_migration(report: MigrateReport, *, as_json: bool) -> None:
    if as_json:
        _print_json(report.to_dict())
    else:
        _print(migrate_lines(report))
    _finish_validation(report.validation, as_json=as_json)


@app.command()
def migrate(
    *,
    source_table: Annotated[str, typer.Option("--source-table", help="Table to copy.")],
    staging: Annotated[
        str,
        typer.Option(
            "--staging",
            help="s3://bucket/prefix/ owned by the destination account, or a local directory.",
        ),
    ],
    dest_table: Annotated[
        str | None, typer.Option("--dest-table", help="Destination table [default: same name].")
    ] = None,
    into_existing: Annotated[
        bool,
        typer.Option(
            "--into-existing", help="Write into a destination table that already holds items."
        ),
    ] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Live migration: enable the source's stream before the export, replay it "
            "after the import until caught up; then `sync` and `cutover` (README: Live "
            "migration).",
        ),
    ] = False,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Compare both tables at the end.")
    ] = True,
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
            "(new table only, no LSIs; TTL, tags, PITR, streams applied after).",
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
    workers: Workers = None,
    threads: Threads = DEFAULT_THREADS,
    engine: EngineOpt = "local",
    spark_master: SparkMaster = None,
    max_rejects: MaxRejects = 0,
    settings_choice: SettingsOpt = "all",
    strict_settings: StrictSettings = False,
    read_percent: ReadPercent = 0.5,
    write_percent: WritePercent = 0.5,
    max_rcu: MaxRcu = None,
    max_wcu: MaxWcu = None,
    bucket_owner: BucketOwner = None,
    acl: Acl = api.DEFAULT_ACL,
    sse: Sse = None,
    sse_kms_key_id: SseKms = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    notify_sns: NotifySns = None,
    notify_webhook: NotifyWebhook = None,
    notify_steps: NotifySteps = False,
    log_format: LogFormatOpt = LogFormat.text,
    log_location: LogLocation = None,
    report_html: ReportHtml = None,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Move a table: preflight, schema, export, import, validate.

    Each step in order, each recorded so a re-run continues where a stopped one ended.

    Example: ddbmigrate migrate --source-profile a --source-table customer --dest-profile b
    --staging s3://bucket-in-b/migrations/
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    source = _side_from("source", locals())
    dest = _side_from("destination", locals())
    chosen = _engine(engine, spark_master, workers)
    options = MigrateOptions(
        source_table=source_table,
        dest_table=dest_table or source_table,
        segments=segments,
        workers=default_workers() if workers is None else workers,
        threads=threads,
        into_existing=into_existing,
        validate=validate,
        max_rejects=max_rejects,
        dest_kms_key_id=dest_kms_key_id,
        export_method=export_method,
        import_method=import_method,
        settings=parse_settings(settings_choice),
        strict_settings=strict_settings,
        live=live,
    )
    throughput = ThroughputOptions(
        read_percent=read_percent, write_percent=write_percent, max_rcu=max_rcu, max_wcu=max_wcu
    )
    reporting = api.Reporting(
        notify_sns=notify_sns,
        notify_webhook=notify_webhook,
        notify_steps=notify_steps,
        log_location=log_location,
        report_html=str(report_html) if report_html else None,
        bucket_owner=bucket_owner,
    )
    staging_options = _staging(staging, bucket_owner, acl, sse, sse_kms_key_id)

    def run(observer: Observer, notifications: MultiNotifier) -> tuple[Any, dict[str, Any]]:
        result, error, report = api.observed(
            lambda events: api.migrate(
                source=source,
                dest=dest,
                staging=staging_options,
                options=options,
                throughput=throughput,
                observer=events,
                engine=chosen,
            ),
            source_table=options.source_table,
            dest_table=options.dest_table,
            notifications=notifications,
            observer=observer,
            clock=SystemClock(),
        )
        return (result, error), report

    report, error = _reported(
        run, dest=dest, reporting=reporting, progress=progress, log_format=log_format
    )
    if error is not None:
        raise error
    _print_migration(report, as_json=as_json)


@app.command()
def schema(
    *,
    source_table: Annotated[
        str, typer.Option("--source-table", help="Table whose schema to copy.")
    ],
    dest_table: Annotated[
        str | None, typer.Option("--dest-table", help="Table to create [default: same name].")
    ] = None,
    dest_kms_key_id: Annotated[
        str | None,
        typer.Option("--dest-kms-key-id", help="KMS key for the new table's encryption."),
    ] = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    debug: Debug = False,
) -> None:
    """Create the destination table like the source.

    Keys, indexes, capacity, SSE, TTL, streams,
    tags, PITR, table class, deletion protection. An existing table with the same key is left
    as it is (differences are listed); one with another key is refused.

    Example: ddbmigrate schema --source-profile a --source-table customer --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    source = _side_from("source", locals())
    dest = _side_from("destination", locals())
    with _observer(ProgressMode.off) as observer:
        action = api.copy_schema(
            source=source,
            dest=dest,
            source_table=source_table,
            dest_table=dest_table or source_table,
            dest_kms_key_id=dest_kms_key_id,
            observer=observer,
        )
    stdout.print(action, markup=False)


@app.command()
def export(
    *,
    table: Annotated[str, typer.Option("--table", "--source-table", help="Table to export.")],
    staging: Annotated[
        str, typer.Option("--staging", help="s3://bucket/prefix/ or a local directory.")
    ],
    segments: Segments = None,
    workers: Workers = None,
    threads: Threads = DEFAULT_THREADS,
    engine: EngineOpt = "local",
    spark_master: SparkMaster = None,
    out_format: OutFormat = "native-json",
    compression: OutCompression = "gzip",
    compression_level: CompressionLevel = None,
    read_percent: ReadPercent = 0.5,
    max_rcu: MaxRcu = None,
    bucket_owner: BucketOwner = None,
    acl: Acl = api.DEFAULT_ACL,
    sse: Sse = None,
    sse_kms_key_id: SseKms = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Export a table to staging (native export layout or Data Pipeline).

    STAGING/AWSDynamoDB/<export-id>/ in DynamoDB's native export layout
    (DYNAMODB_JSON or ION parts, manifests with item counts and MD5s, plus the table's
    schema), or as a Data Pipeline backup (--format datapipeline). A stopped export continues
    when the same command runs again.

    Example: ddbmigrate export --source-profile a --table customer --staging s3://bucket/exports/
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    source = _side_from("source", locals())
    throughput = ThroughputOptions(read_percent=read_percent, max_rcu=max_rcu)
    with _observer(progress) as observer:
        result = api.export(
            source=source,
            table=table,
            staging=_staging(staging, bucket_owner, acl, sse, sse_kms_key_id),
            segments=segments,
            workers=workers,
            threads=threads,
            format=_choice(out_format, "--format", OUTPUT_FORMATS),  # type: ignore[arg-type]
            compression=_choice(compression, "--compression", COMPRESSIONS),  # type: ignore[arg-type]
            compression_level=compression_level,
            throughput=throughput,
            observer=observer,
            engine=_engine(engine, spark_master, workers),
        )
    if as_json:
        _print_json(result.to_dict())
    else:
        _print([export_line(result)])


@app.command("import")
def import_cmd(
    source: Annotated[
        str,
        typer.Argument(
            help="s3:// URL or local path of: a native export folder (…/AWSDynamoDB/<id>/), "
            "the prefix above exports, a Data Pipeline backup folder (with or without its "
            "manifest), or one data file."
        ),
    ],
    *,
    table: Annotated[
        str,
        typer.Option(
            "--table",
            "--dest-table",
            help="Table to write into (created from the export's schema when absent).",
        ),
    ],
    export_id: Annotated[
        str | None,
        typer.Option(
            "--export-id", help="Which export under SOURCE [default: the newest complete one]."
        ),
    ] = None,
    into_existing: Annotated[
        bool, typer.Option("--into-existing", help="Write into a table that already holds items.")
    ] = False,
    source_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Override detection: native-json, native-ion, datapipeline, datapipeline-hive.",
        ),
    ] = None,
    allow_unverified_capacity: Annotated[
        bool,
        typer.Option(
            "--allow-unverified-capacity",
            help="Create the table even when ddbmigrate-table.json is not covered by the "
            "export's checksums (an export by an older ddbmigrate) and asks for more than "
            "12,000 RCU or 4,000 WCU provisioned (table or index).",
        ),
    ] = False,
    max_rejects: MaxRejects = 0,
    workers: Workers = None,
    threads: Threads = DEFAULT_THREADS,
    engine: EngineOpt = "local",
    spark_master: SparkMaster = None,
    write_percent: WritePercent = 0.5,
    max_wcu: MaxWcu = None,
    bucket_owner: BucketOwner = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Import an export or backup of any kind into a table.

    BatchWriteItem; unprocessed items are retried, never
    dropped. Checks every file's MD5 and item count against the manifests. A missing table
    is created from the export's ddbmigrate-table.json (checked against its MD5 in the
    manifest, printed before it is created). A re-run after a stop resumes only the export
    the first run resolved, unchanged.

    Example: ddbmigrate import s3://bucket/exports/ --table customer --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    dest = _side_from("destination", locals())
    with _observer(progress) as observer:
        result = api.import_(
            dest=dest,
            source_url=source,
            table=table,
            export_id=export_id,
            format=source_format,
            into_existing=into_existing,
            bucket_owner=bucket_owner,
            workers=workers,
            threads=threads,
            max_rejects=max_rejects,
            throughput=ThroughputOptions(write_percent=write_percent, max_wcu=max_wcu),
            observer=observer,
            engine=_engine(engine, spark_master, workers),
            allow_unverified_capacity=allow_unverified_capacity,
        )
    if as_json:
        _print_json(result.to_dict())
    else:
        _print([import_line(result, table)])


@app.command("validate")
def validate_cmd(
    *,
    source_table: Annotated[str, typer.Option("--source-table", help="Table to compare from.")],
    dest_table: Annotated[
        str | None, typer.Option("--dest-table", help="Table to compare with [default: same name].")
    ] = None,
    consistent: Annotated[
        bool, typer.Option("--consistent", help="Strongly consistent scans (twice the RCU).")
    ] = False,
    segments: Annotated[
        int, typer.Option("--segments", min=1, help="Parallel Scan segments per table.")
    ] = 4,
    workers: Workers = None,
    threads: Threads = DEFAULT_THREADS,
    engine: EngineOpt = "local",
    spark_master: SparkMaster = None,
    read_percent: ReadPercent = 0.5,
    max_rcu: MaxRcu = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Prove two tables hold the same items, or name the keys that differ.

    Item by item through order-free digests; lists missing, extra and changed
    keys. Exits 0 only when they match, 3 when they differ.

    Example: ddbmigrate validate --source-profile a --source-table customer --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    source = _side_from("source", locals())
    dest = _side_from("destination", locals())
    with _observer(progress) as observer:
        report = api.validate(
            source=source,
            dest=dest,
            source_table=source_table,
            dest_table=dest_table or source_table,
            segments=segments,
            workers=workers,
            threads=threads,
            consistent_read=consistent,
            throughput=ThroughputOptions(read_percent=read_percent, max_rcu=max_rcu),
            observer=observer,
            engine=_engine(engine, spark_master, workers),
        )
    if as_json:
        _print_json(report.to_dict())
    _finish_validation(report, as_json=as_json)


@app.command()
def status(
    run_id: Annotated[str | None, typer.Argument(help="One run [default: all runs].")] = None,
    *,
    staging: Annotated[
        str, typer.Option("--staging", help="The staging URL the runs were made with.")
    ],
    bucket_owner: BucketOwner = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Show the runs recorded under a staging URL.

    From STAGING/ddbmigrate/runs/: steps, segments exported,
    files imported, and whether a process holds the run now. A run whose ledger file is
    damaged is listed as DAMAGED with the reason. Reads with the destination's
    credentials (the staging bucket is the destination's).

    Example: ddbmigrate status --staging s3://bucket-in-b/migrations/ --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    side = _side_from("destination", locals())
    found = api.status(
        staging=api.StagingOptions(url=staging, bucket_owner=bucket_owner),
        side=side,
        run_id=run_id,
    )
    if as_json:
        _print_json([asdict(run) for run in found])
        return
    if not found:
        _print([f"no runs under {staging}"])
    for run in found:
        _print(run.lines())


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to continue (see `status`).")],
    *,
    staging: Annotated[
        str, typer.Option("--staging", help="The staging URL the run was made with.")
    ],
    workers: Workers = None,
    threads: Threads = DEFAULT_THREADS,
    engine: EngineOpt = "local",
    spark_master: SparkMaster = None,
    read_percent: ReadPercent = 0.5,
    write_percent: WritePercent = 0.5,
    max_rcu: MaxRcu = None,
    max_wcu: MaxWcu = None,
    bucket_owner: BucketOwner = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Continue a stopped run.

    A migrate, export or import run, with the tables and options it recorded;
    finished segments and files are not done again. Re-running the original command does
    the same. Profiles, roles, external ids, regions and endpoints come from this command's
    flags, config file and environment, never from the run's record in the staging store
    (a note says when they differ from what the run recorded): pass the same ones as the
    original command.

    Example: ddbmigrate resume 20260101T000000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    --source-profile a --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    source = _side_from("source", locals())
    dest = _side_from("destination", locals())
    throughput = ThroughputOptions(
        read_percent=read_percent, write_percent=write_percent, max_rcu=max_rcu, max_wcu=max_wcu
    )
    with _observer(progress) as observer:
        result = api.resume(
            run_id=run_id,
            staging=api.StagingOptions(url=staging, bucket_owner=bucket_owner),
            source=source,
            dest=dest,
            throughput=throughput,
            workers=workers,
            threads=threads,
            observer=observer,
            engine=_engine(engine, spark_master, workers),
        )
    if isinstance(result, MigrateReport):
        _print_migration(result, as_json=as_json)
    elif as_json:
        _print_json(result.to_dict())
    elif isinstance(result, ExportResult):
        _print([export_line(result)])
    else:
        _print([import_line(result, None)])


LiveRun = Annotated[str, typer.Argument(help="The live run (see `status`).")]
LiveStaging = Annotated[
    str, typer.Option("--staging", help="The staging URL the run was made with.")
]


@app.command()
def sync(
    run_id: LiveRun,
    *,
    staging: LiveStaging,
    until_caught_up: Annotated[
        bool,
        typer.Option(
            "--until-caught-up", help="Stop once a pass finds nothing new, instead of at Ctrl-C."
        ),
    ] = False,
    write_percent: WritePercent = 0.5,
    max_wcu: MaxWcu = None,
    bucket_owner: BucketOwner = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Keep a live run's destination in step with the source.

    Replays the source's stream from the run's checkpoints and keeps following it until
    Ctrl-C (exit code 130; the same command again resumes, nothing lost or applied out of
    order) or, with --until-caught-up, until a pass finds nothing new. Writes within the
    destination's write budget (--write-percent, --max-wcu). Pass the same profiles, roles
    and endpoints as the migrate command.

    Example: ddbmigrate sync 20260101T000000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    --source-profile a --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    source = _side_from("source", locals())
    dest = _side_from("destination", locals())
    throughput = ThroughputOptions(write_percent=write_percent, max_wcu=max_wcu)
    with _observer(progress) as observer:
        status = api.sync(
            run_id=run_id,
            staging=api.StagingOptions(url=staging, bucket_owner=bucket_owner),
            source=source,
            dest=dest,
            throughput=throughput,
            until_caught_up=until_caught_up,
            observer=observer,
        )
    if as_json:
        _print_json({"run_id": run_id, **status.to_dict()})
    else:
        _print(live_lines(run_id, status))


@app.command()
def cutover(
    run_id: LiveRun,
    *,
    staging: LiveStaging,
    source_stopped: Annotated[
        bool,
        typer.Option(
            "--source-stopped",
            help="You stopped the application's writes to the source table (required).",
        ),
    ] = False,
    read_percent: ReadPercent = 0.5,
    write_percent: WritePercent = 0.5,
    max_rcu: MaxRcu = None,
    max_wcu: MaxWcu = None,
    bucket_owner: BucketOwner = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Finish a live run: catch up, prove it, validate.

    With the application's writes to the source stopped (say so with --source-stopped):
    writes a sentinel item to the source and waits until the replay applied it and its
    removal, drains every shard, then compares both tables item by item and prints MATCH
    with the counts (exit code 3 when they differ). The stream is disabled again when the
    run enabled it, and the run is finished.

    Example: ddbmigrate cutover 20260101T000000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    --source-stopped --source-profile a --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    source = _side_from("source", locals())
    dest = _side_from("destination", locals())
    throughput = ThroughputOptions(
        read_percent=read_percent, write_percent=write_percent, max_rcu=max_rcu, max_wcu=max_wcu
    )
    with _observer(progress) as observer:
        done = api.cutover_run(
            run_id=run_id,
            staging=api.StagingOptions(url=staging, bucket_owner=bucket_owner),
            source=source,
            dest=dest,
            source_stopped=source_stopped,
            throughput=throughput,
            observer=observer,
        )
    if as_json:
        _print_json(done.to_dict())
    _finish_validation(done.validation, as_json=as_json)


@app.command("run")
def run_cmd(
    pipeline_file: Annotated[Path, typer.Argument(help="The pipeline file (YAML).")],
    *,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop the other tables when one fails.")
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local or spark [default: the file's engine key, else local].",
            rich_help_panel="Engine",
            show_default=False,
        ),
    ] = None,
    spark_master: SparkMaster = None,
    log_format: LogFormatOpt = LogFormat.text,
    as_json: JsonOut = False,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Run every table of a pipeline file.

    Sides, tables (names, globs, renames), staging,
    throughput, steps, retries, notifications, log location, HTML report. Tables run side by
    side; one failing does not stop the others unless --fail-fast. Exits 0 only when every
    table finished (and matched).

    Example: ddbmigrate run pipeline.yaml
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    spec = load_pipeline(pipeline_file)
    if fail_fast:
        spec = replace(spec, fail_fast=True)
    if engine is not None or spark_master is not None:
        spec = replace(
            spec,
            engine=replace(
                spec.engine,
                name=engine or spec.engine.name,
                spark_master=spark_master or spec.engine.spark_master,
            ),
        )
    outcomes = _reported(
        lambda observer, notifications: api.run_pipeline(
            spec, observer=observer, notifications=notifications
        ),
        dest=spec.dest,
        reporting=api.reporting_of(spec),
        progress=progress,
        log_format=log_format,
    )
    if as_json:
        _print_json(
            [
                {
                    "source_table": o.job.source_table,
                    "dest_table": o.job.dest_table,
                    "status": o.status,
                    "error": o.error,
                    "report": o.report.to_dict() if o.report else None,
                }
                for o in outcomes
            ]
        )
    else:
        _print([o.line() for o in outcomes])
    failed = [o for o in outcomes if not o.ok]
    if failed:
        message = f"{len(failed)} of {len(outcomes)} tables did not finish cleanly"
        if all(o.status == "mismatch" for o in failed):
            raise ValidationMismatchError(message, report=failed)
        raise FatalError(
            message, hint="`ddbmigrate status --staging URL` shows each run; run again to resume"
        )


@app.command("plan")
def plan_cmd(
    *,
    source_table: Annotated[
        str | None, typer.Option("--source-table", help="Table to plan for.")
    ] = None,
    dest_table: Annotated[
        str | None, typer.Option("--dest-table", help="Destination [default: same name].")
    ] = None,
    pipeline_file: Annotated[
        Path | None,
        typer.Option("--pipeline", help="Plan every table of a pipeline file instead."),
    ] = None,
    segments: Segments = None,
    workers: Workers = None,
    threads: Threads = DEFAULT_THREADS,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Count the validation scans.")
    ] = True,
    read_percent: ReadPercent = 0.5,
    write_percent: WritePercent = 0.5,
    max_rcu: MaxRcu = None,
    max_wcu: MaxWcu = None,
    price_read: Annotated[
        float, typer.Option("--price-read", help="USD per million on-demand read units.")
    ] = Prices().on_demand_read_per_million,
    price_write: Annotated[
        float, typer.Option("--price-write", help="USD per million on-demand write units.")
    ] = Prices().on_demand_write_per_million,
    price_rcu_hour: Annotated[
        float, typer.Option("--price-rcu-hour", help="USD per provisioned RCU-hour.")
    ] = Prices().provisioned_rcu_hour,
    price_wcu_hour: Annotated[
        float, typer.Option("--price-wcu-hour", help="USD per provisioned WCU-hour.")
    ] = Prices().provisioned_wcu_hour,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    debug: Debug = False,
) -> None:
    """Print what a migration would do and take; write nothing.

    Items, bytes, capacity shares, duration,
    request cost — from read-only calls. Nothing is written.

    Example: ddbmigrate plan --source-profile a --source-table customer --dest-profile b
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    prices = Prices(
        on_demand_read_per_million=price_read,
        on_demand_write_per_million=price_write,
        provisioned_rcu_hour=price_rcu_hour,
        provisioned_wcu_hour=price_wcu_hour,
    )
    throughput = ThroughputOptions(
        read_percent=read_percent, write_percent=write_percent, max_rcu=max_rcu, max_wcu=max_wcu
    )
    if pipeline_file is not None:
        spec = load_pipeline(pipeline_file)
        for job in api.expand_pipeline(spec):
            _print(
                api.plan_lines(
                    source=spec.source,
                    dest=spec.dest,
                    options=MigrateOptions(
                        source_table=job.source_table,
                        dest_table=job.dest_table,
                        segments=job.spec.segments,
                        workers=spec.workers,
                        threads=spec.threads,
                    ),
                    throughput=throughput,
                    prices=prices,
                )
            )
        return
    if source_table is None:
        raise ConfigError("plan needs --source-table or --pipeline FILE")
    _print(
        api.plan_lines(
            source=_side_from("source", locals()),
            dest=_side_from("destination", locals()),
            options=MigrateOptions(
                source_table=source_table,
                dest_table=dest_table or source_table,
                segments=segments,
                workers=default_workers() if workers is None else workers,
                threads=threads,
                validate=validate,
            ),
            throughput=throughput,
            prices=prices,
        )
    )


@app.command()
def cleanup(
    run_id: Annotated[str, typer.Argument(help="A finished run (see `status`).")],
    *,
    staging: Annotated[str, typer.Option("--staging", help="The staging URL of the run.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    bucket_owner: BucketOwner = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    debug: Debug = False,
) -> None:
    """Delete a finished run's staging data.

    Its export and its run folder. Asks first
    unless --yes (answering no deletes nothing and exits 5); refuses an unfinished run (a
    resume needs its data).

    Example: ddbmigrate cleanup 20261127T143000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    side = _side_from("destination", locals())
    options = api.StagingOptions(url=staging, bucket_owner=bucket_owner)
    if not yes and not typer.confirm(
        f"delete the export and ledger of run {run_id} under {staging}?", err=True
    ):
        stderr.print(f"not confirmed: nothing of run {run_id} was deleted", markup=False)
        raise typer.Exit(ExitCode.DECLINED)
    removed = api.cleanup(staging=options, side=side, run_id=run_id)
    _print([f"deleted {len(removed)} objects of run {run_id}"])


@app.command("policies")
def policies_cmd(
    *,
    source_table: Annotated[
        list[str], typer.Option("--source-table", help="Source table (repeat for several).")
    ],
    staging: Annotated[str, typer.Option("--staging", help="The s3:// staging URL.")],
    dest_table: Annotated[
        list[str] | None,
        typer.Option("--dest-table", help="Destination names, in the same order [default: same]."),
    ] = None,
    source_account: Annotated[
        str | None, typer.Option("--source-account", help="Source account id [default: STS].")
    ] = None,
    dest_account: Annotated[
        str | None,
        typer.Option("--dest-account", help="Destination account id [default: STS]."),
    ] = None,
    export_method: Annotated[str, typer.Option("--export-method", help="scan or native.")] = "scan",
    import_method: Annotated[
        str, typer.Option("--import-method", help="batch or native.")
    ] = "batch",
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Include the validation reads.")
    ] = True,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Include a live migration's stream, UpdateTable and sentinel writes."
        ),
    ] = False,
    dest_kms_key_id: Annotated[
        str | None, typer.Option("--dest-kms-key-id", help="KMS key of the new table.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the three policies as files here.")
    ] = None,
    bucket_owner: BucketOwner = None,
    sse: Sse = None,
    sse_kms_key_id: SseKms = None,
    source_profile: SrcProfile = None,
    source_role_arn: SrcRole = None,
    source_external_id: SrcExtId = None,
    source_session_name: SrcSession = None,
    source_region: SrcRegion = None,
    source_endpoint_url: SrcEndpoint = None,
    dest_profile: DstProfile = None,
    dest_role_arn: DstRole = None,
    dest_external_id: DstExtId = None,
    dest_session_name: DstSession = None,
    dest_region: DstRegion = None,
    dest_endpoint_url: DstEndpoint = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Print the least-privilege IAM policies a migration needs.

    The source role's policy, the staging bucket's policy (letting the source role write
    into the destination's bucket) and the destination role's policy, with every ARN filled
    in from the tables, accounts, regions and staging URL. --output DIR writes them as files.

    Example: ddbmigrate policies --source-profile a --dest-profile b --source-table customer
    --staging s3://bucket-in-b/migrations/ --source-role-arn arn:aws:iam::111111111111:role/m
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    docs = api.policy_documents(
        source=_side_from("source", locals()),
        dest=_side_from("destination", locals()),
        source_tables=source_table,
        dest_tables=dest_table or None,
        staging=_staging(staging, bucket_owner, "none", sse, sse_kms_key_id),
        source_account=source_account,
        dest_account=dest_account,
        export_method=_choice(export_method, "--export-method", ("scan", "native")),
        import_method=_choice(import_method, "--import-method", ("batch", "native")),
        validate=validate,
        dest_kms_key_id=dest_kms_key_id,
        live=live,
    )
    if output is not None:
        _print([f"wrote {path}" for path in render_files(docs, output)])
    else:
        _print([render_policies(docs, "json" if as_json else "text")])


@app.command()
def demo(
    *,
    items: Annotated[
        int, typer.Option("--items", min=1, max=1_000_000, help="Items in the demo table.")
    ] = 1000,
    workers: Workers = None,
    threads: Threads = DEFAULT_THREADS,
    progress: ProgressOpt = ProgressMode.auto,
    debug: Debug = False,
) -> None:
    """Migrate a demo table between two local AWS accounts; no AWS account needed.

    Starts an embedded two-account AWS (moto server on loopback), fills table 'customer' in
    account 111111111111 with every attribute type, migrate it through a bucket owned by
    account 222222222222 over HTTP, print the validation report, stop. Touches no real AWS.
    """
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    with _observer(progress) as observer:
        report = run_demo(items=items, workers=workers, threads=threads, observer=observer)
    _print_migration(report, as_json=False)


@local_app.command("up")
def local_up(
    *,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1 [default: a free one]."),
    ] = None,
    items: Annotated[
        int,
        typer.Option("--items", min=0, max=1_000_000, help="Items in the source table 'customer'."),
    ] = 1000,
    debug: Debug = False,
) -> None:
    """Run the embedded two-account AWS in the foreground; print how to use it. Ctrl-C stops."""
    del debug  # read by main() before parsing, so even parse errors can show a traceback
    serve_forever(port=port, out=stdout, items=items)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"ddbmigrate {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Move DynamoDB tables between AWS accounts and regions through S3."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; turn every error into one message and one exit code."""
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    with _stop_signals():
        try:
            _invoke(command, args)
        except typer.Exit as exc:
            return int(exc.exit_code)
        except (KeyboardInterrupt, typer.Abort) as exc:
            return _stopped(exc, args)
        except typer.TyperException as exc:  # a usage error: unknown flag, bad value...
            exc.show()  # type: ignore[attr-defined]
            return int(ExitCode.USAGE)
        except Exception as exc:
            if "--debug" in args:
                raise
            return _failed(exc, args)
    return int(ExitCode.OK)


def _failed(exc: Exception, args: list[str]) -> int:
    if not isinstance(exc, DdbMigrateError):
        # A bug or an error nobody foresaw: one line all the same; --debug shows where.
        _error(f"{type(exc).__name__}: {exc} (--debug shows the traceback)", None, args)
        return int(ExitCode.FAILURE)
    if not isinstance(exc, ValidationMismatchError):  # its report is already on stdout
        _error(exc.message, exc.hint, args)
    return int(exit_code_for(exc))


def _stopped(exc: BaseException, args: list[str]) -> int:
    """A signal, or a prompt that got no answer (typer's Abort: stdin closed, or a signal)."""
    signalled = exc if isinstance(exc, KeyboardInterrupt) else exc.__context__
    if isinstance(signalled, KeyboardInterrupt):
        return _interrupted(Interrupted.of(signalled), args)
    _error("no answer to the question (stdin is closed)", "pass --yes", args)
    return int(ExitCode.DECLINED)


def _invoke(command: Any, args: list[str]) -> None:
    """Parse and run, letting every exception out. ``command.main(standalone_mode=False)``
    would not: typer turns KeyboardInterrupt into ``Exit(130)`` and click returns an Exit's
    code as a value, so interrupts and ``typer.Exit(n)`` both ended as exit 0."""
    with command.make_context("ddbmigrate", list(args)) as ctx:
        command.invoke(ctx)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread, once: a repeat while
    the run is stopping is ignored, so it cannot cut the ledger's last writes short."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (an embedding caller)
        return
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        del frame
        if not received:
            received.append(signum)
            INTERRUPT.set(signum)  # engines on other threads (a pipeline's tables) stop too
            if not INTERRUPT.deferring:  # else raised where the section ends
                raise Interrupted(signum)

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        INTERRUPT.clear()


def _interrupted(exc: Interrupted, args: list[str]) -> int:
    if "--debug" in args:
        traceback.print_exception(exc, file=sys.stderr)
    text = "interrupted: run the same command again"
    if exc.run_id:
        text += f" to resume (run {exc.run_id})"
    if _json_logs(args):
        LineObserver(SystemClock()).error(text)
    else:
        print_interrupted(text)
    return int(exit_code_for(exc))


def _error(message: str, hint: str | None, args: list[str]) -> None:
    if _json_logs(args):
        LineObserver(SystemClock()).error(message, hint)
    else:
        print_error(message, hint)


def _json_logs(args: list[str]) -> bool:
    """``--log-format json`` was asked for (read before parsing, like ``--debug``)."""
    return "--log-format=json" in args or any(
        a == "--log-format" and b == "json" for a, b in itertools.pairwise(args)
    )


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
