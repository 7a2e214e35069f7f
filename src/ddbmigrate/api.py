"""The library's entry points: wire AWS (or a local directory) into the core steps.

A façade: every public function lives in ``ddbmigrate.wiring`` (one module per concern)
and is named here, so the CLI and any Python program import one module. This is the only
module the CLI calls.
"""

from __future__ import annotations

from ddbmigrate import settings as settings_opt
from ddbmigrate.capacity import ThroughputOptions, task_shares
from ddbmigrate.config import Side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.exporter import ExportResult
from ddbmigrate.formats.compression import Compression
from ddbmigrate.formats.detect import Format
from ddbmigrate.importer import ImportResult
from ddbmigrate.options import (
    THREADS,
    ExportOptions,
    ImportOptions,
    ValidateOptions,
    from_keywords,
)
from ddbmigrate.pipeline import MigrateOptions, MigrateReport
from ddbmigrate.ports import NullObserver, Observer
from ddbmigrate.report import merge_reports
from ddbmigrate.validator import ValidationReport
from ddbmigrate.wiring import commands, exports, imports
from ddbmigrate.wiring.accounts import (
    DATA_PLANE_ENV,
    DEFAULT_ACL,
    Account,
    StagingOptions,
    data_plane,
    read_object,
    run_store,
)
from ddbmigrate.wiring.commands import (
    copy_schema,
    migrate,
    migrate_plan,
    plan_lines,
    policy_documents,
)
from ddbmigrate.wiring.engines import check_executors, engine_preflight, open_engine
from ddbmigrate.wiring.live import CutoverReport, cutover_run, sync
from ddbmigrate.wiring.records import cleanup, restore_run_boosts, resume, status
from ddbmigrate.wiring.reporting import (
    Reporting,
    notifier,
    observed,
    publish_report,
)
from ddbmigrate.wiring.scope import RESUMER_DECIDES, open_ledger
from ddbmigrate.wiring.tables import (
    expand_pipeline,
    reporting_of,
    run_pipeline,
    table_options,
    table_throughput,
)

__all__ = [  # the functions, and the types they take and return
    "DATA_PLANE_ENV",
    "DEFAULT_ACL",
    "RESUMER_DECIDES",
    "Account",
    "CutoverReport",
    "EngineChoice",
    "ExportOptions",
    "ExportResult",
    "ImportOptions",
    "ImportResult",
    "MigrateOptions",
    "MigrateReport",
    "NullObserver",
    "Observer",
    "Reporting",
    "Side",
    "StagingOptions",
    "ThroughputOptions",
    "ValidateOptions",
    "ValidationReport",
    "check_executors",
    "cleanup",
    "copy_schema",
    "cutover_run",
    "data_plane",
    "engine_preflight",
    "expand_pipeline",
    "export",
    "import_",
    "merge_reports",
    "migrate",
    "migrate_plan",
    "notifier",
    "observed",
    "open_engine",
    "open_ledger",
    "plan_lines",
    "policy_documents",
    "publish_report",
    "read_object",
    "reporting_of",
    "restore_run_boosts",
    "resume",
    "run_pipeline",
    "run_store",
    "status",
    "sync",
    "table_options",
    "table_throughput",
    "task_shares",
    "validate",
]


def export(
    *,
    source: Side,
    staging: StagingOptions,
    options: ExportOptions | None = None,
    table: str | None = None,
    segments: int | None = None,
    workers: int | None = None,
    threads: int = THREADS,
    part_max_items: int = 100_000,
    format: Format = "native-json",
    compression: Compression = "gzip",
    compression_level: int | None = None,
    throughput: ThroughputOptions | None = None,
    run_id: str | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> ExportResult:
    """Export a table to ``staging`` (see ``wiring.exports.export``): ``options``, or its
    fields as keywords (the older spelling, kept)."""
    keywords = {
        "table": table,
        "segments": segments,
        "workers": workers,
        "threads": threads,
        "part_max_items": part_max_items,
        "format": format,
        "compression": compression,
        "compression_level": compression_level,
    }
    return exports.export(
        source=source,
        staging=staging,
        options=from_keywords(ExportOptions, options, keywords),
        throughput=throughput,
        run_id=run_id,
        observer=observer,
        engine=engine,
    )


def import_(
    *,
    dest: Side,
    options: ImportOptions | None = None,
    source_url: str | None = None,
    table: str | None = None,
    export_id: str | None = None,
    format: str | None = None,
    into_existing: bool = False,
    bucket_owner: str | None = None,
    workers: int | None = None,
    threads: int = THREADS,
    max_rejects: int = 0,
    throughput: ThroughputOptions | None = None,
    run_id: str | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
    allow_unverified_capacity: bool = False,
    settings: frozenset[str] = settings_opt.ALL,
    strict_settings: bool = False,
) -> ImportResult:
    """Import a SOURCE into a table (see ``wiring.imports.import_``): ``options``, or its
    fields as keywords (the older spelling, kept)."""
    keywords = {
        "source_url": source_url,
        "table": table,
        "export_id": export_id,
        "format": format,
        "into_existing": into_existing,
        "bucket_owner": bucket_owner,
        "workers": workers,
        "threads": threads,
        "max_rejects": max_rejects,
        "allow_unverified_capacity": allow_unverified_capacity,
        "settings": settings,
        "strict_settings": strict_settings,
    }
    return imports.import_(
        dest=dest,
        options=from_keywords(ImportOptions, options, keywords),
        throughput=throughput,
        run_id=run_id,
        observer=observer,
        engine=engine,
    )


def validate(
    *,
    source: Side,
    dest: Side,
    options: ValidateOptions | None = None,
    source_table: str | None = None,
    dest_table: str | None = None,
    segments: int | None = None,
    workers: int | None = None,
    threads: int = THREADS,
    consistent_read: bool = False,
    throughput: ThroughputOptions | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> ValidationReport:
    """Compare two tables (see ``wiring.commands.validate``): ``options``, or its fields as
    keywords (the older spelling, kept)."""
    keywords = {
        "source_table": source_table,
        "dest_table": dest_table,
        "segments": segments,
        "workers": workers,
        "threads": threads,
        "consistent_read": consistent_read,
    }
    return commands.validate(
        source=source,
        dest=dest,
        options=from_keywords(ValidateOptions, options, keywords),
        throughput=throughput,
        observer=observer,
        engine=engine,
    )
