"""A live run after its import, wired: ``sync`` follows the source's stream (resumed from
the checkpoints), ``cutover`` proves the replay caught up and validates. Both open the run
by id under its plan's lock, with the sides and staging of the command that runs them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ddbmigrate.aws.change_exports import AwsChangeExports
from ddbmigrate.aws.streams import DynamoStreams
from ddbmigrate.capacity import ThroughputOptions, make_budgets
from ddbmigrate.checkpoint import Ledger, check_run_id
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.engines.base import DEFAULT_THREADS, Engine, ThreadEngine
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.errors import ConfigError
from ddbmigrate.live import Replay, ReplayStatus, StreamStart, cutover, recorded_start
from ddbmigrate.model import KeySchema, StoreURL
from ddbmigrate.notify import EventError, LiveEvents, MultiNotifier, RunNotifications, notifying
from ddbmigrate.plans import MigratePlan, plan_of
from ddbmigrate.ports import Clock, NullObserver, Observer, Store, TableSchema
from ddbmigrate.report import bind_run
from ddbmigrate.steps.context import RunContext
from ddbmigrate.steps.live import REPLAY_STEP, LiveSource, follow, replay_of, status_line
from ddbmigrate.steps.preflight import read_source
from ddbmigrate.steps.validate import validate_step
from ddbmigrate.validator import ValidateOptions, ValidationReport
from ddbmigrate.wiring.accounts import Account, StagingOptions, owner_for, run_store
from ddbmigrate.wiring.engines import EngineRequest
from ddbmigrate.wiring.scope import held_run

CUTOVER_TIMEOUT = 900.0
"""Seconds the sentinel and the drain may take before the cutover stops (resumable)."""


def live_source(account: Account, bridge: BridgeTo | None = None) -> LiveSource:
    """The source's stream on AWS; with ``bridge`` (an s3:// staging), the incremental
    exports that close a gap in it (ADR 32, 45)."""
    streams = DynamoStreams(account.session)
    if bridge is None or StoreURL.parse(bridge.staging.url).scheme != "s3":
        return LiveSource(streams)  # AWS exports to S3 only: a gap stops the replay
    url = StoreURL.parse(bridge.staging.url)
    exports = AwsChangeExports(
        account.session,
        bridge.reader.session,
        table=bridge.table,
        bucket=url.bucket,
        prefix=url.prefix,
        run_id=bridge.run_id,
        clock=bridge.clock,
        bucket_owner=bridge.owner,
        sse=bridge.staging.sse,
        kms_key=bridge.staging.sse_kms_key_id,
    )
    return LiveSource(streams, exports=exports, staging=bridge.store)


@dataclass(frozen=True, slots=True)
class BridgeTo:
    """Where a live run's bridge exports go and who reads them back."""

    table: str
    """The source table."""
    staging: StagingOptions
    reader: Account
    """The destination: it owns the staging bucket (unless --bucket-owner says) and reads
    the exports back, as ``--export-method native`` does."""
    store: Store
    """``staging`` as ``reader`` reads it."""
    owner: str | None
    """The staging bucket's owner (``wiring.accounts.owner_for``): S3BucketOwner."""
    run_id: str
    clock: Clock


@dataclass(frozen=True, slots=True)
class CutoverReport:
    """What a cutover did: the replay's final standing and the validation."""

    run_id: str
    status: ReplayStatus
    validation: ValidationReport
    stream_disabled: bool
    """The stream was enabled by this run and is now disabled again."""

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "replay": self.status.to_dict(),
            "validation": self.validation.to_dict(),
            "stream_disabled": self.stream_disabled,
        }


@dataclass(frozen=True, slots=True)
class _LiveRun:
    """An open live run: its plan, context and both sides."""

    plan: MigratePlan
    ctx: RunContext
    src: Account
    dst: Account
    schema: TableSchema
    start: StreamStart
    staging: StagingOptions
    store: Store
    """The run's staging, as the destination reads it."""


def sync(
    *,
    run_id: str,
    staging: StagingOptions,
    source: Side,
    dest: Side,
    throughput: ThroughputOptions | None = None,
    until_caught_up: bool = False,
    stop: threading.Event | None = None,
    observer: Observer | None = None,
    notifications: MultiNotifier | None = None,
    engine: EngineChoice | None = None,
) -> ReplayStatus:
    """Follow a live run's stream into the destination from its checkpoints, until ``stop``
    is set (or Ctrl-C), or once caught up with ``until_caught_up``. With
    ``notifications``: replay started, caught up, fell behind (``notify.live``). With
    ``engine`` spark, each pass reads the shards as Spark tasks (docs/adr/0050)."""
    ask = _Ask(run_id, staging, source, dest, throughput, observer, notifications, engine)
    with _live_run(ask) as run:
        return follow(run.ctx, _replay(run), stop=stop, until_caught_up=until_caught_up)


def cutover_run(
    *,
    run_id: str,
    staging: StagingOptions,
    source: Side,
    dest: Side,
    source_stopped: bool,
    throughput: ThroughputOptions | None = None,
    observer: Observer | None = None,
    timeout: float = CUTOVER_TIMEOUT,
    notifications: MultiNotifier | None = None,
    engine: EngineChoice | None = None,
) -> CutoverReport:
    """Finish a live run whose source no longer takes the application's writes: sentinel
    through the replay, every shard drained, validation; the stream disabled when this run
    enabled it; the run finished when the tables match. With ``notifications``: a
    ``cutover`` event, MATCH with the counts or what went wrong. With ``engine`` spark,
    the drain and the validation run as Spark tasks (the sentinel's passes stay here)."""
    if not source_stopped:
        raise ConfigError(
            "cutover needs the application's writes to the source table stopped, and "
            "cannot tell that itself",
            hint="stop the writers, then run the same command with --source-stopped",
        )
    ask = _Ask(run_id, staging, source, dest, throughput, observer, notifications, engine)
    with _live_run(ask) as run:
        return _notified_cut_over(run, timeout)


def _notified_cut_over(run: _LiveRun, timeout: float) -> CutoverReport:
    """The cutover, then its ``cutover`` event (when the run notifies): MATCH with the
    validation's counts, the difference, or the error that stopped it (raised on)."""
    notifications = notifying(run.ctx.observer)
    events = None
    if notifications is not None:
        events = LiveEvents(notifications, stream_arn=run.start.arn)
    try:
        done = _cut_over(run, timeout)
    except (Exception, KeyboardInterrupt) as exc:
        if events is not None:
            events.cutover_done(None, error=exc)
        raise
    if events is not None:
        val = done.validation
        error = None if val.matches else EventError(val.summary(), MISMATCH_HINT)
        events.cutover_done(done.status, counts=validation_counts(val), error=error)
    return done


def _replay(run: _LiveRun) -> Replay:
    """The run's replay, bridging gaps through the run's staging."""
    plan, ledger = run.plan, run.ctx.run_ledger
    owner = owner_for(run.staging, run.dst)
    bridge = BridgeTo(
        plan.source_table, run.staging, run.dst, run.store, owner, ledger.run_id, run.ctx.clock
    )
    key = KeySchema.from_description(run.schema.description)
    live = live_source(run.src, bridge)
    return replay_of(run.ctx, live, run.dst.writer(plan.dest_table), key)


def _cut_over(run: _LiveRun, timeout: float) -> CutoverReport:
    ctx, plan = run.ctx, run.plan
    streams = live_source(run.src).streams
    replay = _replay(run)
    key = KeySchema.from_description(run.schema.description)
    ctx.observer.message("cutover        sentinel through the replay, then every shard drained")
    result = cutover(
        replay=replay,
        source=run.src.writer(plan.source_table),
        key=key,
        clock=ctx.clock,
        timeout=timeout,
    )
    ctx.observer.message(status_line(result.status))
    ctx.mark(REPLAY_STEP, "done")
    report = validate_step(
        ctx,
        source=run.src.reader(plan.source_table),
        dest=run.dst.reader(plan.dest_table),
        key=key,
        options=ValidateOptions(segments=plan.segments or DEFAULT_THREADS),
    )
    disabled = report.matches and run.start.enabled_by_us
    if disabled:  # the table is the application's again: leave its stream as it was
        streams.disable_stream(plan.source_table)
        table = plan.source_table
        ctx.observer.message(f"stream         disabled on {table!r} (this run enabled it)")
    if report.matches:
        ctx.run_ledger.finish()
    return CutoverReport(ctx.run_ledger.run_id, result.status, report, disabled)


@dataclass(frozen=True, slots=True)
class _Ask:
    """The run a command names, and what the command itself decides."""

    run_id: str
    staging: StagingOptions
    source: Side
    dest: Side
    throughput: ThroughputOptions | None
    observer: Observer | None
    notifications: MultiNotifier | None = None
    engine: EngineChoice | None = None


@contextmanager
def _live_run(ask: _Ask) -> Iterator[_LiveRun]:
    """The live run named, under its plan's lock (released on the way out)."""
    observer = ask.observer or NullObserver()
    bind_run(observer, ask.run_id)  # an interrupt names the run, whenever it comes
    if ask.engine is not None and ask.engine.spark:  # before any AWS call, as migrate's
        EngineRequest.checked(ask.engine, workers=None, threads=1, locations=[ask.staging.url])
    clock = SystemClock()
    store = run_store(ask.staging, ask.dest if ask.dest != Side() else ask.source)
    recorded = Ledger(store, check_run_id(ask.run_id), clock).load()
    plan = _live_plan(ask.run_id, recorded)
    with held_run(store, plan=plan, run_id=ask.run_id, observer=observer, clock=clock) as ledger:
        yield _opened(plan, ledger, ask, store)


def _live_plan(run_id: str, recorded: dict[str, object]) -> MigratePlan:
    plan = plan_of(str(recorded.get("command")), recorded.get("plan") or {})  # type: ignore[arg-type]
    if not isinstance(plan, MigratePlan) or not plan.live:
        raise ConfigError(
            f"run {run_id!r} is not a live migration",
            hint="start one with `ddbmigrate migrate --live`; `ddbmigrate status` lists the runs",
        )
    return plan


def _opened(plan: MigratePlan, ledger: Ledger, ask: _Ask, store: Store) -> _LiveRun:
    src, dst = Account(ask.source, "source"), Account(ask.dest, "destination")
    start = recorded_start(ledger)
    if start is None or ledger.step_state("import") != "done":
        raise ConfigError(
            f"run {ledger.run_id!r} has not finished its copy (export and import) yet",
            hint=f"finish it first: ddbmigrate resume {ledger.run_id}",
        )
    schema = read_source(src.admin, plan.source_table, src.label)
    dest_schema = read_source(dst.admin, plan.dest_table, dst.label, role="destination")
    clock = SystemClock()
    budgets = make_budgets(schema, dest_schema, ask.throughput or ThroughputOptions(), clock)
    ctx = RunContext(
        clock=clock,
        observer=_notifying(ask, plan, ledger.run_id, clock),
        engine=_engine(ask, [src, dst]),
        budgets=budgets,
        ledger=ledger,
    )
    return _LiveRun(plan, ctx, src, dst, schema, start, ask.staging, store)


def _engine(ask: _Ask, sides: list[Account]) -> Engine:
    """Spark (``--engine spark``: the replay's shards and the cutover's validation as
    tasks), else threads of this process, as before the engine was a choice here."""
    if ask.engine is None or not ask.engine.spark:
        return ThreadEngine(DEFAULT_THREADS)
    request = EngineRequest(ask.engine, 1, 1, (ask.staging.url,))
    return request.open(sides, ask.observer or NullObserver())


def _notifying(ask: _Ask, plan: MigratePlan, run_id: str, clock: SystemClock) -> Observer:
    """The command's observer; with notification targets, wrapped to send the run's events."""
    observer = ask.observer or NullObserver()
    if not ask.notifications:
        return observer
    return RunNotifications(
        observer,
        ask.notifications,
        source_table=plan.source_table,
        dest_table=plan.dest_table,
        clock=clock,
        run_id=run_id,
    )


MISMATCH_HINT = (
    "the cutover's output names the differing keys; `ddbmigrate validate` compares again"
)


def validation_counts(report: ValidationReport) -> dict[str, int]:
    """The validation's figures a ``cutover`` event carries (as a migration's success)."""
    return {
        "source_items": report.source_count,
        "dest_items": report.dest_count,
        "missing": report.missing_count,
        "extra": report.extra_count,
        "changed": report.changed_count,
    }
