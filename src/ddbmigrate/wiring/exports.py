"""``export``: one table into a staging store, as a recorded, resumable run."""

from __future__ import annotations

from ddbmigrate.capacity import ThroughputOptions, make_budgets, task_shares
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.exporter import ExportOptions as ScanOptions
from ddbmigrate.exporter import ExportResult
from ddbmigrate.formats.compression import check_level
from ddbmigrate.options import ExportOptions
from ddbmigrate.plans import ExportPlan, SidePlan
from ddbmigrate.ports import NullObserver, Observer, TableSchema
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.export import export_step
from ddbmigrate.steps.preflight import default_segments, read_source, run_checks
from ddbmigrate.wiring.accounts import (
    Account,
    StagingOptions,
    foreign,
    owner_for,
    store_checks,
    with_acl,
)
from ddbmigrate.wiring.engines import EngineRequest
from ddbmigrate.wiring.scope import RunScope, run_scope


def export(
    *,
    source: Side,
    staging: StagingOptions,
    options: ExportOptions,
    throughput: ThroughputOptions | None = None,
    run_id: str | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> ExportResult:
    """Export a table to ``staging``: the native export layout (DYNAMODB_JSON or ION), or
    a Data Pipeline backup. A stopped export continues when called again the same way.

    ``options.workers`` and ``threads`` size the local engine; ``engine`` may choose Spark."""
    observer = observer or NullObserver()
    request = EngineRequest.checked(
        engine, workers=options.workers, threads=options.threads, locations=[staging.url]
    )
    check_level(options.compression, options.compression_level)
    src = Account(source, "source")
    schema = read_source(src.admin, options.table, src.label)
    owner = owner_for(staging, src)  # the caller's own bucket unless --bucket-owner says
    store = src.store(with_acl(staging, owner, asker=foreign(staging, src)), owner=owner)
    run_checks(store_checks(store, role="source", write=True), observer)
    clock = SystemClock()
    plan = export_plan(source, staging, options)
    with run_scope(
        request,
        store=store,
        plan=plan,
        run_id=run_id,
        sides=[src],
        observer=observer,
        clock=clock,
    ) as scope:
        ctx = _export_context(
            scope,
            schema,
            plan=plan,
            throughput=throughput or ThroughputOptions(),
            clock=clock,
            observer=observer,
        )
        result = export_step(
            ctx,
            reader=src.reader(options.table),
            schema=schema,
            store=store,
            options=_scan_options(options, segments=int(scope.ledger.run["segments"]), scope=scope),
        )
        scope.ledger.finish()
        return result


def export_plan(source: Side, staging: StagingOptions, options: ExportOptions) -> ExportPlan:
    """The options that make two export commands the same run."""
    return ExportPlan(
        source=SidePlan.of(source),
        table=options.table,
        staging=staging.url,
        segments=options.segments,
        part_max_items=options.part_max_items,
        format=options.format,
        compression=options.compression,
    )


def _scan_options(options: ExportOptions, *, segments: int, scope: RunScope) -> ScanOptions:
    return ScanOptions(
        segments=segments,
        workers=scope.workers,
        part_max_items=options.part_max_items,
        format=options.format,
        compression=options.compression,
        compression_level=options.compression_level,
    )


def _export_context(
    scope: RunScope,
    schema: TableSchema,
    *,
    plan: ExportPlan,
    throughput: ThroughputOptions,
    clock: SystemClock,
    observer: Observer,
) -> RunContext:
    """The export's segments chosen (as recorded, asked, or one per GiB) and its read budget."""
    ledger = scope.ledger
    size = int(schema.description.get("TableSizeBytes", 0))
    parallel = scope.workers * scope.threads
    chosen = int(ledger.run.get("segments") or plan.segments or default_segments(size, parallel))
    ledger.set(segments=chosen)
    observer.message(f"run {ledger.run_id} ({ledger.url})")
    budgets = make_budgets(schema, None, throughput, clock)
    shares = task_shares(scope.engine, {"source reads": budgets.source_read})
    for note in [*budgets.notes[:1], *shares]:
        observer.message(note)
    return RunContext(
        clock=clock, observer=observer, engine=scope.engine, budgets=budgets, ledger=ledger
    )
