"""The library's entry points: wire AWS (or a local directory) into the core steps.

This is the only module above both ``ddbmigrate.aws`` and the core; the CLI calls these
functions and nothing else, and so can any Python program.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ddbmigrate import pipeline, policies
from ddbmigrate import settings as settings_opt
from ddbmigrate.aws import DynamoAdmin, DynamoTableReader, DynamoTableWriter, S3Store, native_paths
from ddbmigrate.aws.boto3_plane import Boto3TableReader, Boto3TableWriter
from ddbmigrate.aws.s3 import acl_needed
from ddbmigrate.aws.session import SideSession, session_for, side_region
from ddbmigrate.aws.sns import SnsNotifier
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.capacity import (
    CapacityWatcher,
    ThroughputOptions,
    make_budgets,
    watch_migration,
)
from ddbmigrate.checkpoint import (
    Ledger,
    RunStatus,
    check_run_id,
    find_unfinished,
    list_runs,
    plan_hash,
    run_status,
    scan_runs,
)
from ddbmigrate.cleanup import remove_run
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.engines.local import (
    DEFAULT_THREADS,
    Engine,
    ProcessEngine,
    ThreadEngine,
    check_workers,
    default_workers,
    local_engine,
)
from ddbmigrate.engines.spark import SparkEngine, open_session
from ddbmigrate.engines.spark import preflight as spark_preflight
from ddbmigrate.errors import (
    ConfigError,
    CredentialsError,
    DdbMigrateError,
    NotFoundError,
    StagingError,
)
from ddbmigrate.estimate import Prices, estimate
from ddbmigrate.exporter import ExportOptions, ExportResult, export_table
from ddbmigrate.formats.compression import Compression, check_level
from ddbmigrate.formats.detect import Format, SourcePlan, detect
from ddbmigrate.formats.native import new_export_id
from ddbmigrate.formats.tablefile import TABLE_FILE
from ddbmigrate.importer import ImportOptions, ImportResult, ensure_empty, import_source
from ddbmigrate.model import KeySchema, StoreURL
from ddbmigrate.multi import (
    Prefixed,
    TableJob,
    TableOutcome,
    expand_tables,
    run_tables,
    with_step_retries,
)
from ddbmigrate.notify import MultiNotifier, Notifier, RunNotifications
from ddbmigrate.notify.webhook import WebhookNotifier
from ddbmigrate.pins import pin_source
from ddbmigrate.pipeline import (
    TABLE_PIN,
    Budgets,
    Check,
    ManagedPaths,
    MigrateOptions,
    MigrateReport,
    SideHandles,
)
from ddbmigrate.pipelinefile import PipelineSpec
from ddbmigrate.planlock import PlanLock, take_lock
from ddbmigrate.ports import (
    Budget,
    NullObserver,
    Observer,
    Store,
    TableReader,
    TableSchema,
    TableWriter,
)
from ddbmigrate.report import (
    RateRecorder,
    bind_run,
    build_report,
    migrate_counts,
    outcome_of,
    render_html,
    write_report_files,
)
from ddbmigrate.runs import RejectLog, new_run_id
from ddbmigrate.schema import (
    TableTarget,
    billing_mode,
    check_capacity,
    check_compatible,
    create_table_request,
)
from ddbmigrate.sizing import table_size
from ddbmigrate.stores import LocalStore
from ddbmigrate.validator import ValidateOptions, ValidationReport, validate_tables

DEFAULT_ACL = "bucket-owner-full-control"


@dataclass(frozen=True, kw_only=True, slots=True)
class StagingOptions:
    """Where exports go and how S3 objects are written."""

    url: str
    """``s3://bucket/prefix/`` or a local directory."""
    bucket_owner: str | None = None
    """Account id the bucket must belong to (ExpectedBucketOwner on every S3 request);
    default: the destination account, and for ``export`` the caller's account (STS)."""
    acl: str | None = DEFAULT_ACL
    """Canned ACL of objects written into a bucket another account owns; not sent where the
    writer owns the bucket or the bucket's Object Ownership is BucketOwnerEnforced; None
    sends none."""
    sse: str | None = None
    """``AES256`` or ``aws:kms``."""
    sse_kms_key_id: str | None = None

    def __post_init__(self) -> None:
        StoreURL.parse(self.url)  # a malformed URL fails here, before any AWS call
        if self.sse not in (None, "AES256", "aws:kms"):
            raise ConfigError(f"--sse {self.sse!r} is not AES256 or aws:kms")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ConfigError("--sse-kms-key-id needs --sse aws:kms")


DATA_PLANE_ENV = "DDBMIGRATE_DATA_PLANE"


def data_plane() -> str:
    """``lean`` (the signed urllib3 client, the default) or ``boto3`` (boto3's own client,
    kept as the reference the benchmark compares against)."""
    chosen = os.environ.get(DATA_PLANE_ENV, "lean").strip().lower() or "lean"
    if chosen not in ("lean", "boto3"):
        raise ConfigError(f"{DATA_PLANE_ENV}={chosen!r} is not lean or boto3")
    return chosen


class Account:
    """One side, opened lazily: no AWS call until something needs one."""

    def __init__(self, side: Side, role: str) -> None:
        self.side = side
        self.role = role

    @cached_property
    def session(self) -> SideSession:
        return SideSession(self.side)

    @cached_property
    def wire(self) -> WireClient:
        return WireClient(self.session)

    @cached_property
    def admin(self) -> DynamoAdmin:
        return DynamoAdmin(self.session)

    def reader(self, table: str) -> TableReader:
        if data_plane() == "boto3":
            return Boto3TableReader(self.session, table)
        return DynamoTableReader(self.wire, table)

    def writer(self, table: str) -> TableWriter:
        if data_plane() == "boto3":
            return Boto3TableWriter(self.session, table)
        return DynamoTableWriter(self.wire, table)

    @property
    def label(self) -> str:
        return f"the {self.role} account ({self.side.describe()})"

    def handles(self) -> SideHandles:
        return SideHandles(
            admin=self.admin, reader=self.reader, writer=self.writer, label=self.label
        )

    def store(self, staging: StagingOptions, *, owner: str | None) -> Store:
        url = StoreURL.parse(staging.url)
        if url.scheme == "file":
            return LocalStore(url.prefix)
        return S3Store(
            self.session,
            url,
            expected_owner=owner,
            acl=staging.acl,
            sse=staging.sse,
            sse_kms_key_id=staging.sse_kms_key_id,
        )


def _store_checks(store: Store, *, role: str, write: bool) -> list[Check]:
    """Preflight checks of a staging store: bucket reachable and owned; write proven."""
    checks: list[Check] = []
    if isinstance(store, S3Store):
        checks.append(
            (f"staging bucket reachable and owned as expected ({role})", store.check_bucket)
        )
        if write:
            checks.append((f"staging writable by the {role} account", store.probe_write))
    elif isinstance(store, LocalStore) and write:
        where = StoreURL.parse(store.root).describe()
        checks.append((f"staging: {where} writable", lambda: _probe_local(store)))
    return checks


def _probe_local(store: Store) -> None:
    key = "ddbmigrate/preflight/probe"
    try:
        store.put(key, b"{}")
        store.delete(key)
    except OSError as exc:  # pragma: no cover - LocalStore already translates
        raise StagingError(f"cannot write to {store.root}: {exc}") from exc


def _owner_for(staging: StagingOptions, account: Account) -> str | None:
    """The account an s3:// staging must belong to: --bucket-owner, else ``account``'s own
    (STS GetCallerIdentity, asked once per session); None for a local directory."""
    if staging.bucket_owner or StoreURL.parse(staging.url).scheme == "file":
        return staging.bucket_owner
    return account.session.account_id()


def _with_acl(
    staging: StagingOptions, owner: str | None, *, asker: Account | None
) -> StagingOptions:
    """``staging`` with its ACL kept only where objects need one (ADR 0017): ``asker`` is None
    when the writer owns the bucket; else it reads the bucket's Object Ownership."""
    url = StoreURL.parse(staging.url)
    if staging.acl is None or url.scheme != "s3":
        return staging
    if asker is None or not acl_needed(asker.session, url.bucket, owner=owner):
        return replace(staging, acl=None)
    return staging


def engine_preflight(
    choice: EngineChoice, locations: list[str], *, workers: int, threads: int
) -> None:
    """The engine's checks that need no AWS call and no JVM, made first."""
    if choice.spark:
        spark_preflight(choice.spark_master, locations)
    else:
        check_workers(workers, threads)


def open_engine(
    choice: EngineChoice,
    *,
    workers: int,
    threads: int,
    locations: list[str],
    sides: list[Account],
    observer: Observer,
) -> ThreadEngine | ProcessEngine | SparkEngine:
    """The engine a command runs its units on. The spark engine is checked before any data
    moves: staging the executors can see, no speculative tasks, and executors that act as
    the same accounts as this machine (a probe task per side)."""
    if not choice.spark:
        return local_engine(workers, threads)
    session, _started = open_session(choice.spark_master)
    engine = SparkEngine(session, tasks=choice.spark_tasks)
    engine.check_staging(locations)
    engine.check_settings()
    observer.message(f"spark engine: master {engine.master}, {engine.workers} tasks at once")
    check_executors(engine, sides)
    return engine


@dataclass(frozen=True, slots=True)
class _IdentityProbe:
    """A Spark task's proof that it can act as a side. Its credentials must resolve (the
    side's role is assumed); when they are other keys than this machine's for a side
    without a role, the account they reach is returned for the driver to compare (STS
    GetCallerIdentity, asked only then)."""

    def run(self, unit: tuple[Side, str], stop: object) -> tuple[str | None, str | None]:
        side, here = unit
        try:
            session = session_for(side)
            mine = session.credential_fingerprint()  # resolved here: a role is assumed
            if side.role_arn or mine == here:
                return None, None  # the same role, or the same keys: the same account
            return session.account_id(), None
        except DdbMigrateError as exc:
            return None, exc.message


def check_executors(engine: SparkEngine, sides: list[Account]) -> None:
    """Refuse executors that cannot act as a side, or that reach another account with it
    (the cluster's own role where this machine used a profile, say)."""
    units = [(a.side, a.session.credential_fingerprint()) for a in sides]
    found = engine.probe(_IdentityProbe().run, units)
    for account, (executor_account, problem) in zip(sides, found, strict=True):
        if problem is not None:
            raise CredentialsError(
                f"Spark executors cannot act as {account.label}: {problem}",
                hint="executors build their own credentials from the side's settings: give "
                "the cluster's role (instance profile, Glue role) the right to assume the "
                "side's --*-role-arn, or a profile that exists on every executor",
            )
        if executor_account is not None:
            _check_same_account(account, executor_account)


def _check_same_account(account: Account, executor_account: str) -> None:
    hint = "name a role (--source-role-arn / --dest-role-arn) that both assume"
    try:
        here = account.session.account_id()
    except DdbMigrateError as exc:
        raise CredentialsError(
            f"Spark executors use other credentials than this machine for {account.label}, "
            f"and the accounts could not be compared: {exc.message}",
            hint=hint,
        ) from exc
    if executor_account != here:
        raise CredentialsError(
            f"Spark executors act as account {executor_account} for {account.label}, "
            f"but this machine as account {here}",
            hint=hint,
        )


def task_shares(engine: Engine, budgets: Mapping[str, Budget]) -> list[str]:
    """What each Spark task may use: its share of every budget (printed with the plan)."""
    if not isinstance(engine, SparkEngine):
        return []
    if engine.slots() is None:
        return [f"spark tasks    {engine.describe()}"]
    tasks = engine.workers
    shares = ", ".join(f"{what} {b.target / tasks:.1f} units/s" for what, b in budgets.items())
    return [f"spark tasks    {tasks} at once, each 1/{tasks} of every budget: {shares}"]


def read_object(url: str, side: Side | None = None) -> bytes:
    """One object, ``s3://bucket/key`` or a local path, read with ``side``'s credentials
    (default: the standard chain, e.g. a cluster's role)."""
    parent, _, name = url.rstrip("/").rpartition("/")
    if not name or not parent or parent in ("s3:", "s3:/"):
        raise ConfigError(f"{url!r} does not name an object")
    account = Account(side or Side(), "the default credentials")
    staging = StagingOptions(url=parent + "/")
    return account.store(staging, owner=_owner_for(staging, account)).get(name)


def migrate(
    *,
    source: Side,
    dest: Side,
    staging: StagingOptions,
    options: MigrateOptions,
    throughput: ThroughputOptions | None = None,
    run_id: str | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> MigrateReport:
    """Move a table from ``source`` to ``dest`` through ``staging``, then validate.

    The run is recorded in ``<staging>/ddbmigrate/runs/<run-id>/``; the same call after a
    crash (or ``run_id``) continues it instead of starting over. Segments and files run on
    ``engine`` (default: worker processes of this machine).
    """
    observer = observer or NullObserver()
    throughput = throughput or ThroughputOptions()
    engine = engine or EngineChoice()
    engine_preflight(engine, [staging.url], workers=options.workers, threads=options.threads)
    src, dst = Account(source, "source"), Account(dest, "destination")
    owner = _owner_for(staging, dst)
    # The source writes into the destination's bucket; the destination (its owner) reads
    # the bucket's Object Ownership. The destination writes there as the owner.
    export_store = src.store(_with_acl(staging, owner, asker=dst), owner=owner)
    import_store = dst.store(_with_acl(staging, owner, asker=_foreign(staging, dst)), owner=owner)
    checks = _store_checks(export_store, role="source", write=True)
    checks += _store_checks(import_store, role="destination", write=False)
    clock = SystemClock()
    plan = migrate_plan(source=source, dest=dest, staging=staging, options=options)
    runner = open_engine(
        engine,
        workers=options.workers,
        threads=options.threads,
        locations=[staging.url],
        sides=[src, dst],
        observer=observer,
    )
    if engine.spark:  # default segments follow the tasks that run at once
        options = replace(options, workers=runner.workers)
    try:
        lock = take_lock(export_store, command="migrate", plan=plan, run_id=run_id, clock=clock)
        ledger = open_ledger(
            export_store,
            command="migrate",
            plan=plan,
            run_id=run_id,
            clock=clock,
            observer=observer,
            lock=lock,
        )
    except BaseException:
        runner.close()
        raise
    bind_run(observer, ledger.run_id)
    watchers: list[CapacityWatcher] = []

    def budgets(source_schema: TableSchema, dest_schema: TableSchema | None) -> Budgets:
        made = make_budgets(source_schema, dest_schema, throughput, clock)
        watchers.extend(
            watch_migration(
                made,
                source=lambda: src.admin.read_schema(options.source_table),
                dest=lambda: dst.admin.read_schema(options.dest_table),
                options=throughput,
            )
        )
        shares = {"source reads": made.source_read, "dest writes": made.dest_write}
        for note in task_shares(runner, shares):
            observer.message(note)
        return made

    try:
        return pipeline.migrate(
            source=src.handles(),
            dest=dst.handles(),
            export_store=export_store,
            import_store=import_store,
            checks=checks,
            options=options,
            clock=clock,
            ledger=ledger,
            budgets=budgets,
            managed=_managed_paths(
                src, dst, staging=staging, owner=owner, options=options, clock=clock
            ),
            observer=observer,
            engine=runner,
        )
    finally:
        runner.close()
        for watcher in watchers:
            watcher.stop()
        ledger.release()


def _side_plan(side: Side) -> dict[str, str | None]:
    """What identifies a side in a run's plan; no secrets (external ids stay out)."""
    return {
        "profile": side.profile,
        "role_arn": side.role_arn,
        "region": side.region,
        "endpoint_url": side.endpoint_url,
    }


def migrate_plan(
    *, source: Side, dest: Side, staging: StagingOptions, options: MigrateOptions
) -> dict[str, object]:
    """The options that make two migrate commands the same run."""
    return {
        "source": _side_plan(source),
        "dest": _side_plan(dest),
        "staging": staging.url,
        "source_table": options.source_table,
        "dest_table": options.dest_table,
        "segments": options.segments,
        "part_max_items": options.part_max_items,
        "export_method": options.export_method,
        "import_method": options.import_method,
    }


def _managed_paths(
    src: Account,
    dst: Account,
    *,
    staging: StagingOptions,
    owner: str | None,
    options: MigrateOptions,
    clock: SystemClock,
) -> ManagedPaths:
    """AWS's managed export/import for the options that ask for them."""
    for flag, value, allowed in (
        ("--export-method", options.export_method, ("scan", "native")),
        ("--import-method", options.import_method, ("batch", "native")),
    ):
        if value not in allowed:
            raise ConfigError(f"{flag} {value!r} is not one of {', '.join(allowed)}")
    url = StoreURL.parse(staging.url)
    if url.scheme != "s3" and "native" in (options.export_method, options.import_method):
        raise ConfigError(
            "--export-method/--import-method native need an s3:// staging URL",
            hint="AWS's managed export and import read and write S3 only",
        )
    export = import_ = check = None
    if options.export_method == "native":

        def export(schema: TableSchema, ledger: Ledger) -> str:
            return _native_export(
                src,
                dst,
                url=url,
                staging=staging,
                owner=owner,
                schema=schema,
                ledger=ledger,
                clock=clock,
            )

    if options.import_method == "native":

        def check(schema: TableSchema) -> list[str]:
            request = create_table_request(
                schema, table_name=options.dest_table, dest_kms_key_id=options.dest_kms_key_id
            )
            return native_paths.check_importable(request)

        def import_(schema: TableSchema, plan: SourcePlan) -> int:
            return _native_import(
                dst, url=url, owner=owner, schema=schema, plan=plan, options=options, clock=clock
            )

    return ManagedPaths(export=export, check_import=check, import_=import_)


def _native_export(
    src: Account,
    dst: Account,
    *,
    url: StoreURL,
    staging: StagingOptions,
    owner: str | None,
    schema: TableSchema,
    ledger: Ledger,
    clock: SystemClock,
) -> str:
    """ExportTableToPointInTime into <staging>/native/<run-id>/; resumable by its ARN."""
    arn = str(ledger.run.get("native_export_arn") or "")
    if not arn:
        if not schema.pitr_enabled:
            raise native_paths.pitr_required(str(schema.description.get("TableArn", schema.name)))
        prefix = "/".join(p for p in (url.prefix, "native", ledger.run_id) if p)
        arn = native_paths.start_native_export(
            src.session,
            table_arn=str(schema.description["TableArn"]),
            bucket=url.bucket,
            prefix=prefix,
            bucket_owner=owner,
            sse=staging.sse,
            kms_key=staging.sse_kms_key_id,
        )
        ledger.set(native_export_arn=arn)
    description = native_paths.wait_native_export(src.session, arn, clock=clock, timeout=86400.0)
    folder = native_paths.find_export_dir(dst.session, description, bucket_owner=owner)
    return folder[len(url.prefix) + 1 :] if url.prefix else folder


def _native_import(
    dst: Account,
    *,
    url: StoreURL,
    owner: str | None,
    schema: TableSchema,
    plan: SourcePlan,
    options: MigrateOptions,
    clock: SystemClock,
) -> int:
    """ImportTable from the export's data files, then what ImportTable cannot set."""
    request = create_table_request(
        schema, table_name=options.dest_table, dest_kms_key_id=options.dest_kms_key_id
    )
    folder = "/".join(p for p in (url.prefix, plan.folder) if p)
    arn = native_paths.start_native_import(
        dst.session,
        bucket=url.bucket,
        key_prefix=native_paths.data_prefix_of(folder),
        bucket_owner=owner,
        input_format="ION" if plan.format == "native-ion" else "DYNAMODB_JSON",
        compression="GZIP",
        create_request=request,
    )
    done = native_paths.wait_native_import(
        dst.session, arn, clock=clock, timeout=86400.0, expected_items=plan.total_items
    )
    native_paths.apply_after_import(dst.admin, options.dest_table, schema, clock=clock)
    return int(done.get("ImportedItemCount", 0))


def open_ledger(
    store: Store,
    *,
    command: str,
    plan: Mapping[str, object],
    run_id: str | None,
    clock: SystemClock,
    observer: Observer,
    lock: PlanLock,
) -> Ledger:
    """Continue the run named, or the unfinished run of the same command; else start one.
    Chosen under the plan's ``lock`` (so two runs never choose at once), which the ledger
    holds from here and releases with the run; released here if this fails."""
    try:
        ledger = _chosen_run(store, command=command, plan=plan, run_id=run_id, clock=clock)
        ledger.hold(lock)
    except BaseException:
        lock.release()
        raise
    if ledger.started:
        observer.message(f"resuming run {ledger.run_id} ({ledger.url})")
    return ledger


def _chosen_run(
    store: Store,
    *,
    command: str,
    plan: Mapping[str, object],
    run_id: str | None,
    clock: SystemClock,
) -> Ledger:
    found = check_run_id(run_id) if run_id else find_unfinished(store, command=command, plan=plan)
    ledger = Ledger(store, found or new_run_id(clock, uuid.uuid4().hex[:8]), clock)
    if found:
        ledger.load()
        # A run named by id continues with this command's sides and staging (see resume).
        ledger.check_plan(plan, ignore=RESUMER_DECIDES[command] if run_id else ())
        if ledger.run.get("finished"):
            raise ConfigError(f"run {found!r} already finished", hint="start a new run instead")
    else:
        ledger.prepare(command=command, plan=plan)
    return ledger


def copy_schema(
    *,
    source: Side,
    dest: Side,
    source_table: str,
    dest_table: str,
    dest_kms_key_id: str | None = None,
    observer: Observer | None = None,
    settings: frozenset[str] = settings_opt.ALL,
    strict_settings: bool = False,
) -> str:
    """Create ``dest_table`` like ``source_table`` (or check the existing one); the optional
    ``settings`` best effort unless ``strict_settings`` (as ``migrate``)."""
    src, dst = Account(source, "source"), Account(dest, "destination")
    schema = pipeline.read_source(src.admin, source_table, src.label)
    observer = observer or NullObserver()
    return pipeline.ensure_table(
        dst.admin,
        source=schema,
        existing=dst.admin.read_schema(dest_table),
        table_name=dest_table,
        dest_kms_key_id=dest_kms_key_id,
        observer=observer,
        settings=settings,
        log=settings_opt.SettingsLog(observer, strict=strict_settings),
    )


def export(
    *,
    source: Side,
    table: str,
    staging: StagingOptions,
    segments: int | None = None,
    workers: int | None = None,
    threads: int = DEFAULT_THREADS,
    part_max_items: int = 100_000,
    format: Format = "native-json",
    compression: Compression = "gzip",
    compression_level: int | None = None,
    throughput: ThroughputOptions | None = None,
    run_id: str | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> ExportResult:
    """Export ``table`` to ``staging``: the native export layout (DYNAMODB_JSON or ION), or
    a Data Pipeline backup. A stopped export continues when called again the same way.

    ``workers`` and ``threads`` size the local engine; ``engine`` may choose Spark."""
    observer = observer or NullObserver()
    throughput = throughput or ThroughputOptions()
    engine = engine or EngineChoice()
    workers = default_workers() if workers is None else workers
    engine_preflight(engine, [staging.url], workers=workers, threads=threads)
    check_level(compression, compression_level)
    src = Account(source, "source")
    schema = pipeline.read_source(src.admin, table, src.label)
    owner = _owner_for(staging, src)  # the caller's own bucket unless --bucket-owner says
    store = src.store(_with_acl(staging, owner, asker=_foreign(staging, src)), owner=owner)
    pipeline.run_checks(_store_checks(store, role="source", write=True), observer)
    clock = SystemClock()
    plan = {
        "source": _side_plan(source),
        "table": table,
        "staging": staging.url,
        "segments": segments,
        "part_max_items": part_max_items,
        "format": format,
        "compression": compression,
    }
    runner = open_engine(
        engine,
        workers=workers,
        threads=threads,
        locations=[staging.url],
        sides=[src],
        observer=observer,
    )
    workers = runner.workers if engine.spark else workers
    try:
        lock = take_lock(store, command="export", plan=plan, run_id=run_id, clock=clock)
        ledger = open_ledger(
            store,
            command="export",
            plan=plan,
            run_id=run_id,
            clock=clock,
            observer=observer,
            lock=lock,
        )
    except BaseException:
        runner.close()
        raise
    bind_run(observer, ledger.run_id)  # an interrupted export names its run
    size = int(schema.description.get("TableSizeBytes", 0))
    chosen = int(
        ledger.run.get("segments") or segments or pipeline.default_segments(size, workers * threads)
    )
    export_id = str(ledger.run.get("export_id") or new_export_id(clock.now_ms()))
    ledger.set(segments=chosen, export_id=export_id)
    observer.message(f"run {ledger.run_id} ({ledger.url})")
    budget = make_budgets(schema, None, throughput, clock)
    for note in [*budget.notes[:1], *task_shares(runner, {"source reads": budget.source_read})]:
        observer.message(note)
    try:
        ledger.step("export", "running")
        result = export_table(
            reader=src.reader(table),
            schema=schema,
            store=store,
            options=ExportOptions(
                segments=chosen,
                workers=workers,
                part_max_items=part_max_items,
                format=format,
                compression=compression,
                compression_level=compression_level,
            ),
            clock=clock,
            observer=observer,
            budget=budget.source_read,
            ledger=ledger,
            export_id=export_id,
            engine=runner,
        )
        ledger.step("export", "done")
        ledger.finish()
        return result
    finally:
        runner.close()
        ledger.release()


def import_(
    *,
    dest: Side,
    source_url: str,
    table: str,
    export_id: str | None = None,
    format: str | None = None,
    into_existing: bool = False,
    bucket_owner: str | None = None,
    workers: int | None = None,
    threads: int = DEFAULT_THREADS,
    max_rejects: int = 0,
    throughput: ThroughputOptions | None = None,
    run_id: str | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
    allow_unverified_capacity: bool = False,
    settings: frozenset[str] = settings_opt.ALL,
    strict_settings: bool = False,
) -> ImportResult:
    """Import what ``source_url`` holds (a native export, the prefix above exports, a Data
    Pipeline backup of either generation, or one data file) into ``table``.

    A missing table is created from the schema a ddbmigrate export carries (printed first;
    provisioned capacity above 12,000 RCU / 4,000 WCU from a table file no checksum covers
    needs ``allow_unverified_capacity``; its optional ``settings`` are best effort unless
    ``strict_settings``, as in ``migrate``). Rejects are
    recorded under ``ddbmigrate/runs/<run-id>/`` beside the source. ``workers`` and
    ``threads`` size the local engine; ``engine`` may choose Spark.
    """
    observer = observer or NullObserver()
    engine = engine or EngineChoice()
    workers = default_workers() if workers is None else workers
    engine_preflight(engine, [source_url], workers=workers, threads=threads)
    dst = Account(dest, "destination")
    store, single = _source_store(dst, source_url, bucket_owner)
    plan = detect(store, export_id=export_id, format=format, single_file=single)
    observer.message(f"detected {plan.describe(store.root)}")
    for name in plan.stray:
        observer.message(f"ignored, not in the backup's manifest: {name}")
    if plan.schema is not None and not plan.schema_checked:
        observer.message(
            f"warning: {TABLE_FILE} is not covered by the export's checksums (an export by an "
            "older ddbmigrate): its table description is used unchecked"
        )
    run_plan: dict[str, object] = {
        "dest": _side_plan(dest),
        "source": source_url,
        "table": table,
        "export_id": export_id,
        "format": plan.format,
    }
    lock = take_lock(store, command="import", plan=run_plan, run_id=run_id, clock=SystemClock())
    try:
        runner = open_engine(
            engine,
            workers=workers,
            threads=threads,
            locations=[source_url],
            sides=[dst],
            observer=observer,
        )
    except BaseException:
        lock.release()
        raise
    try:
        return _import_with(
            runner,
            dst=dst,
            store=store,
            plan=plan,
            table=table,
            run_plan=run_plan,
            lock=lock,
            run_id=run_id,
            into_existing=into_existing,
            max_rejects=max_rejects,
            throughput=throughput or ThroughputOptions(),
            observer=observer,
            allow_unverified_capacity=allow_unverified_capacity,
            settings=settings,
            strict_settings=strict_settings,
        )
    finally:
        runner.close()
        lock.release()


def _import_with(
    runner: ThreadEngine | ProcessEngine | SparkEngine,
    *,
    dst: Account,
    store: Store,
    plan: SourcePlan,
    table: str,
    run_plan: dict[str, object],
    lock: PlanLock,
    run_id: str | None,
    into_existing: bool,
    max_rejects: int,
    throughput: ThroughputOptions,
    observer: Observer,
    allow_unverified_capacity: bool = False,
    settings: frozenset[str] = settings_opt.ALL,
    strict_settings: bool = False,
) -> ImportResult:
    """The table made ready (created, or checked empty), then the files written on ``runner``.

    The ledger is opened first: the source it resolved and the table it creates are pinned
    in it before CreateTable, so a resume refuses a changed source and finishes the table."""
    existing = dst.admin.read_schema(table)
    clock = SystemClock()
    ledger = open_ledger(
        store,
        command="import",
        plan=run_plan,
        run_id=run_id,
        clock=clock,
        observer=observer,
        lock=lock,
    )
    bind_run(observer, ledger.run_id)  # an interrupted import names its run
    try:
        # A stopped import of the same source into the same table: its items may be there.
        if existing is not None and not ledger.started:
            ensure_empty(dst.reader(table), into_existing=into_existing, flag="--into-existing")
        if plan.schema is not None and existing is None and not ledger.run.get(TABLE_PIN):
            check_capacity(
                TableTarget.of(plan.schema, table_name=table),
                checked=plan.schema_checked,
                allowed=allow_unverified_capacity,
                table_file=f"{store.root.rstrip('/')}/{plan.folder}/{TABLE_FILE}",
            )
        pin_source(ledger, store, plan, observer)
        described = _ready_table(
            dst,
            plan=plan,
            table=table,
            existing=existing,
            ledger=ledger,
            observer=observer,
            log=settings_opt.SettingsLog(observer, strict=strict_settings),
            settings=settings,
        )
        return _import_files(
            runner,
            table=table,
            dst=dst,
            store=store,
            plan=plan,
            described=described,
            ledger=ledger,
            max_rejects=max_rejects,
            throughput=throughput,
            clock=clock,
            observer=observer,
        )
    finally:
        ledger.release()


def _ready_table(
    dst: Account,
    *,
    plan: SourcePlan,
    table: str,
    existing: TableSchema | None,
    ledger: Ledger,
    observer: Observer,
    log: settings_opt.SettingsLog,
    settings: frozenset[str],
) -> TableSchema:
    """The destination, created from the export's table description when it is absent, with
    the optional ``settings`` (best effort, or strict as ``log`` says)."""
    if plan.schema is not None:
        observer.message(
            pipeline.ensure_table(
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


def _import_files(
    runner: ThreadEngine | ProcessEngine | SparkEngine,
    *,
    table: str,
    dst: Account,
    store: Store,
    plan: SourcePlan,
    described: TableSchema,
    ledger: Ledger,
    max_rejects: int,
    throughput: ThroughputOptions,
    clock: SystemClock,
    observer: Observer,
) -> ImportResult:
    budgets = make_budgets(described, described, throughput, clock)
    observer.message(budgets.notes[1])
    for note in task_shares(runner, {"dest writes": budgets.dest_write}):
        observer.message(note)
    ledger.step("import", "running")
    observer.message(f"run {ledger.run_id} ({ledger.url})")
    result = import_source(
        store=store,
        plan=plan,
        writer=dst.writer(table),
        key=KeySchema.from_description(described.description),
        options=ImportOptions(workers=runner.workers),
        rejects=RejectLog(store, ledger.dir, max_rejects=max_rejects),
        clock=clock,
        observer=observer,
        budget=budgets.dest_write,
        ledger=ledger,
        engine=runner,
    )
    ledger.step("import", "done")
    ledger.finish()
    return result


def _source_store(account: Account, url: str, flag: str | None) -> tuple[Store, str | None]:
    """The store to read SOURCE from, and the file name when SOURCE is one data file."""
    staging = StagingOptions(url=url, bucket_owner=flag)
    owner = _owner_for(staging, account)
    staging = _with_acl(staging, owner, asker=_foreign(staging, account))
    parsed = StoreURL.parse(url)
    parent, _, name = url.rstrip("/").rpartition("/")
    if url.endswith("/") or not name or not parent or parent in ("s3:", "s3:/"):
        return account.store(staging, owner=owner), None
    if parsed.scheme == "file":
        if Path(parsed.prefix).is_file():
            return LocalStore(str(Path(parsed.prefix).parent)), name
        return account.store(staging, owner=owner), None
    parent_store = account.store(replace(staging, url=parent), owner=owner)
    if parent_store.exists(name):
        return parent_store, name
    return account.store(staging, owner=owner), None


def validate(
    *,
    source: Side,
    dest: Side,
    source_table: str,
    dest_table: str,
    segments: int | None = None,
    workers: int | None = None,
    threads: int = DEFAULT_THREADS,
    consistent_read: bool = False,
    throughput: ThroughputOptions | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> ValidationReport:
    """Compare two tables item by item through digests, each read within its budget.

    ``workers`` and ``threads`` size the local engine; ``engine`` may choose Spark."""
    observer = observer or NullObserver()
    engine = engine or EngineChoice()
    workers = default_workers() if workers is None else workers
    engine_preflight(engine, [], workers=workers, threads=threads)
    src, dst = Account(source, "source"), Account(dest, "destination")
    src_schema = pipeline.read_source(src.admin, source_table, src.label)
    dst_schema = pipeline.read_source(dst.admin, dest_table, dst.label, role="destination")
    check_compatible(source=src_schema, dest=dst_schema, dest_flag="--dest-table")
    clock = SystemClock()
    limits = make_budgets(src_schema, dst_schema, throughput or ThroughputOptions(), clock)
    runner = open_engine(
        engine, workers=workers, threads=threads, locations=[], sides=[src, dst], observer=observer
    )
    workers = runner.workers if engine.spark else workers
    reads = {"source reads": limits.source_read, "dest reads": limits.dest_read}
    for note in task_shares(runner, reads):
        observer.message(note)
    with runner:
        return validate_tables(
            source=src.reader(source_table),
            dest=dst.reader(dest_table),
            key=KeySchema.from_description(src_schema.description),
            options=ValidateOptions(
                segments=segments or workers * threads, consistent_read=consistent_read
            ),
            clock=clock,
            observer=observer,
            budgets=(limits.source_read, limits.dest_read),
            engine=runner,
        )


RESUMER_DECIDES: dict[str, tuple[str, ...]] = {
    "migrate": ("source", "dest", "staging"),
    "export": ("source", "staging"),
    "import": ("dest",),
}
"""Plan entries a resume takes from the resuming command, never from the run's record:
the record lives in the staging store, which the source role can rewrite (and the plan
hash is an unkeyed digest anyone recomputes), so it must not choose endpoints, roles or
where the export goes."""


def _side_notices(
    command: str, plan: Mapping[str, Any], sides: Mapping[str, Side], staging: str
) -> list[str]:
    """One line per side (or staging) the resuming command sets differently from the record."""
    lines: list[str] = []
    for key in RESUMER_DECIDES[command]:
        if key == "staging":
            if str(plan.get(key, "")).rstrip("/") != staging.rstrip("/"):
                lines.append(
                    f"note: the run recorded staging {plan.get(key)!r}; "
                    f"this command's {staging!r} is used"
                )
            continue
        recorded = plan.get(key) if isinstance(plan.get(key), dict) else {}
        used = _side_plan(sides[key])
        differ = [f for f in used if (recorded or {}).get(f) != used[f]]
        if differ:
            was = ", ".join(f"{f}={(recorded or {}).get(f) or '(none)'}" for f in differ)
            now = ", ".join(f"{f}={used[f] or '(none)'}" for f in differ)
            lines.append(
                f"note: the run recorded {key} {was}; this command's {now} is used "
                "(a resume takes endpoints and roles from its own flags, config and env)"
            )
    return lines


def _resumed_what(command: str, plan: Mapping[str, Any]) -> str:
    """What the record says the run moves (table names are taken from it): printed."""
    if command == "migrate":
        return (
            f"source table {plan.get('source_table')!r} -> destination table "
            f"{plan.get('dest_table')!r}"
        )
    if command == "export":
        return f"source table {plan.get('table')!r}"
    return f"SOURCE {plan.get('source')} -> destination table {plan.get('table')!r}"


def run_store(staging: StagingOptions, side: Side) -> Store:
    """The store holding the runs of ``staging`` (read with ``side``'s credentials), owned
    by ``side``'s account unless --bucket-owner names another."""
    account = Account(side, "staging")
    owner = _owner_for(staging, account)
    return account.store(_with_acl(staging, owner, asker=_foreign(staging, account)), owner=owner)


def _foreign(staging: StagingOptions, writer: Account) -> Account | None:
    """Who reads the bucket's Object Ownership when ``writer`` may not own the bucket: the
    writer itself when --bucket-owner names an account; None (no ACL) when the bucket is the
    writer's own by default."""
    return writer if staging.bucket_owner else None


def status(*, staging: StagingOptions, side: Side, run_id: str | None = None) -> list[RunStatus]:
    """The runs recorded under ``staging`` (or one of them), with their progress."""
    store = run_store(staging, side)
    runs, damaged = scan_runs(store)
    found = [run_status(store, run, SystemClock()) for run in runs]
    found += [RunStatus.of_damaged(name, error) for name, error in damaged.items()]
    found.sort(key=lambda s: s.run_id)
    if run_id is not None:
        found = [s for s in found if s.run_id == run_id]
        if not found:
            raise NotFoundError(f"no run {run_id!r} under {store.root}")
    return found


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
    plan = run["plan"]
    command = run["command"]
    if command not in RESUMER_DECIDES:
        raise ConfigError(f"run {run_id!r} is a {command!r} run, which resume cannot continue")
    for line in _side_notices(command, plan, {"source": source, "dest": dest}, staging.url):
        observer.message(line)
    observer.message(f"resuming {command} run {run_id}: {_resumed_what(command, plan)}")
    if command == "migrate":
        return migrate(
            source=source,
            dest=dest,
            staging=staging,
            options=MigrateOptions(
                source_table=plan["source_table"],
                dest_table=plan["dest_table"],
                segments=plan["segments"],
                part_max_items=plan["part_max_items"],
                export_method=plan.get("export_method", "scan"),
                import_method=plan.get("import_method", "batch"),
                workers=default_workers() if workers is None else workers,
                threads=threads,
            ),
            throughput=throughput,
            run_id=run_id,
            observer=observer,
            engine=engine,
        )
    if command == "export":
        return export(
            source=source,
            table=plan["table"],
            staging=staging,
            segments=plan["segments"],
            part_max_items=plan["part_max_items"],
            format=plan["format"],
            compression=plan["compression"],
            workers=workers,
            threads=threads,
            throughput=throughput,
            run_id=run_id,
            observer=observer,
            engine=engine,
        )
    return import_(
        dest=dest,
        source_url=plan["source"],
        table=plan["table"],
        export_id=plan["export_id"],
        format=plan["format"],
        bucket_owner=staging.bucket_owner,
        workers=workers,
        threads=threads,
        throughput=throughput,
        run_id=run_id,
        observer=observer,
        engine=engine,
    )


def plan_lines(
    *,
    source: Side,
    dest: Side,
    options: MigrateOptions,
    throughput: ThroughputOptions | None = None,
    prices: Prices | None = None,
    staging: StagingOptions | None = None,
) -> list[str]:
    """What ``migrate`` would do, from read-only calls: nothing is written."""
    throughput = throughput or ThroughputOptions()
    prices = prices or Prices()
    src, dst = Account(source, "source"), Account(dest, "destination")
    schema = pipeline.read_source(src.admin, options.source_table, src.label)
    existing = dst.admin.read_schema(options.dest_table)
    if existing is not None:
        check_compatible(source=schema, dest=existing, dest_flag="--dest-table")
    clock = SystemClock()
    budgets = make_budgets(schema, existing, throughput, clock)
    measured = table_size(schema.description, src.reader(options.source_table))
    desc = {**schema.description, "ItemCount": measured.items, "TableSizeBytes": measured.bytes}
    size = measured.bytes
    plan = pipeline.Plan(
        source_table=options.source_table,
        dest_table=options.dest_table,
        approx_items=int(desc.get("ItemCount", 0)),
        approx_bytes=size,
        billing_mode=billing_mode(desc),
        segments=options.segments
        or pipeline.default_segments(size, options.workers * options.threads),
        dest_exists=existing is not None,
        size_basis=measured.basis,
    )
    figures = estimate(
        desc,
        read_rate=budgets.rates[0],
        write_rate=budgets.rates[1],
        validate=options.validate,
        prices=prices,
    )
    where = [f"staging        {StoreURL.parse(staging.url).describe()}"] if staging else []
    return [*plan.lines(), *where, *budgets.notes, *figures.lines(prices)]


def cleanup(*, staging: StagingOptions, side: Side, run_id: str, force: bool = False) -> list[str]:
    """Delete a run's staging data (its export and its run folder); the keys removed. An
    unfinished run only with ``force``, never while a live process runs it."""
    return remove_run(run_store(staging, side), run_id, force=force, clock=SystemClock())


def expand_pipeline(spec: PipelineSpec) -> list[TableJob]:
    """The tables a pipeline file names, globs expanded against the source account."""
    src = Account(spec.source, "source")
    return expand_tables(spec.tables, src.admin.list_tables, file=spec.path)


def reporting_of(spec: PipelineSpec) -> Reporting:
    """The notification, report and log settings of a pipeline file."""
    return Reporting(
        notify_sns=spec.notify_sns,
        notify_webhook=spec.notify_webhook,
        notify_steps=spec.notify_steps,
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
    notifications = notifications or MultiNotifier([], on_error=observer.message)
    jobs = expand_pipeline(spec)
    concurrency = min(spec.parallel_tables, len(jobs))
    throughput = _shared_throughput(spec.throughput, concurrency)
    staging = StagingOptions(url=spec.staging, bucket_owner=spec.bucket_owner)
    clock = SystemClock()
    reports: dict[str, dict[str, Any]] = {}

    def options_of(job: TableJob) -> MigrateOptions:
        return MigrateOptions(
            source_table=job.source_table,
            dest_table=job.dest_table,
            segments=job.spec.segments,
            workers=spec.workers,
            validate=job.spec.validate and "validate" in spec.steps,
            max_rejects=spec.max_rejects if job.spec.max_rejects is None else job.spec.max_rejects,
            export_method=job.spec.export_method,
            import_method=job.spec.import_method,
            timeouts=spec.timeouts,
            settings=spec.settings,
            strict_settings=spec.strict_settings,
        )

    def finished_before(job: TableJob) -> str | None:
        plan = migrate_plan(
            source=spec.source, dest=spec.dest, staging=staging, options=options_of(job)
        )
        return _finished_run(staging, spec.dest, plan)

    def run_one(job: TableJob) -> MigrateReport:
        options = options_of(job)
        plan = migrate_plan(source=spec.source, dest=spec.dest, staging=staging, options=options)

        def attempts(events: Observer) -> MigrateReport:
            return with_step_retries(
                lambda: migrate(
                    source=spec.source,
                    dest=spec.dest,
                    staging=staging,
                    options=options,
                    throughput=throughput,
                    observer=events,
                    engine=spec.engine,
                ),
                failed_step=lambda: _running_step(staging, spec.dest, plan),
                retries=spec.retries,
            )

        result, error, report = observed(
            attempts,
            source_table=job.source_table,
            dest_table=job.dest_table,
            notifications=notifications,
            observer=Prefixed(observer, job.source_table),
            clock=clock,
        )
        reports[job.source_table] = report
        if error is not None:
            raise error
        assert result is not None  # observed returns a result or an error
        return result

    outcomes = run_tables(
        jobs,
        run_one,
        concurrency=concurrency,
        fail_fast=spec.fail_fast,
        finished_before=finished_before,
    )
    ran = [reports[job.source_table] for job in jobs if job.source_table in reports]
    return outcomes, merge_reports(ran) if ran else {}


def _shared_throughput(values: Mapping[str, float], tables: int) -> ThroughputOptions:
    """Percents apply to each table's own capacity; absolute caps are shared fairly."""
    caps = {k: v / max(1, tables) for k, v in values.items() if k in ("max_rcu", "max_wcu")}
    shares = {k: v for k, v in values.items() if k in ("read_percent", "write_percent")}
    return ThroughputOptions(**shares, **caps)


def _finished_run(staging: StagingOptions, side: Side, plan: Mapping[str, object]) -> str | None:
    """The run id when the newest run of this plan finished (nothing left to do)."""
    wanted = plan_hash(plan)
    for run in reversed(list_runs(run_store(staging, side))):
        if run.get("command") == "migrate" and run.get("plan_hash") == wanted:
            return str(run["run_id"]) if run.get("finished") else None
    return None


def _running_step(staging: StagingOptions, side: Side, plan: Mapping[str, object]) -> str | None:
    """The step an unfinished run stopped in (the ledger says 'running')."""
    store = run_store(staging, side)
    found = find_unfinished(store, command="migrate", plan=plan)
    if found is None:
        return None
    steps = Ledger(store, found, SystemClock()).load().get("steps", {})
    return next((name for name, state in steps.items() if state == "running"), None)


@dataclass(frozen=True, kw_only=True, slots=True)
class Reporting:
    """Where a run tells about itself: notifications, the report and the log."""

    notify_sns: str | None = None
    """SNS topic ARN; published to with the destination's credentials."""
    notify_webhook: str | None = None
    """URL that receives each event as a JSON POST."""
    notify_steps: bool = False
    """Also send an event when each step finishes (not only success and failure)."""
    log_location: str | None = None
    """s3:// URL or directory for report.json and run.log (one folder per run)."""
    report_html: str | None = None
    """File for the one-page HTML report."""
    bucket_owner: str | None = None


def notifier(*, dest: Side, reporting: Reporting, on_error: Callable[[str], None]) -> MultiNotifier:
    """The run's notification targets; a bad ARN or URL fails here, before anything moves."""
    targets: list[Notifier] = []
    if reporting.notify_sns:
        targets.append(SnsNotifier(Account(dest, "destination").session, reporting.notify_sns))
    if reporting.notify_webhook:
        targets.append(WebhookNotifier(reporting.notify_webhook))
    return MultiNotifier(targets, on_error=on_error, steps=reporting.notify_steps)


def observed(
    run: Callable[[Observer], MigrateReport],
    *,
    source_table: str,
    dest_table: str,
    notifications: MultiNotifier,
    observer: Observer,
    clock: SystemClock,
) -> tuple[MigrateReport | None, DdbMigrateError | None, dict[str, Any]]:
    """Run one table's migration, then notify (success or failure) and build its report.

    Notification and report problems never change the outcome: they become warnings.
    """
    recorder = RateRecorder(observer, clock)
    events = RunNotifications(
        recorder, notifications, source_table=source_table, dest_table=dest_table, clock=clock
    )
    result: MigrateReport | None = None
    error: DdbMigrateError | None = None
    try:
        result = run(events)
    except DdbMigrateError as exc:
        error = exc
    bad = outcome_of(result) if result is not None else None
    if error is not None or bad is not None:
        events.failed(error or bad)  # type: ignore[arg-type]
    elif result is not None:
        events.succeeded(migrate_counts(result))
    report = build_report(
        recorder=recorder,
        source_table=source_table,
        dest_table=dest_table,
        finished_at=clock.now_iso(),
        result=result,
        error=error,
    )
    return result, error, report


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report for many tables: every table, and each table's series under its name."""
    if len(reports) == 1:
        return reports[0]
    series: dict[str, Any] = {}
    for report in reports:
        table = report["tables"][0]["source_table"]
        for step, points in report["series"]["items_per_s"].items():
            series[f"{table} {step}"] = points
    failed = [r for r in reports if r["outcome"] != "success"]
    return {
        **reports[0],
        "run_id": ", ".join(str(r["run_id"]) for r in reports if r.get("run_id")),
        "outcome": "failure" if failed else "success",
        "started_at": min(str(r["started_at"]) for r in reports),
        "finished_at": max(str(r["finished_at"]) for r in reports),
        "duration_s": max(float(r["duration_s"]) for r in reports),
        "error": failed[0]["error"] if failed else None,
        "tables": [t for r in reports for t in r["tables"]],
        "series": {"interval_s": reports[0]["series"]["interval_s"], "items_per_s": series},
    }


def publish_report(
    report: dict[str, Any],
    *,
    reporting: Reporting,
    side: Side,
    log_text: str,
    clock: SystemClock,
    warn: Callable[[str], None],
) -> list[str]:
    """Write the HTML report and upload report.json and run.log; problems become warnings."""
    written: list[str] = []
    try:
        if reporting.report_html:
            Path(reporting.report_html).write_text(render_html(report), encoding="utf-8")
            written.append(reporting.report_html)
        if reporting.log_location:
            store = run_store(
                StagingOptions(url=reporting.log_location, bucket_owner=reporting.bucket_owner),
                side,
            )
            folder = str(report.get("run_id") or f"no-run-{clock.now_ms()}").split(",")[0]
            keys = write_report_files(report, store, folder, log_text=log_text)
            written += [f"{store.root.rstrip('/')}/{k}" for k in keys]
    except (DdbMigrateError, OSError) as exc:
        warn(f"the report could not be written: {exc}")
    return written


def policy_documents(
    *,
    source: Side,
    dest: Side,
    source_tables: list[str],
    dest_tables: list[str] | None,
    staging: StagingOptions,
    source_account: str | None = None,
    dest_account: str | None = None,
    export_method: str = "scan",
    import_method: str = "batch",
    validate: bool = True,
    dest_kms_key_id: str | None = None,
) -> dict[str, policies.PolicyDocument]:
    """The least-privilege policies a migration needs, ARNs filled in; STS is asked for an
    account id only when neither a flag nor a role ARN gives it."""
    src, dst = Account(source, "source"), Account(dest, "destination")
    # Accounts known from flags or role ARNs need no credentials (the roles may not exist yet).
    dest_account = dest_account or staging.bucket_owner or policies.account_in_arn(dest.role_arn)
    plan = policies.PolicyPlan.for_staging(
        staging.url,
        source_account=source_account
        or policies.account_in_arn(source.role_arn)
        or src.session.account_id(),
        dest_account=dest_account or dst.session.account_id(),
        source_region=side_region(source),
        dest_region=side_region(dest),
        source_tables=tuple(source_tables),
        dest_tables=tuple(dest_tables or source_tables),
        source_role_arn=source.role_arn,
        export_method=export_method,
        import_method=import_method,
        validate=validate,
        sse=staging.sse,
        sse_kms_key_id=staging.sse_kms_key_id,
        dest_kms_key_id=dest_kms_key_id,
        bucket_owner_from_sts=staging.bucket_owner is None,
    )
    return policies.policies(plan)
