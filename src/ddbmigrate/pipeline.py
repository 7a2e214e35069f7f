"""migrate = preflight -> schema -> export -> import -> validate, each a function of its own.

Core only: everything AWS-specific arrives as ports (``SideHandles``) and named preflight
checks, wired by ``ddbmigrate.api``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ddbmigrate import schema as schemas
from ddbmigrate import settings as opt
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.engines.base import Engine, ThreadEngine
from ddbmigrate.errors import (
    AccessDeniedError,
    ConfigError,
    FatalError,
    NotFoundError,
    ResumeMismatchError,
    UnsupportedError,
)
from ddbmigrate.exporter import ExportOptions, ExportResult, export_table
from ddbmigrate.formats.detect import SourcePlan, detect
from ddbmigrate.formats.native import new_export_id
from ddbmigrate.importer import ImportOptions, ImportResult, ensure_empty, import_source
from ddbmigrate.model import KeySchema, Segment
from ddbmigrate.ports import (
    Budget,
    Clock,
    NullObserver,
    Observer,
    Store,
    TableAdmin,
    TableReader,
    TableSchema,
    TableWriter,
    Unlimited,
)
from ddbmigrate.runs import RejectLog
from ddbmigrate.validator import ValidateOptions, ValidationReport, validate_tables

GIB = 1024**3
MAX_SEGMENTS = 1_000_000


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


Check = tuple[str, Callable[[], None]]
"""A named preflight check: raises a DdbMigrateError saying what is wrong and how to fix it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MigrateOptions:
    """One table's migration."""

    source_table: str
    dest_table: str
    segments: int | None = None
    """Parallel Scan segments; None picks one per GiB of table, at least one per thread."""
    workers: int = 1
    """Worker processes (``ddbmigrate.engines.local``); the engine is made by the caller."""
    threads: int = 4
    """Units (segments, files) each worker runs at once."""
    into_existing: bool = False
    validate: bool = True
    max_rejects: int = 0
    """Items DynamoDB may refuse (recorded in the run's rejects file) before the run stops."""
    export_method: str = "scan"
    """scan (parallel Scan within the read budget) or native (ExportTableToPointInTime)."""
    import_method: str = "batch"
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


@dataclass(frozen=True, slots=True)
class Plan:
    """What preflight found and what the run will do."""

    source_table: str
    dest_table: str
    approx_items: int
    approx_bytes: int
    billing_mode: str
    segments: int
    dest_exists: bool
    size_basis: str = "DescribeTable's estimate"
    """Where approx_items/approx_bytes come from (``sizing``)."""

    def lines(self) -> list[str]:
        action = "exists: write into it" if self.dest_exists else "absent: create it"
        return [
            f"source table   {self.source_table}: ~{self.approx_items:,} items, "
            f"~{self.approx_bytes:,} bytes ({self.size_basis}), {self.billing_mode}",
            f"destination    {self.dest_table}: {action}",
            f"scan segments  {self.segments}",
        ]


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

    def to_dict(self) -> dict[str, object]:
        return {
            "source_table": self.plan.source_table,
            "dest_table": self.plan.dest_table,
            "schema": self.schema_action,
            "export": self.export.to_dict(),
            "import": self.imported.to_dict(),
            "validation": self.validation.to_dict() if self.validation else None,
            "settings": [o.to_dict() for o in self.settings],
        }


def default_segments(table_bytes: int, workers: int) -> int:
    """One Scan segment per GiB of table, at least one per worker."""
    return max(workers, min(MAX_SEGMENTS, math.ceil(table_bytes / GIB)))


def read_source(admin: TableAdmin, table: str, label: str, *, role: str = "source") -> TableSchema:
    """A table's schema; it must exist and be ACTIVE. ``role`` is source or dest(ination)."""
    found = admin.read_schema(table)
    if found is None:
        flag = "source" if role == "source" else "dest"
        raise NotFoundError(
            f"{role} table {table!r} does not exist in {label}",
            hint=f"check --{flag}-table, --{flag}-region and the {role} credentials",
        )
    status = found.description.get("TableStatus", "ACTIVE")
    if status != "ACTIVE":
        raise FatalError(
            f"{role} table {table!r} is {status}, not ACTIVE",
            hint="wait until it is ACTIVE and run again",
        )
    return found


def _probe_scan(reader: TableReader) -> None:
    """A one-item Scan: proves dynamodb:Scan on the table, costs at most 0.5 RCU."""
    reader.scan(segment=Segment(0, 1), limit=1)


def run_checks(checks: list[Check], observer: Observer) -> None:
    """Run named preflight checks in order. Missing permissions are collected and reported
    together (each with the statement that grants it); any other failure stops at once."""
    denied: list[AccessDeniedError] = []
    for name, check in checks:
        try:
            check()
        except AccessDeniedError as exc:
            denied.append(exc)
            observer.message(f"preflight FAILED: {name}: {exc.message}")
            continue
        observer.message(f"preflight ok: {name}")
    if len(denied) == 1:
        raise denied[0]
    if denied:
        raise AccessDeniedError(
            f"{len(denied)} permissions are missing: " + "; ".join(exc.message for exc in denied),
            hint=" | ".join(exc.hint or "" for exc in denied),
        )


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
        (f"source table {options.source_table!r} readable (Scan)", lambda: _probe_scan(reader))
    ]
    run_checks([*probes, *checks], observer)
    desc = src.description
    size = int(desc.get("TableSizeBytes", 0))
    plan = Plan(
        source_table=options.source_table,
        dest_table=options.dest_table,
        approx_items=int(desc.get("ItemCount", 0)),
        approx_bytes=size,
        billing_mode=schemas.billing_mode(desc),
        segments=options.segments or default_segments(size, options.workers * options.threads),
        dest_exists=dst is not None,
    )
    return src, dst, plan


TABLE_PIN = "table"
"""The run ledger's record of the table the run creates (``schema.TableTarget``)."""


def ensure_table(
    admin: TableAdmin,
    *,
    source: TableSchema,
    existing: TableSchema | None,
    table_name: str,
    dest_kms_key_id: str | None = None,
    wait_timeout: float = 1800.0,
    observer: Observer | None = None,
    ledger: Ledger | None = None,
    settings: frozenset[str] = opt.ALL,
    log: opt.SettingsLog | None = None,
) -> str:
    """Create the destination like the source (or check the one there); say what was done.

    With a ``ledger``, the table to create is recorded before CreateTable; a resume that
    finds it then applies whatever the table still lacks (TTL, PITR, tags, stream, deletion
    protection, indexes) instead of leaving it as it is. Optional ``settings`` the endpoint
    lacks or the role may not set are left out and recorded in ``log``.
    """
    observer = observer or NullObserver()
    log = log or opt.SettingsLog(observer)
    _note_unread(source, settings, log)
    target = schemas.TableTarget.of(
        source, table_name=table_name, dest_kms_key_id=dest_kms_key_id, settings=settings
    )
    pinned = _pinned_table(ledger, target)
    if existing is not None:
        schemas.check_compatible(source=source, dest=existing, dest_flag="--dest-table")
        if pinned is None:
            for note in schemas.schema_differences(source, existing):
                observer.message(f"destination {table_name!r} exists and is left as it is: {note}")
            return f"table {table_name!r} exists with the same key; left as it is"
        applied = finish_table(admin, pinned, existing, wait_timeout, observer, log=log)
        done = f"; applied what it lacked: {', '.join(applied)}" if applied else ""
        return f"table {table_name!r} was created earlier in this run{done}"
    target = pinned or target
    for line in schemas.summary_lines(target):
        observer.message(line)
    if ledger is not None:
        # Recorded first: a crash after CreateTable leaves a table the resume must finish.
        ledger.set(**{TABLE_PIN: target.to_json()})
    admin.create_table(target.request)
    admin.wait_active(table_name, timeout=wait_timeout)
    created = admin.read_schema(table_name)
    if created is None:
        raise NotFoundError(
            f"table {table_name!r} was created but DescribeTable does not find it",
            hint="run the same command again",
        )
    # It may be a table someone else made meanwhile: same key?
    schemas.check_compatible(source=source, dest=created, dest_flag="--dest-table")
    skip = _ignored_by_create(target, created, log)
    finish_table(admin, target, created, wait_timeout, observer, log=log, skip=skip)
    for name, label in target.optional_settings().items():
        log.copied(name, label)
    return f"created table {table_name!r} like {source.name!r}"


def _pinned_table(ledger: Ledger | None, target: schemas.TableTarget) -> schemas.TableTarget | None:
    """The table this run recorded (when it did); refuses a source that changed since."""
    if ledger is None or not ledger.run.get(TABLE_PIN):
        return None
    pinned = schemas.TableTarget.from_json(ledger.run[TABLE_PIN])
    if pinned.name != target.name:
        raise ResumeMismatchError(
            f"run {ledger.run_id!r} was creating table {pinned.name!r}, not {target.name!r}",
            hint="resume it with the table it was started with, or start a new run",
        )
    if changed := schemas.target_changes(pinned, target):
        raise ResumeMismatchError(
            f"run {ledger.run_id!r} was creating table {pinned.name!r} from a table "
            f"description that has changed since: {', '.join(changed)} differ",
            hint=f"delete table {pinned.name!r} and start a new run, or restore the source's "
            "settings and run the same command again",
        )
    return pinned


def _ignored_by_create(
    target: schemas.TableTarget, table: TableSchema, log: opt.SettingsLog
) -> frozenset[str]:
    """The optional settings the endpoint ignored in the CreateTable that just made
    ``table``: not copied (an UpdateTable for them would only be refused). Not asked of a
    table found on a resume: what made it, and what it lacks, is not known there."""
    ignored = schemas.ignored_by_create(target, table)
    for name, field_name in ignored.items():
        why = opt.reason("destination", "unsupported", f"{field_name} in CreateTable")
        log.not_copied(name, opt.LABELS[name], why)
    return frozenset(ignored)


def finish_table(
    admin: TableAdmin,
    target: schemas.TableTarget,
    table: TableSchema,
    wait_timeout: float,
    observer: Observer,
    *,
    log: opt.SettingsLog | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Apply what ``table`` lacks of ``target``, one call each; return what was applied.
    An optional setting the endpoint lacks or the role may not set goes to ``log``; those in
    ``skip`` are left alone."""
    log = log or opt.SettingsLog(observer)
    applied: list[str] = []
    for setting in schemas.missing_settings(target, table):
        if setting.setting in skip:
            continue
        observer.message(f"table {target.name!r}: applying {setting.label}")
        try:
            setting.apply(admin, target.name)
        except (UnsupportedError, AccessDeniedError) as exc:
            if setting.setting is None:
                raise  # an index is the table itself, never best effort
            why = opt.reason("destination", opt.kind_of(exc), setting.operation)
            log.not_copied(setting.setting, opt.LABELS[setting.setting], why)
            continue
        if setting.updates_table:
            admin.wait_active(target.name, timeout=wait_timeout)
        applied.append(setting.label)
    return applied


@dataclass(frozen=True, slots=True)
class Budgets:
    """Capacity budgets of one migration: reads of each table, writes of the destination."""

    source_read: Budget
    dest_read: Budget
    dest_write: Budget
    notes: tuple[str, ...] = ()
    rates: tuple[float, float] = (0.0, 0.0)
    """Target units/s of source reads and destination writes, for the plan's estimate."""

    @classmethod
    def unlimited(cls) -> Budgets:
        return cls(Unlimited(), Unlimited(), Unlimited())


@dataclass(frozen=True, slots=True)
class ManagedPaths:
    """AWS's managed export and import, opt-in (wired by ``ddbmigrate.api``)."""

    export: Callable[[TableSchema, Ledger], str] | None = None
    """ExportTableToPointInTime; returns the export folder relative to the staging root."""
    check_import: Callable[[TableSchema], list[str]] | None = None
    """Refuses what ImportTable cannot do (LSIs); returns what is applied after it."""
    import_: Callable[[TableSchema, SourcePlan], int] | None = None
    """ImportTable into a new table, then the settings it cannot set; returns items imported."""


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
    budgets: Callable[[TableSchema, TableSchema | None], Budgets] | None = None,
    managed: ManagedPaths | None = None,
    observer: Observer | None = None,
    engine: Engine | None = None,
) -> MigrateReport:
    """Move one table: every step in order; the first fatal error stops the run.

    Export, import and validation run their units on ``engine`` (default: threads of this
    process, ``workers * threads`` of them).

    Steps the ledger records as done are skipped, so a re-run continues where the last one
    stopped; export and import resume inside the step (segments, files).
    """
    observer = observer or NullObserver()
    managed = managed or ManagedPaths()
    engine = engine or ThreadEngine(options.workers * options.threads)
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
    log = _source_settings(src, options, observer)
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
    limits = budgets(src, dst) if budgets else Budgets.unlimited()
    for note in limits.notes:
        observer.message(note)
    observer.message(f"workers        {engine.describe()}")
    if managed.import_ is None:
        action = _schema_step(
            dest, src=src, dst=dst, options=options, ledger=ledger, observer=observer, log=log
        )
    else:
        action = f"ImportTable creates {options.dest_table!r} like {src.name!r}"
    if managed.export is None:
        exported = _export_step(
            source,
            src=src,
            store=export_store,
            plan=plan,
            options=options,
            clock=clock,
            ledger=ledger,
            limits=limits,
            observer=observer,
            engine=engine,
        )
        source_plan = detect(import_store, export_id=exported.export_id)
    else:
        exported, source_plan = _managed_export(managed.export, src, import_store, ledger, clock)
    observer.message(f"import source: {source_plan.describe(import_store.root)}")
    key = KeySchema.from_description(src.description)
    ledger.step("import", "running")
    if managed.import_ is None:
        imported = import_source(
            store=import_store,
            plan=source_plan,
            writer=dest.writer(options.dest_table),
            key=key,
            options=ImportOptions(
                workers=options.workers, deadline=_deadline(options, "import", clock)
            ),
            rejects=RejectLog(import_store, ledger.dir, max_rejects=options.max_rejects),
            clock=clock,
            observer=observer,
            budget=limits.dest_write,
            ledger=ledger,
            engine=engine,
        )
    else:
        t0 = clock.monotonic()
        count = managed.import_(src, source_plan)
        imported = ImportResult(count, len(source_plan.files), clock.monotonic() - t0)
    ledger.step("import", "done")
    report = None
    if options.validate:
        ledger.step("validate", "running")
        report = validate_tables(
            source=source.reader(options.source_table),
            dest=dest.reader(options.dest_table),
            key=key,
            options=ValidateOptions(
                segments=plan.segments,
                workers=options.workers,
                consistent_read=options.consistent_validate,
                deadline=_deadline(options, "validate", clock),
            ),
            clock=clock,
            observer=observer,
            budgets=(limits.source_read, limits.dest_read),
            engine=engine,
        )
        ledger.step("validate", "match" if report.matches else "mismatch")
    ledger.finish()
    return MigrateReport(
        plan=plan,
        schema_action=action,
        export=exported,
        imported=imported,
        validation=report,
        settings=tuple(log.outcomes),
    )


def _recorded_settings(options: MigrateOptions, ledger: Ledger) -> MigrateOptions:
    """The settings choice the run recorded when it went past the source's settings: a
    resume finishes the same table. Strictness is this command's own: a run stopped by
    ``--strict-settings`` at a setting the destination cannot set goes on without the flag."""
    recorded = ledger.run.get("settings")
    if recorded is None:
        return options
    return replace(options, settings=opt.parse_settings(str(recorded)))


def _note_unread(source: TableSchema, settings: frozenset[str], log: opt.SettingsLog) -> None:
    """The chosen settings the source could not read: not copied (said once per setting)."""
    for name, (kind, operation) in source.unread.items():
        if name in settings:
            log.not_copied(name, opt.LABELS[name], opt.reason("source", kind, operation))


def _source_settings(
    src: TableSchema, options: MigrateOptions, observer: Observer
) -> opt.SettingsLog:
    """A log of the optional settings, with those the source could not read (before any
    data moves, so ``--strict-settings`` stops the run there) and those left out by choice."""
    log = opt.SettingsLog(observer, strict=options.strict_settings)
    _note_unread(src, options.settings, log)
    chosen = schemas.TableTarget.of(src, table_name=src.name)
    for name, label in chosen.optional_settings().items():
        if name not in options.settings:
            log.outcomes.append(
                opt.SettingOutcome(name, label, False, f"left out by {opt.SETTINGS_FLAG}")
            )
    return log


def _schema_step(
    dest: SideHandles,
    *,
    src: TableSchema,
    dst: TableSchema | None,
    options: MigrateOptions,
    ledger: Ledger,
    observer: Observer,
    log: opt.SettingsLog,
) -> str:
    if ledger.step_state("schema") == "done" and dst is not None:
        return f"table {options.dest_table!r} was created earlier in this run"
    action = ensure_table(
        dest.admin,
        source=src,
        existing=dst,
        table_name=options.dest_table,
        dest_kms_key_id=options.dest_kms_key_id,
        wait_timeout=options.table_wait_timeout,
        observer=observer,
        ledger=ledger,
        settings=options.settings,
        log=log,
    )
    observer.message(action)
    ledger.step("schema", "done")
    return action


def _export_step(
    source: SideHandles,
    *,
    src: TableSchema,
    store: Store,
    plan: Plan,
    options: MigrateOptions,
    clock: Clock,
    ledger: Ledger,
    limits: Budgets,
    observer: Observer,
    engine: Engine,
) -> ExportResult:
    """Export, or finish a stopped export: recorded segments are not scanned again."""
    export_id = str(ledger.run.get("export_id") or new_export_id(clock.now_ms()))
    ledger.set(export_id=export_id)
    ledger.step("export", "running")
    exported = export_table(
        reader=source.reader(options.source_table),
        schema=src,
        store=store,
        options=ExportOptions(
            segments=plan.segments,
            workers=options.workers,
            part_max_items=options.part_max_items,
            deadline=_deadline(options, "export", clock),
        ),
        clock=clock,
        observer=observer,
        budget=limits.source_read,
        ledger=ledger,
        export_id=export_id,
        engine=engine,
    )
    ledger.step("export", "done")
    return exported


def _deadline(options: MigrateOptions, step: str, clock: Clock) -> float | None:
    seconds = options.timeouts.get(step)
    return None if seconds is None else clock.monotonic() + seconds


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


def _managed_export(
    export: Callable[[TableSchema, Ledger], str],
    src: TableSchema,
    store: Store,
    ledger: Ledger,
    clock: Clock,
) -> tuple[ExportResult, SourcePlan]:
    """ExportTableToPointInTime, waited for; the result read back as an import source."""
    t0 = clock.monotonic()
    ledger.step("export", "running")
    folder = export(src, ledger)
    ledger.step("export", "done")
    source_plan = detect(store, folder=folder)
    result = ExportResult(
        export_id=folder.rsplit("/", 1)[-1],
        export_dir=folder,
        url=f"{store.root.rstrip('/')}/{folder}",
        item_count=source_plan.total_items or 0,
        parts=[],
        bytes_written=0,
        seconds=clock.monotonic() - t0,
    )
    return result, source_plan
