"""``import``: what a SOURCE holds into a table, as a recorded, resumable run."""

from __future__ import annotations

from ddbmigrate.capacity import ThroughputOptions, make_budgets, task_shares
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.errors import NotFoundError
from ddbmigrate.formats.detect import SourcePlan, detect
from ddbmigrate.formats.tablefile import TABLE_FILE
from ddbmigrate.importer import ImportOptions as WriteOptions
from ddbmigrate.importer import ImportResult, ensure_empty
from ddbmigrate.model import KeySchema
from ddbmigrate.options import ImportOptions
from ddbmigrate.pins import pin_source
from ddbmigrate.plans import ImportPlan, SidePlan
from ddbmigrate.ports import NullObserver, Observer, Store, TableSchema
from ddbmigrate.schema import TableTarget, check_capacity
from ddbmigrate.settings import SettingsLog
from ddbmigrate.steps.bulk import boost_around, bulk_import_step
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.import_ import import_step
from ddbmigrate.steps.schema import TABLE_PIN, ensure_table
from ddbmigrate.wiring.accounts import Account, StagingOptions, source_store
from ddbmigrate.wiring.bulk import boost_request, bulk_plan, bulk_step, check_bulk_location
from ddbmigrate.wiring.engines import EngineRequest
from ddbmigrate.wiring.scope import RunScope, run_scope


def import_(
    *,
    dest: Side,
    options: ImportOptions,
    throughput: ThroughputOptions | None = None,
    run_id: str | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> ImportResult:
    """Import what ``options.source_url`` holds (a native export, the prefix above exports,
    a Data Pipeline backup of either generation, or one data file) into ``options.table``.

    A missing table is created from the schema a ddbmigrate export carries (printed first;
    provisioned capacity above 12,000 RCU / 4,000 WCU from a table file no checksum covers
    needs ``allow_unverified_capacity``). Rejects are recorded under
    ``ddbmigrate/runs/<run-id>/`` beside the source. ``workers`` and ``threads`` size the
    local engine; ``engine`` may choose Spark.
    """
    observer = observer or NullObserver()
    if options.import_method == "bulk":
        check_bulk_location(options.source_url)
    request = EngineRequest.checked(
        engine, workers=options.workers, threads=options.threads, locations=[options.source_url]
    )
    dst = Account(dest, "destination")
    store, plan = _resolved_source(dst, options, observer)
    run_plan = import_plan(dest, options, found=plan)
    clock = SystemClock()
    with run_scope(
        request,
        store=store,
        plan=run_plan,
        run_id=run_id,
        sides=[dst],
        observer=observer,
        clock=clock,
    ) as scope:
        described = _ready_destination(
            scope.ledger, dst=dst, store=store, plan=plan, options=options, observer=observer
        )
        boost = boost_request(
            scope.ledger, dst, side="dest", table=options.table, units=options.boost
        )
        with boost_around(boost, observer):
            if boost is not None:  # the write budget follows the raised capacity
                described = dst.admin.read_schema(options.table) or described
            ctx = _import_context(
                scope,
                described,
                throughput=throughput or ThroughputOptions(),
                clock=clock,
                observer=observer,
                max_rejects=options.max_rejects,
            )
            result = _write(ctx, dst, store=store, plan=plan, options=options, described=described)
        scope.ledger.finish()
        return result


def _write(
    ctx: RunContext,
    dst: Account,
    *,
    store: Store,
    plan: SourcePlan,
    options: ImportOptions,
    described: TableSchema,
) -> ImportResult:
    """BatchWriteItem within the budget, or one StartBulkPutItems operation."""
    if options.import_method == "bulk":
        staging = StagingOptions(url=options.source_url)
        step = bulk_step(dst, options.bulk, owner=options.bucket_owner, staging=staging)
        target = step.target(plan, store, options.table, described.description)
        return bulk_import_step(ctx, step, target)
    return import_step(
        ctx,
        store=store,
        plan=plan,
        writer=dst.writer(options.table),
        key=KeySchema.from_description(described.description),
        options=WriteOptions(workers=ctx.engine.workers),
    )


def import_plan(dest: Side, options: ImportOptions, *, found: SourcePlan) -> ImportPlan:
    """What makes two import commands the same run (with the format SOURCE was found in)."""
    return ImportPlan(
        dest=SidePlan.of(dest),
        source=options.source_url,
        table=options.table,
        export_id=options.export_id,
        format=found.format,
        bulk=bulk_plan(options.import_method, options.bulk),
    )


def _resolved_source(
    dst: Account, options: ImportOptions, observer: Observer
) -> tuple[Store, SourcePlan]:
    """The store SOURCE lives in, and what it was found to hold (said to ``observer``)."""
    store, single = source_store(dst, options.source_url, options.bucket_owner)
    plan = detect(store, export_id=options.export_id, format=options.format, single_file=single)
    _describe_source(plan, store, observer)
    return store, plan


def _describe_source(plan: SourcePlan, store: Store, observer: Observer) -> None:
    """What SOURCE was found to be, what was left out, and a table file taken unchecked."""
    observer.message(f"detected {plan.describe(store.root)}")
    for name in plan.stray:
        observer.message(f"ignored, not in the backup's manifest: {name}")
    if plan.schema is not None and not plan.schema_checked:
        observer.message(
            f"warning: {TABLE_FILE} is not covered by the export's checksums (an export by an "
            "older ddbmigrate): its table description is used unchecked"
        )


def _import_context(
    scope: RunScope,
    described: TableSchema,
    *,
    throughput: ThroughputOptions,
    clock: SystemClock,
    observer: Observer,
    max_rejects: int,
) -> RunContext:
    """The import's write budget (announced with each Spark task's share)."""
    budgets = make_budgets(described, described, throughput, clock)
    observer.message(budgets.notes[1])
    for note in task_shares(scope.engine, {"dest writes": budgets.dest_write}):
        observer.message(note)
    ledger = scope.ledger
    observer.message(f"run {ledger.run_id} ({ledger.url})")
    return RunContext(
        clock=clock,
        observer=observer,
        engine=scope.engine,
        budgets=budgets,
        ledger=ledger,
        max_rejects=max_rejects,
    )


def _ready_destination(
    ledger: Ledger,
    *,
    dst: Account,
    store: Store,
    plan: SourcePlan,
    options: ImportOptions,
    observer: Observer,
) -> TableSchema:
    """The table made ready (created, or checked empty). The source it resolved and the
    table it creates are pinned in the ledger before CreateTable, so a resume refuses a
    changed source and finishes the table."""
    table = options.table
    existing = dst.admin.read_schema(table)
    # A stopped import of the same source into the same table: its items may be there.
    if existing is not None and not ledger.started:
        ensure_empty(dst.reader(table), into_existing=options.into_existing, flag="--into-existing")
    if plan.schema is not None and existing is None and not ledger.run.get(TABLE_PIN):
        check_capacity(
            TableTarget.of(plan.schema, table_name=table),
            checked=plan.schema_checked,
            allowed=options.allow_unverified_capacity,
            table_file=f"{store.root.rstrip('/')}/{plan.folder}/{TABLE_FILE}",
        )
    pin_source(ledger, store, plan, observer)
    return _ready_table(
        dst,
        plan=plan,
        table=table,
        existing=existing,
        ledger=ledger,
        observer=observer,
        settings=options.settings,
        log=SettingsLog(observer, strict=options.strict_settings),
    )


def _ready_table(
    dst: Account,
    *,
    plan: SourcePlan,
    table: str,
    existing: TableSchema | None,
    ledger: Ledger,
    observer: Observer,
    settings: frozenset[str],
    log: SettingsLog,
) -> TableSchema:
    """The destination, created from the export's table description when it is absent, with
    the optional ``settings`` (best effort, or strict as ``log`` says)."""
    if plan.schema is not None:
        observer.message(
            ensure_table(
                dst.admin,
                source=plan.schema,
                existing=existing,
                table_name=table,
                observer=observer,
                ledger=ledger,
                settings=settings,
                log=log,
            )
        )
    elif existing is None:
        raise NotFoundError(
            f"destination table {table!r} does not exist and {plan.kind} carries no table "
            "description to create it from",
            hint="create the table first (ddbmigrate schema, or the AWS console) and run again",
        )
    described = existing or plan.schema
    assert described is not None  # one of the branches above made sure
    return described
