"""The runs a staging store records: continue one (``resume``, dispatched on its typed
plan), list them (``status``), delete a finished one's data (``cleanup``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.checkpoint import (
    Ledger,
    LedgerDamagedError,
    RunStatus,
    check_run_id,
    find_unfinished,
    list_runs,
    run_status,
    scan_runs,
)
from ddbmigrate.cleanup import remove_run
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.engines.base import DEFAULT_THREADS, default_workers
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.errors import ConfigError, NotFoundError
from ddbmigrate.exporter import ExportResult
from ddbmigrate.importer import ImportResult
from ddbmigrate.options import ExportOptions, ImportOptions
from ddbmigrate.pipeline import MigrateOptions, MigrateReport
from ddbmigrate.plans import ExportPlan, ImportPlan, MigratePlan, RunPlan, SidePlan, plan_of
from ddbmigrate.ports import NullObserver, Observer, Store
from ddbmigrate.steps.live import live_figures
from ddbmigrate.wiring.accounts import Account, StagingOptions, run_store
from ddbmigrate.wiring.bulk import restore_boosts, settings_of
from ddbmigrate.wiring.commands import migrate
from ddbmigrate.wiring.exports import export
from ddbmigrate.wiring.imports import import_
from ddbmigrate.wiring.scope import RESUMER_DECIDES


@dataclass(frozen=True, kw_only=True, slots=True)
class _Resuming:
    """What the resuming command decides: sides, staging, throughput, engine."""

    run_id: str
    staging: StagingOptions
    source: Side
    dest: Side
    throughput: ThroughputOptions | None
    workers: int | None
    threads: int
    observer: Observer
    engine: EngineChoice | None


def resume(
    *,
    run_id: str,
    staging: StagingOptions,
    source: Side,
    dest: Side,
    throughput: ThroughputOptions | None = None,
    workers: int | None = None,
    threads: int = DEFAULT_THREADS,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> MigrateReport | ExportResult | ImportResult:
    """Continue a stopped run from the options it recorded (on ``engine``: a run started
    on one engine may be resumed on the other)."""
    observer = observer or NullObserver()
    # Read with the destination's credentials when given: a migrate or import staging is the
    # destination's bucket (the default owner); an export run's is the source's.
    store = run_store(staging, dest if dest != Side() else source)
    ledger = Ledger(store, check_run_id(run_id), SystemClock())
    run = ledger.load()
    command = run["command"]
    if command not in RESUMER_DECIDES:
        raise ConfigError(f"run {run_id!r} is a {command!r} run, which resume cannot continue")
    plan = plan_of(command, run["plan"])
    for line in _side_notices(plan, {"source": source, "dest": dest}, staging.url):
        observer.message(line)
    for line in restore_boosts(ledger, _accounts(source, dest)):
        observer.message(line)
    observer.message(f"resuming {command} run {run_id}: {_resumed_what(plan)}")
    again = _Resuming(
        run_id=run_id,
        staging=staging,
        source=source,
        dest=dest,
        throughput=throughput,
        workers=workers,
        threads=threads,
        observer=observer,
        engine=engine,
    )
    if isinstance(plan, MigratePlan):
        return _resume_migrate(plan, again)
    if isinstance(plan, ExportPlan):
        return _resume_export(plan, again)
    return _resume_import(plan, again)


def _resume_migrate(plan: MigratePlan, again: _Resuming) -> MigrateReport:
    return migrate(
        source=again.source,
        dest=again.dest,
        staging=again.staging,
        options=MigrateOptions(
            source_table=plan.source_table,
            dest_table=plan.dest_table,
            segments=plan.segments,
            part_max_items=plan.part_max_items,
            export_method=plan.export_method,
            import_method=plan.import_method,
            bulk=settings_of(plan.bulk),
            live=plan.live,
            workers=default_workers() if again.workers is None else again.workers,
            threads=again.threads,
        ),
        throughput=again.throughput,
        run_id=again.run_id,
        observer=again.observer,
        engine=again.engine,
    )


def _resume_export(plan: ExportPlan, again: _Resuming) -> ExportResult:
    return export(
        source=again.source,
        staging=again.staging,
        options=ExportOptions(
            table=plan.table,
            segments=plan.segments,
            part_max_items=plan.part_max_items,
            format=plan.format,  # type: ignore[arg-type]  # as recorded; detect checks it
            compression=plan.compression,  # type: ignore[arg-type]
            workers=again.workers,
            threads=again.threads,
        ),
        throughput=again.throughput,
        run_id=again.run_id,
        observer=again.observer,
        engine=again.engine,
    )


def _resume_import(plan: ImportPlan, again: _Resuming) -> ImportResult:
    return import_(
        dest=again.dest,
        options=ImportOptions(
            source_url=plan.source,
            table=plan.table,
            export_id=plan.export_id,
            format=plan.format,
            bucket_owner=again.staging.bucket_owner,
            workers=again.workers,
            threads=again.threads,
            import_method="bulk" if plan.bulk is not None else "batch",
            bulk=settings_of(plan.bulk),
        ),
        throughput=again.throughput,
        run_id=again.run_id,
        observer=again.observer,
        engine=again.engine,
    )


def _side_notices(plan: RunPlan, sides: Mapping[str, Side], staging: str) -> list[str]:
    """One line per side (or staging) the resuming command sets differently from the record."""
    lines: list[str] = []
    for key in RESUMER_DECIDES[plan.command]:
        if key == "staging":
            recorded_staging = str(getattr(plan, "staging", ""))
            if recorded_staging.rstrip("/") != staging.rstrip("/"):
                lines.append(
                    f"note: the run recorded staging {recorded_staging!r}; "
                    f"this command's {staging!r} is used"
                )
            continue
        recorded = getattr(plan, key).to_json()
        used = SidePlan.of(sides[key]).to_json()
        differ = [f for f in used if recorded.get(f) != used[f]]
        if differ:
            was = ", ".join(f"{f}={recorded.get(f) or '(none)'}" for f in differ)
            now = ", ".join(f"{f}={used[f] or '(none)'}" for f in differ)
            lines.append(
                f"note: the run recorded {key} {was}; this command's {now} is used "
                "(a resume takes endpoints and roles from its own flags, config and env)"
            )
    return lines


def _resumed_what(plan: RunPlan) -> str:
    """What the record says the run moves (table names are taken from it): printed."""
    if isinstance(plan, MigratePlan):
        return f"source table {plan.source_table!r} -> destination table {plan.dest_table!r}"
    if isinstance(plan, ExportPlan):
        return f"source table {plan.table!r}"
    return f"SOURCE {plan.source} -> destination table {plan.table!r}"


def status(*, staging: StagingOptions, side: Side, run_id: str | None = None) -> list[RunStatus]:
    """The runs recorded under ``staging`` (or one of them), with their progress."""
    store = run_store(staging, side)
    runs, damaged = scan_runs(store)
    clock = SystemClock()
    found = [_with_live(store, run, run_status(store, run, clock), clock) for run in runs]
    found += [RunStatus.of_damaged(name, error) for name, error in damaged.items()]
    found.sort(key=lambda s: s.run_id)
    if run_id is not None:
        found = [s for s in found if s.run_id == run_id]
        if not found:
            raise NotFoundError(f"no run {run_id!r} under {store.root}")
    return found


def restore_run_boosts(
    *, staging: StagingOptions, side: Side, run_id: str, source: Side | None = None
) -> list[str]:
    """Put back the capacity a run raised (``--boost``) and did not restore (a crash); one
    line per table. ``side`` reads the run and restores the destination; ``source`` (when
    given) restores the source."""
    store = run_store(staging, side)
    ledger = Ledger(store, check_run_id(run_id), SystemClock())
    ledger.load()
    return restore_boosts(ledger, _accounts(source or side, side))


def _accounts(source: Side, dest: Side) -> Callable[[str], Account]:
    """The account of a boost journal's side (``source``/``dest``)."""
    return lambda side: (
        Account(source, "source") if side == "source" else Account(dest, "destination")
    )


def _with_live(
    store: Store, run: Mapping[str, object], found: RunStatus, clock: SystemClock
) -> RunStatus:
    """A live run's status with its replay's figures (from the shard checkpoints)."""
    if found.damaged or not isinstance(run.get("live"), dict):
        return found
    run_dir = Ledger(store, found.run_id, clock).dir
    try:
        return replace(found, live=live_figures(store, run_dir, clock))
    except LedgerDamagedError as exc:
        return RunStatus.of_damaged(found.run_id, exc)


def cleanup(*, staging: StagingOptions, side: Side, run_id: str, force: bool = False) -> list[str]:
    """Delete a run's staging data (its export and its run folder); the keys removed. An
    unfinished run only with ``force``, never while a live process runs it."""
    return remove_run(run_store(staging, side), run_id, force=force, clock=SystemClock())


def finished_run(staging: StagingOptions, side: Side, plan: MigratePlan) -> str | None:
    """The run id when the newest run of this plan finished (nothing left to do)."""
    wanted = plan.hash()
    for run in reversed(list_runs(run_store(staging, side))):
        if run.get("command") == "migrate" and run.get("plan_hash") == wanted:
            return str(run["run_id"]) if run.get("finished") else None
    return None


def running_step(staging: StagingOptions, side: Side, plan: MigratePlan) -> str | None:
    """The step an unfinished run stopped in (the ledger says 'running')."""
    store = run_store(staging, side)
    found = find_unfinished(store, command=plan.command, plan=plan.to_json())
    if found is None:
        return None
    steps = Ledger(store, found, SystemClock()).load().get("steps", {})
    return next((name for name, state in steps.items() if state == "running"), None)
