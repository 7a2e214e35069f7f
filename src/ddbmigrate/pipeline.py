"""migrate = preflight -> schema -> export -> import -> validate: the steps of
``ddbmigrate.steps`` composed over one run.

Core only: everything AWS-specific arrives as ports (``SideHandles``), named preflight
checks and managed paths, wired by ``ddbmigrate.api``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ddbmigrate import schema as schemas
from ddbmigrate import settings as opt
from ddbmigrate.capacity import (
    Budgets,
    CapacityWatcher,
    ThroughputOptions,
    make_budgets,
    task_shares,
    watch_migration,
)
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.engines.base import DEFAULT_THREADS, Engine, ThreadEngine
from ddbmigrate.errors import ConfigError
from ddbmigrate.exporter import ExportOptions, ExportResult
from ddbmigrate.formats.detect import SourcePlan, detect
from ddbmigrate.importer import ImportOptions, ImportResult, ensure_empty
from ddbmigrate.live import ReplayStatus
from ddbmigrate.model import KeySchema
from ddbmigrate.options import BulkSettings
from ddbmigrate.plans import check_methods
from ddbmigrate.ports import (
    Clock,
    NullObserver,
    Observer,
    Store,
    TableAdmin,
    TableReader,
    TableSchema,
    TableWriter,
)
from ddbmigrate.steps.bulk import BoostRequest, BulkStep, boost_around, bulk_import_step
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.export import ManagedExport, export_step, managed_export_step
from ddbmigrate.steps.import_ import ManagedImport, import_step, managed_import_step
from ddbmigrate.steps.live import LiveSource, follow, replay_of, stream_start_step
from ddbmigrate.steps.preflight import (
    GIB,
    MAX_SEGMENTS,
    Check,
    Plan,
    default_segments,
    probe_scan,
    read_source,
    run_checks,
)
from ddbmigrate.steps.schema import (
    TABLE_PIN,
    ensure_table,
    finish_table,
    schema_step,
    source_settings,
)
from ddbmigrate.steps.validate import validate_step
from ddbmigrate.validator import ValidateOptions, ValidationReport

__all__ = [  # the names other modules and tests import from here
    "GIB",
    "MAX_SEGMENTS",
    "TABLE_PIN",
    "Budgets",
    "Check",
    "ManagedPaths",
    "MigrateOptions",
    "MigrateReport",
    "Plan",
    "SideHandles",
    "default_segments",
    "ensure_table",
    "finish_table",
    "migrate",
    "preflight",
    "read_source",
    "run_checks",
]


@dataclass(frozen=True, slots=True)
class SideHandles:
    """What the core needs from one account/region."""

    admin: TableAdmin
    reader: Callable[[str], TableReader]
    """Table name -> data-plane reader."""
    writer: Callable[[str], TableWriter]
    """Table name -> data-plane writer."""
    label: str
    """For messages, e.g. ``source (role arn:aws:iam::111111111111:role/x, us-east-1)``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MigrateOptions:
    """One table's migration."""

    source_table: str
    dest_table: str
    segments: int | None = None
    """Parallel Scan segments; None picks one per GiB of table, at least one per thread."""
    workers: int = 1
    """Worker processes (``ddbmigrate.engines.local``); the engine is made by the caller."""
    threads: int = DEFAULT_THREADS
    """Units (segments, files) each worker runs at once."""
    into_existing: bool = False
    validate: bool = True
    max_rejects: int = 0
    """Items DynamoDB may refuse (recorded in the run's rejects file) before the run stops."""
    export_method: str = "scan"  # plans.ExportMethod, checked here
    """scan (parallel Scan within the read budget) or native (ExportTableToPointInTime)."""
    import_method: str = "batch"  # plans.ImportMethod, checked here
    """batch (BatchWriteItem within the write budget) or native (ImportTable, new table)."""
    timeouts: Mapping[str, float] = field(default_factory=dict)
    """Seconds per step (export, import, validate); a step past it stops with
    StepTimeoutError, which a step retry resumes."""
    part_max_items: int = 100_000
    dest_kms_key_id: str | None = None
    table_wait_timeout: float = 1800.0
    """Seconds to wait for a new destination table (and its GSIs) to become ACTIVE."""
    consistent_validate: bool = False
    settings: frozenset[str] = opt.ALL
    """Optional table settings to copy (``--settings``); keys, indexes and billing always."""
    strict_settings: bool = False
    """An optional setting that cannot be read or copied stops the run."""
    bulk: BulkSettings | None = None
    """``--bulk-max-wru`` / ``--bulk-tier`` with ``import_method="bulk"``."""
    boost: int | None = None
    """``--boost``: the destination's write capacity for the import, restored after."""
    boost_source: int | None = None
    """``--boost-source``: the source's read capacity for the export, restored after."""
    live: bool = False
    """Live migration: the source's stream is enabled before the export and replayed after
    the import until caught up; validation waits for the cutover (``steps.live``)."""

    def __post_init__(self) -> None:
        # Checked here, once, so a wrong method fails before any AWS call.
        check_methods(self.export_method, self.import_method)


@dataclass(frozen=True, slots=True)
class MigrateReport:
    """Everything a migration did."""

    plan: Plan
    schema_action: str
    export: ExportResult
    imported: ImportResult
    validation: ValidationReport | None
    settings: tuple[opt.SettingOutcome, ...] = ()
    """Each optional setting of the source: copied, or not and why."""
    live: ReplayStatus | None = None
    """A live run: where its replay stood when the command ended (the run stays open for
    ``sync`` and ``cutover``)."""
    run_id: str = ""
    """The run (a live run's next commands name it)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "source_table": self.plan.source_table,
            "dest_table": self.plan.dest_table,
            "schema": self.schema_action,
            "export": self.export.to_dict(),
            "import": self.imported.to_dict(),
            "validation": self.validation.to_dict() if self.validation else None,
            "settings": [o.to_dict() for o in self.settings],
            **({"live": {"run_id": self.run_id, **self.live.to_dict()}} if self.live else {}),
        }


@dataclass(frozen=True, slots=True)
class ManagedPaths:
    """AWS's managed export and import, opt-in (wired by ``ddbmigrate.api``)."""

    export: ManagedExport | None = None
    """ExportTableToPointInTime; returns the export folder relative to the staging root."""
    check_import: Callable[[TableSchema], list[str]] | None = None
    """Refuses what ImportTable cannot do (LSIs); returns what is applied after it."""
    import_: ManagedImport | None = None
    """ImportTable into a new table, then the settings it cannot set; returns items imported."""
    bulk: BulkStep | None = None
    """StartBulkPutItems into the existing (or just created) table (``--import-method bulk``)."""
    boost_dest: BoostRequest | None = None
    """``--boost``: the destination's write capacity raised around the import."""
    boost_source: BoostRequest | None = None
    """``--boost-source``: the source's read capacity raised around the scan export."""


def _recorded_settings(options: MigrateOptions, ledger: Ledger) -> MigrateOptions:
    """The settings choice the run recorded when it went past the source's settings: a
    resume finishes the same table. Strictness is this command's own: a run stopped by
    ``--strict-settings`` at a setting the destination cannot set goes on without the flag."""
    recorded = ledger.run.get("settings")
    if recorded is None:
        return options
    return replace(options, settings=opt.parse_settings(str(recorded)))


def _check_managed_import(
    managed: ManagedPaths,
    *,
    src: TableSchema,
    dst: TableSchema | None,
    options: MigrateOptions,
    resuming: bool,
    observer: Observer,
) -> None:
    """ImportTable creates a new table only, without LSIs: refuse before anything moves."""
    if managed.check_import is None:
        return
    if dst is not None and not resuming:
        raise ConfigError(
            f"--import-method native creates the destination table, and "
            f"{options.dest_table!r} exists already",
            hint="delete it, pass another --dest-table, or use the default --import-method batch",
        )
    applied = managed.check_import(src)
    if applied:
        observer.message(f"ImportTable cannot set these; applied after it: {', '.join(applied)}")


def preflight(
    *,
    source: SideHandles,
    dest: SideHandles,
    checks: list[Check],
    options: MigrateOptions,
    observer: Observer,
) -> tuple[TableSchema, TableSchema | None, Plan]:
    """Check everything before any data moves; return the schemas and the plan."""
    if options.segments is not None and not 1 <= options.segments <= MAX_SEGMENTS:
        raise ConfigError(f"--segments {options.segments} is outside 1..{MAX_SEGMENTS}")
    src = read_source(source.admin, options.source_table, source.label)
    dst = dest.admin.read_schema(options.dest_table)
    if dst is not None:
        schemas.check_compatible(source=src, dest=dst, dest_flag="--dest-table")
        ensure_empty(
            dest.reader(options.dest_table),
            into_existing=options.into_existing,
            flag="--into-existing",
        )
    reader = source.reader(options.source_table)
    probes: list[Check] = [
        (f"source table {options.source_table!r} readable (Scan)", lambda: probe_scan(reader))
    ]
    run_checks([*probes, *checks], observer)
    plan = Plan.of(
        src,
        source_table=options.source_table,
        dest_table=options.dest_table,
        segments=options.segments,
        parallel=options.workers * options.threads,
        dest_exists=dst is not None,
    )
    return src, dst, plan


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What preflight settled: the schemas, the plan, the options the run keeps to."""

    src: TableSchema
    dst: TableSchema | None
    plan: Plan
    options: MigrateOptions
    log: opt.SettingsLog


def migrate(
    *,
    source: SideHandles,
    dest: SideHandles,
    export_store: Store,
    import_store: Store,
    checks: list[Check],
    options: MigrateOptions,
    clock: Clock,
    ledger: Ledger,
    throughput: ThroughputOptions | None = None,
    managed: ManagedPaths | None = None,
    observer: Observer | None = None,
    engine: Engine | None = None,
    live: LiveSource | None = None,
) -> MigrateReport:
    """Move one table: every step in order; the first fatal error stops the run.

    Export, import and validation run their units on ``engine`` (default: threads of this
    process, ``workers * threads`` of them), each within the budgets ``throughput`` gives
    (None: no limit); the budgets follow the tables' capacity while the run lasts.

    Steps the ledger records as done are skipped, so a re-run continues where the last one
    stopped; export and import resume inside the step (segments, files).

    With ``options.live`` (and ``live``, the source's stream), the stream's start point comes
    before the export and the replay catches up after the import; the run stays unfinished.
    """
    if options.live and live is None:  # pragma: no cover - a wiring mistake, not a user's
        raise RuntimeError("a live migration needs the source's stream")
    observer = observer or NullObserver()
    managed = managed or ManagedPaths()
    engine = engine or ThreadEngine(options.workers * options.threads)
    ready = _prepare(
        source,
        dest,
        checks=checks,
        options=options,
        ledger=ledger,
        managed=managed,
        observer=observer,
    )
    limits, watchers = _budgets(source, dest, ready, throughput, clock)
    managed = _budgets_follow_boosts(managed, watchers)
    ctx = _context(ready, limits, clock=clock, observer=observer, engine=engine, ledger=ledger)
    try:
        _announce(observer, limits, engine)
        # Preflight and schema say only that they finished (a mistake found there stays one
        # error line); the report's recorder times them from where the step before ended.
        observer.step_finished("preflight", summary=f"{len(checks):,} checks passed")
        stores = (export_store, import_store)
        return _run_steps(ctx, source, dest, ready, managed=managed, stores=stores, live=live)
    finally:
        for watcher in watchers:
            watcher.stop()


def _prepare(
    source: SideHandles,
    dest: SideHandles,
    *,
    checks: list[Check],
    options: MigrateOptions,
    ledger: Ledger,
    managed: ManagedPaths,
    observer: Observer,
) -> _Prepared:
    """Preflight, then the choices a resume keeps (segments, settings) recorded."""
    resuming_import = ledger.step_state("import") != "pending"
    src, dst, plan = preflight(
        source=source,
        dest=dest,
        checks=checks,
        options=replace(options, into_existing=options.into_existing or resuming_import),
        observer=observer,
    )
    _check_managed_import(
        managed, src=src, dst=dst, options=options, resuming=resuming_import, observer=observer
    )
    plan = replace(plan, segments=int(ledger.run.get("segments") or plan.segments))
    options = _recorded_settings(options, ledger)
    log = source_settings(src, options.settings, strict=options.strict_settings, observer=observer)
    # Recorded once the source's settings passed (a strict stop there records nothing,
    # so the same run may go on with another --settings).
    ledger.set(
        settings=opt.settings_text(options.settings), strict_settings=options.strict_settings
    )
    ledger.set(segments=plan.segments)
    ledger.step("preflight", "done")
    observer.message(f"run {ledger.run_id} ({ledger.url})")
    for line in plan.lines():
        observer.message(line)
    return _Prepared(src, dst, plan, options, log)


def _budgets(
    source: SideHandles,
    dest: SideHandles,
    ready: _Prepared,
    throughput: ThroughputOptions | None,
    clock: Clock,
) -> tuple[Budgets, list[CapacityWatcher]]:
    """The run's budgets, and the watchers that move them with the tables' capacity."""
    if throughput is None:
        return Budgets.unlimited(), []
    made = make_budgets(ready.src, ready.dst, throughput, clock)
    options = ready.options
    watchers = watch_migration(
        made,
        source=lambda: source.admin.read_schema(options.source_table),
        dest=lambda: dest.admin.read_schema(options.dest_table),
        options=throughput,
    )
    return made, watchers


def _context(
    ready: _Prepared,
    limits: Budgets,
    *,
    clock: Clock,
    observer: Observer,
    engine: Engine,
    ledger: Ledger,
) -> RunContext:
    """The steps' shared context, with the rejects and timeouts the run keeps to."""
    return RunContext(
        clock=clock,
        observer=observer,
        engine=engine,
        budgets=limits,
        ledger=ledger,
        max_rejects=ready.options.max_rejects,
        timeouts=ready.options.timeouts,
    )


def _budgets_follow_boosts(managed: ManagedPaths, watchers: list[CapacityWatcher]) -> ManagedPaths:
    """A boost re-reads the boosted table's capacity into its budget at once (the watcher
    would in up to a minute)."""
    if not watchers:
        return managed
    source, dest = watchers
    return replace(
        managed,
        boost_source=_following(managed.boost_source, source),
        boost_dest=_following(managed.boost_dest, dest),
    )


def _following(request: BoostRequest | None, watcher: CapacityWatcher) -> BoostRequest | None:
    return None if request is None else replace(request, on_raise=watcher.refresh)


def _announce(observer: Observer, limits: Budgets, engine: Engine) -> None:
    """The budgets (each Spark task's share first) and the workers, for the plan."""
    shares = {"source reads": limits.source_read, "dest writes": limits.dest_write}
    for note in [*task_shares(engine, shares), *limits.notes]:
        observer.message(note)
    observer.message(f"workers        {engine.describe()}")


def _run_steps(
    ctx: RunContext,
    source: SideHandles,
    dest: SideHandles,
    ready: _Prepared,
    *,
    managed: ManagedPaths,
    stores: tuple[Store, Store],
    live: LiveSource | None = None,
) -> MigrateReport:
    """schema -> [stream] -> export -> import -> validate or [replay]; the ledger finished
    after the last (a live run's by its cutover)."""
    export_store, import_store = stores
    options, src = ready.options, ready.src
    if live is not None:  # first: an unusable stream is refused before the table is made
        stream_start_step(ctx, live, options.source_table, src=src)
    action = _schema(ctx, dest, ready, managed)
    ctx.observer.step_finished("schema", summary=action)
    if managed.export is None:
        with boost_around(_unless_done(ctx, "export", managed.boost_source), ctx.observer):
            exported = export_step(
                ctx,
                reader=source.reader(options.source_table),
                schema=src,
                store=export_store,
                options=ExportOptions(
                    segments=ready.plan.segments,
                    workers=options.workers,
                    part_max_items=options.part_max_items,
                ),
            )
        source_plan = detect(import_store, export_id=exported.export_id)
    else:
        exported, source_plan = managed_export_step(ctx, managed.export, src, import_store)
    ctx.observer.message(f"import source: {source_plan.describe(import_store.root)}")
    key = KeySchema.from_description(src.description)
    with boost_around(_unless_done(ctx, "import", managed.boost_dest), ctx.observer):
        imported = _import(
            ctx, dest, ready, managed=managed, store=import_store, source_plan=source_plan, key=key
        )
    report, status = _validate_or_replay(ctx, source, dest, ready, key, live=live)
    return MigrateReport(
        plan=ready.plan,
        schema_action=action,
        export=exported,
        imported=imported,
        validation=report,
        settings=tuple(ready.log.outcomes),
        live=status,
        run_id=ctx.run_ledger.run_id,
    )


def _validate_or_replay(
    ctx: RunContext,
    source: SideHandles,
    dest: SideHandles,
    ready: _Prepared,
    key: KeySchema,
    *,
    live: LiveSource | None,
) -> tuple[ValidationReport | None, ReplayStatus | None]:
    """After the import: a live run replays until caught up and stays open (its cutover
    validates and finishes it); any other run validates (unless told not to) and finishes."""
    options = ready.options
    if live is not None:
        replay = replay_of(ctx, live, dest.writer(options.dest_table), key)
        return None, follow(ctx, replay, until_caught_up=True)
    report = _validate(ctx, source, dest, ready, key) if options.validate else None
    ctx.run_ledger.finish()
    return report, None


def _schema(ctx: RunContext, dest: SideHandles, ready: _Prepared, managed: ManagedPaths) -> str:
    options = ready.options
    if managed.import_ is not None:
        return f"ImportTable creates {options.dest_table!r} like {ready.src.name!r}"
    return schema_step(
        ctx,
        dest.admin,
        source=ready.src,
        existing=ready.dst,
        table_name=options.dest_table,
        dest_kms_key_id=options.dest_kms_key_id,
        settings=options.settings,
        wait_timeout=options.table_wait_timeout,
        log=ready.log,
    )


def _import(
    ctx: RunContext,
    dest: SideHandles,
    ready: _Prepared,
    *,
    managed: ManagedPaths,
    store: Store,
    source_plan: SourcePlan,
    key: KeySchema,
) -> ImportResult:
    if managed.import_ is not None:
        return managed_import_step(ctx, managed.import_, ready.src, source_plan)
    if managed.bulk is not None:
        table = ready.options.dest_table
        described = dest.admin.read_schema(table)
        description = described.description if described is not None else {}
        return bulk_import_step(
            ctx, managed.bulk, managed.bulk.target(source_plan, store, table, description)
        )
    return import_step(
        ctx,
        store=store,
        plan=source_plan,
        writer=dest.writer(ready.options.dest_table),
        key=key,
        options=ImportOptions(workers=ready.options.workers),
    )


def _unless_done(ctx: RunContext, step: str, boost: BoostRequest | None) -> BoostRequest | None:
    """A step the ledger records as done is skipped: no boost for it."""
    return None if ctx.run_ledger.step_state(step) == "done" else boost


def _validate(
    ctx: RunContext, source: SideHandles, dest: SideHandles, ready: _Prepared, key: KeySchema
) -> ValidationReport:
    options = ready.options
    return validate_step(
        ctx,
        source=source.reader(options.source_table),
        dest=dest.reader(options.dest_table),
        key=key,
        options=ValidateOptions(
            segments=ready.plan.segments,
            workers=options.workers,
            consistent_read=options.consistent_validate,
        ),
    )
