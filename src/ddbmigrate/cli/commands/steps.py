"""The steps of a migration as commands of their own: schema, export, import, validate."""

from __future__ import annotations

from typing import Annotated

import typer

from ddbmigrate import api
from ddbmigrate.cli.common import (
    RunRef,
    bulk_settings,
    choice,
    finish_validation,
    observing,
    print_json,
    print_lines,
    staging_options,
)
from ddbmigrate.cli.options import (
    BULK,
    CONFIG,
    DEBUG,
    DEST,
    ENGINE,
    JSON,
    LOGS,
    OWNER,
    PROGRESS,
    READ,
    SOURCE,
    STAGING_WRITES,
    WRITE,
    BoostOpt,
    MaxRejects,
    ProgressMode,
    Segments,
    SettingsChoice,
    StrictSettings,
)
from ddbmigrate.cli.optionset import Given, uses
from ddbmigrate.cli.output import export_line, import_line, stdout
from ddbmigrate.cli.resolve import resolve
from ddbmigrate.settings import parse_settings

OUTPUT_FORMATS = ("native-json", "native-ion", "datapipeline")
COMPRESSIONS = ("gzip", "zstd", "none")


@uses(SOURCE, DEST, CONFIG, DEBUG)
def schema(
    *,
    source_table: Annotated[
        str, typer.Option("--source-table", help="Table whose schema to copy.")
    ],
    dest_table: Annotated[
        str | None, typer.Option("--dest-table", help="Table to create.", show_default="same name")
    ] = None,
    dest_kms_key_id: Annotated[
        str | None,
        typer.Option("--dest-kms-key-id", help="KMS key for the new table's encryption."),
    ] = None,
    settings_choice: SettingsChoice = "all",
    strict_settings: StrictSettings = False,
    given: Given,
) -> None:
    """Create the destination table like the source.

    Keys, indexes, capacity, SSE, TTL, streams,
    tags, PITR, table class, deletion protection (the optional settings best effort, as in
    migrate). An existing table with the same key is left as it is (differences are listed);
    one with another key is refused.

    Example: ddbmigrate schema --source-profile a --source-table customer --dest-profile b
    """
    run = resolve(given)
    with observing(ProgressMode.off, table=source_table) as observer:
        action = api.copy_schema(
            source=run.source,
            dest=run.dest,
            source_table=source_table,
            dest_table=dest_table or source_table,
            dest_kms_key_id=dest_kms_key_id,
            observer=observer,
            settings=parse_settings(settings_choice),
            strict_settings=strict_settings,
        )
    stdout.print(action, markup=False)


@uses(SOURCE, CONFIG, STAGING_WRITES, READ, ENGINE, JSON, PROGRESS, LOGS, DEBUG)
def export(
    *,
    table: Annotated[str, typer.Option("--table", "--source-table", help="Table to export.")],
    staging: Annotated[
        str, typer.Option("--staging", help="s3://bucket/prefix/, or ./dir, /abs/dir, file:///dir.")
    ],
    segments: Segments = None,
    out_format: Annotated[
        str,
        typer.Option(
            "--format", help="native-json, native-ion (native export layout) or datapipeline."
        ),
    ] = "native-json",
    compression: Annotated[
        str, typer.Option("--compression", help="Data file compression: gzip, zstd or none.")
    ] = "gzip",
    compression_level: Annotated[
        int | None,
        typer.Option(
            "--compression-level",
            help="Compressor level: gzip 1-9, zstd 1-22.",
            show_default="gzip 1, zstd 3: measured fastest for keeping up with DynamoDB",
        ),
    ] = None,
    given: Given,
) -> None:
    """Export a table to staging (native layout or Data Pipeline).

    STAGING/AWSDynamoDB/<export-id>/ in DynamoDB's native export layout
    (DYNAMODB_JSON or ION parts, manifests with item counts and MD5s, plus the table's
    schema), or as a Data Pipeline backup (--format datapipeline). A stopped export continues
    when the same command runs again.

    Example: ddbmigrate export --source-profile a --table customer --staging s3://bucket/exports/
    """
    run = resolve(given)
    with observing(given["progress"], given["log_format"], table=table) as observer:
        result = api.export(
            source=run.source,
            table=table,
            staging=staging_options(staging, given),
            segments=segments,
            workers=run.workers,
            threads=run.threads,
            format=choice(out_format, "--format", OUTPUT_FORMATS),  # type: ignore[arg-type]
            compression=choice(compression, "--compression", COMPRESSIONS),  # type: ignore[arg-type]
            compression_level=compression_level,
            throughput=run.throughput,
            observer=observer,
            engine=run.engine,
        )
    if given["as_json"]:
        print_json(RunRef.of(observer, staging).json(result.to_dict()))
    else:
        print_lines([export_line(result)])


@uses(DEST, CONFIG, OWNER, WRITE, BULK, ENGINE, JSON, PROGRESS, LOGS, DEBUG)
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
            "--export-id",
            help="Which export under SOURCE.",
            show_default="the newest complete one",
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
    settings_choice: SettingsChoice = "all",
    strict_settings: StrictSettings = False,
    import_method: Annotated[
        str,
        typer.Option(
            "--import-method",
            help="batch: BatchWriteItem within --write-percent; bulk: AWS's StartBulkPutItems "
            "(a native export in S3; --bulk-max-wru, --bulk-tier).",
        ),
    ] = "batch",
    boost: BoostOpt = None,
    given: Given,
) -> None:
    """Import an export or backup of any kind into a table.

    BatchWriteItem; unprocessed items are retried, never
    dropped. Checks every file's MD5 and item count against the manifests. A missing table
    is created from the export's ddbmigrate-table.json (checked against its MD5 in the
    manifest, printed before it is created; its optional settings best effort, as in
    migrate). A re-run after a stop resumes only the export
    the first run resolved, unchanged.

    Example: ddbmigrate import s3://bucket/exports/ --table customer --dest-profile b
    """
    run = resolve(given)
    with observing(given["progress"], given["log_format"], table=table) as observer:
        result = api.import_(
            dest=run.dest,
            options=api.ImportOptions(
                source_url=source,
                table=table,
                export_id=export_id,
                format=source_format,
                into_existing=into_existing,
                bucket_owner=given["bucket_owner"],
                workers=run.workers,
                threads=run.threads,
                max_rejects=max_rejects,
                allow_unverified_capacity=allow_unverified_capacity,
                settings=parse_settings(settings_choice),
                strict_settings=strict_settings,
                import_method=choice(import_method, "--import-method", ("batch", "bulk")),
                bulk=bulk_settings(given),
                boost=boost,
            ),
            throughput=run.throughput,
            observer=observer,
            engine=run.engine,
        )
    if given["as_json"]:  # an import's run is recorded under its SOURCE
        print_json(RunRef.of(observer, source).json(result.to_dict()))
    else:
        print_lines([import_line(result, table)])


@uses(SOURCE, DEST, CONFIG, READ, ENGINE, JSON, PROGRESS, LOGS, DEBUG)
def validate_cmd(
    *,
    source_table: Annotated[str, typer.Option("--source-table", help="Table to compare from.")],
    dest_table: Annotated[
        str | None,
        typer.Option("--dest-table", help="Table to compare with.", show_default="same name"),
    ] = None,
    consistent: Annotated[
        bool, typer.Option("--consistent", help="Strongly consistent scans (twice the RCU).")
    ] = False,
    segments: Annotated[
        int, typer.Option("--segments", min=1, help="Parallel Scan segments per table.")
    ] = 4,
    given: Given,
) -> None:
    """Prove two tables hold the same items, or name those that differ.

    Item by item through order-free digests; lists missing, extra and changed
    keys. Exits 0 only when they match, 3 when they differ.

    Example: ddbmigrate validate --source-profile a --source-table customer --dest-profile b
    """
    run = resolve(given)
    with observing(given["progress"], given["log_format"], table=source_table) as observer:
        report = api.validate(
            source=run.source,
            dest=run.dest,
            source_table=source_table,
            dest_table=dest_table or source_table,
            segments=segments,
            workers=run.workers,
            threads=run.threads,
            consistent_read=consistent,
            throughput=run.throughput,
            observer=observer,
            engine=run.engine,
        )
    if given["as_json"]:  # a validation records no run and needs no staging
        print_json(RunRef(None).json(report.to_dict()))
    finish_validation(report, as_json=given["as_json"])
