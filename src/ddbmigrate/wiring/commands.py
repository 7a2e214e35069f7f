"""The commands that move or compare tables, wired: sides, stores, engine, run scope; the
work itself is ``pipeline.migrate`` and the ``steps`` it is made of."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from ddbmigrate import pipeline, policies
from ddbmigrate import settings as settings_opt
from ddbmigrate.aws.session import side_region
from ddbmigrate.capacity import ThroughputOptions, make_budgets, task_shares
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.estimate import Prices, estimate
from ddbmigrate.model import KeySchema, StoreURL
from ddbmigrate.options import ValidateOptions
from ddbmigrate.pipeline import MigrateOptions, MigrateReport
from ddbmigrate.plans import ExportMethod, ImportMethod, MigratePlan, SidePlan
from ddbmigrate.ports import NullObserver, Observer, Store, TableSchema
from ddbmigrate.schema import check_compatible
from ddbmigrate.sizing import table_size
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.live import LiveSource, retention_lines
from ddbmigrate.steps.preflight import Plan, read_source
from ddbmigrate.steps.schema import ensure_table
from ddbmigrate.steps.validate import validate_step
from ddbmigrate.validator import ValidateOptions as CompareOptions
from ddbmigrate.validator import ValidationReport
from ddbmigrate.wiring.accounts import (
    Account,
    StagingOptions,
    foreign,
    owner_for,
    store_checks,
    with_acl,
)
from ddbmigrate.wiring.bulk import (
    boost_request,
    bulk_plan,
    bulk_step,
    check_bulk_location,
    import_rows,
)
from ddbmigrate.wiring.engines import EngineRequest
from ddbmigrate.wiring.live import BridgeTo, live_source
from ddbmigrate.wiring.managed import managed_paths
from ddbmigrate.wiring.scope import run_scope


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
    request = _migrate_request(engine, options, staging)
    src, dst = Account(source, "source"), Account(dest, "destination")
    stores = _migrate_stores(src, dst, staging)
    checks = store_checks(stores.export, role="source", write=True)
    checks += store_checks(stores.import_, role="destination", write=False)
    clock = SystemClock()
    plan = migrate_plan(source=source, dest=dest, staging=staging, options=options)
    with run_scope(
        request,
        store=stores.export,
        plan=plan,
        run_id=run_id,
        sides=[src, dst],
        observer=observer,
        clock=clock,
    ) as scope:
        options = replace(options, workers=scope.workers)  # Spark: segments follow its tasks
        return pipeline.migrate(
            source=src.handles(),
            dest=dst.handles(),
            export_store=stores.export,
            import_store=stores.import_,
            checks=checks,
            options=options,
            clock=clock,
            ledger=scope.ledger,
            throughput=throughput or ThroughputOptions(),
            managed=_managed(
                (src, dst), stores, scope.ledger, staging=staging, options=options, clock=clock
            ),
            observer=observer,
            engine=scope.engine,
            live=_live(
                (src, dst),
                stores,
                scope.ledger.run_id,
                staging=staging,
                options=options,
                clock=clock,
            ),
        )


def _live(
    accounts: tuple[Account, Account],
    stores: _Stores,
    run_id: str,
    *,
    staging: StagingOptions,
    options: MigrateOptions,
    clock: SystemClock,
) -> LiveSource | None:
    """A live run's source stream, bridged through the run's staging past 24 hours."""
    if not options.live:
        return None
    src, dst = accounts
    table = options.source_table
    bridge = BridgeTo(table, staging, dst, stores.import_, stores.owner, run_id, clock)
    return live_source(src, bridge)


def _managed(
    accounts: tuple[Account, Account],
    stores: _Stores,
    ledger: Ledger,
    *,
    staging: StagingOptions,
    options: MigrateOptions,
    clock: SystemClock,
) -> pipeline.ManagedPaths:
    """AWS's managed export and import, the bulk import (``--import-method bulk``) and the
    boosts the options ask for."""
    src, dst = accounts
    owner = stores.owner
    managed = managed_paths(src, dst, staging=staging, owner=owner, options=options, clock=clock)
    bulk = None
    if options.import_method == "bulk":
        bulk = bulk_step(dst, options.bulk, owner=owner, staging=staging)
    return replace(
        managed,
        bulk=bulk,
        boost_dest=boost_request(
            ledger, dst, side="dest", table=options.dest_table, units=options.boost
        ),
        boost_source=boost_request(
            ledger, src, side="source", table=options.source_table, units=options.boost_source
        ),
    )


@dataclass(frozen=True, slots=True)
class _Stores:
    """A migration's staging, as each side writes and reads it."""

    export: Store
    import_: Store
    owner: str | None


def _migrate_stores(src: Account, dst: Account, staging: StagingOptions) -> _Stores:
    """The source writes into the destination's bucket; the destination (its owner) reads
    the bucket's Object Ownership. The destination writes there as the owner."""
    owner = owner_for(staging, dst)
    export_store = src.store(with_acl(staging, owner, asker=dst), owner=owner)
    import_store = dst.store(with_acl(staging, owner, asker=foreign(staging, dst)), owner=owner)
    return _Stores(export_store, import_store, owner)


def _migrate_request(
    engine: EngineChoice | None, options: MigrateOptions, staging: StagingOptions
) -> EngineRequest:
    """The engine a migrate asks for, checked with its staging (bulk needs S3) before any
    AWS call."""
    request = EngineRequest.checked(
        engine, workers=options.workers, threads=options.threads, locations=[staging.url]
    )
    if options.import_method == "bulk":
        check_bulk_location(staging.url)
    return request


def migrate_plan(
    *, source: Side, dest: Side, staging: StagingOptions, options: MigrateOptions
) -> MigratePlan:
    """The options that make two migrate commands the same run."""
    return MigratePlan(
        source=SidePlan.of(source),
        dest=SidePlan.of(dest),
        staging=staging.url,
        source_table=options.source_table,
        dest_table=options.dest_table,
        segments=options.segments,
        part_max_items=options.part_max_items,
        export_method=cast(ExportMethod, options.export_method),  # MigrateOptions checked it
        import_method=cast(ImportMethod, options.import_method),
        bulk=bulk_plan(options.import_method, options.bulk),
        live=options.live,
    )


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
    schema = read_source(src.admin, source_table, src.label)
    observer = observer or NullObserver()
    return ensure_table(
        dst.admin,
        source=schema,
        existing=dst.admin.read_schema(dest_table),
        table_name=dest_table,
        dest_kms_key_id=dest_kms_key_id,
        observer=observer,
        settings=settings,
        log=settings_opt.SettingsLog(observer, strict=strict_settings),
    )


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
    boost: bool = False,
    boost_source: bool = False,
    live: bool = False,
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
        live=live,
        sse=staging.sse,
        sse_kms_key_id=staging.sse_kms_key_id,
        dest_kms_key_id=dest_kms_key_id,
        bucket_owner_from_sts=staging.bucket_owner is None,
        boost=boost,
        boost_source=boost_source,
    )
    return policies.policies(plan)


def validate(
    *,
    source: Side,
    dest: Side,
    options: ValidateOptions,
    throughput: ThroughputOptions | None = None,
    observer: Observer | None = None,
    engine: EngineChoice | None = None,
) -> ValidationReport:
    """Compare two tables item by item through digests, each read within its budget.

    ``options.workers`` and ``threads`` size the local engine; ``engine`` may choose Spark."""
    observer = observer or NullObserver()
    request = EngineRequest.checked(
        engine, workers=options.workers, threads=options.threads, locations=[]
    )
    src, dst = Account(source, "source"), Account(dest, "destination")
    src_schema = read_source(src.admin, options.source_table, src.label)
    dst_schema = read_source(dst.admin, options.dest_table, dst.label, role="destination")
    check_compatible(source=src_schema, dest=dst_schema, dest_flag="--dest-table")
    clock = SystemClock()
    limits = make_budgets(src_schema, dst_schema, throughput or ThroughputOptions(), clock)
    runner = request.open([src, dst], observer)
    reads = {"source reads": limits.source_read, "dest reads": limits.dest_read}
    for note in task_shares(runner, reads):
        observer.message(note)
    with runner:
        ctx = RunContext(clock=clock, observer=observer, engine=runner, budgets=limits)
        return validate_step(
            ctx,
            source=src.reader(options.source_table),
            dest=dst.reader(options.dest_table),
            key=KeySchema.from_description(src_schema.description),
            options=CompareOptions(
                segments=options.segments or request.workers_of(runner) * options.threads,
                consistent_read=options.consistent_read,
            ),
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
    """What ``migrate`` would do, from read-only calls: nothing is written (a table that
    DescribeTable says is empty is sized from a bounded sample, ``sizing``)."""
    throughput = throughput or ThroughputOptions()
    prices = prices or Prices()
    src, dst = Account(source, "source"), Account(dest, "destination")
    schema = read_source(src.admin, options.source_table, src.label)
    existing = dst.admin.read_schema(options.dest_table)
    if existing is not None:
        check_compatible(source=schema, dest=existing, dest_flag="--dest-table")
    budgets = make_budgets(schema, existing, throughput, SystemClock())
    measured = table_size(schema.description, src.reader(options.source_table))
    plan = Plan.of(
        schema,
        source_table=options.source_table,
        dest_table=options.dest_table,
        segments=options.segments,
        parallel=options.workers * options.threads,
        dest_exists=existing is not None,
        size=measured,
    )
    sized = {**schema.description, "ItemCount": measured.items, "TableSizeBytes": measured.bytes}
    figures = estimate(
        sized,
        read_rate=budgets.rates[0],
        write_rate=budgets.rates[1],
        validate=options.validate,
        prices=prices,
    )
    where = [f"staging        {StoreURL.parse(staging.url).describe()}"] if staging else []
    rows = import_rows(
        dst,
        sized,
        dest_description=existing.description if existing is not None else None,
        options=options,
        write_rate=budgets.rates[1],
        prices=prices,
    )
    live = _live_lines(schema, sized, budgets.rates) if options.live else []
    return [*plan.lines(), *where, *budgets.notes, *figures.lines(prices), *rows, *live]


def _live_lines(
    schema: TableSchema, sized: dict[str, Any], rates: tuple[float, float]
) -> list[str]:
    """``plan --live``: the stream's 24 hours against the copy's estimate, and the bridge."""
    read, write = rates
    copy = estimate(sized, read_rate=read, write_rate=write, validate=False, prices=Prices())
    return retention_lines(pitr=schema.pitr_enabled, copy_seconds=copy.seconds)
