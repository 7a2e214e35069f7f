"""The import step by StartBulkPutItems (``--import-method bulk``), and the capacity boost
around an import (``--boost``): both as the steps use them, over a RunContext."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ddbmigrate.boost import Boost, BoostRun, Direction, RestoreResult, boosted
from ddbmigrate.bulk import BulkOptions, BulkPort, operation_record
from ddbmigrate.bulk_run import BulkTarget, import_bulk
from ddbmigrate.formats.detect import SourcePlan
from ddbmigrate.importer import ImportResult
from ddbmigrate.model import StoreURL
from ddbmigrate.ports import Observer, Store
from ddbmigrate.runs import RejectLog
from ddbmigrate.steps.context import RunContext

UNIT = "import"
"""One operation per run: the whole export is one unit (its ClientToken's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkStep:
    """What the bulk import needs beyond the run: AWS's side of it and the user's options."""

    port: BulkPort
    options: BulkOptions
    bucket_owner: str | None
    """The staging bucket's account, sent as S3BucketOwner."""

    def target(
        self, plan: SourcePlan, store: Store, table: str, description: Mapping[str, Any]
    ) -> BulkTarget:
        """The export ``plan`` (found in ``store``) into ``table`` (DescribeTable's Table)."""
        return BulkTarget(
            plan=plan,
            store=store,
            url=StoreURL.parse(store.root),  # the operation reads where the export was found
            bucket_owner=self.bucket_owner,
            table=table,
            description=description,
        )


def bulk_import_step(ctx: RunContext, step: BulkStep, target: BulkTarget) -> ImportResult:
    """Load the export with one bulk operation (re-attached on resume); its error report
    becomes the run's rejects, and any reject makes the run fail after it is recorded."""
    ledger = ctx.run_ledger
    ledger.step("import", "running")
    rejects = RejectLog(target.store, ledger.dir, max_rejects=ctx.max_rejects)
    started = ctx.clock.monotonic()
    try:
        result = import_bulk(
            step.port,
            target,
            run_id=ledger.run_id,
            unit=UNIT,
            options=step.options,
            clock=ctx.clock,
            rejects=rejects,
            observer=ctx.observer,
        )
    except KeyboardInterrupt:  # Ctrl-C: the core asked AWS to cancel; say how it ended
        ctx.observer.message(_interrupted(operation_record(target.store, ledger.run_id, UNIT)))
        raise
    rejects.raise_if_any()
    ledger.step("import", "done")
    seconds = ctx.clock.monotonic() - started
    return ImportResult(result.items, len(target.plan.files), seconds, rejected=result.failed)


def _interrupted(record: Mapping[str, Any] | None) -> str:
    """The operation's state as the run recorded it after the cancel."""
    if not record or not record.get("arn"):
        return "bulk import interrupted before its operation started"
    return (
        f"bulk operation {record['arn']}: {record.get('status')} after the interrupt "
        "(items written before it stay; the same command or resume loads the export anew)"
    )


@dataclass(frozen=True, slots=True)
class BoostRequest:
    """``--boost`` (dest writes) or ``--boost-source`` (source reads): the units asked."""

    boost: Boost
    direction: Direction
    units: int
    on_raise: Callable[[], None] | None = None
    """Called once the capacity is raised (the run's budget re-reads it)."""


@contextmanager
def boost_around(request: BoostRequest | None, observer: Observer) -> Iterator[BoostRun | None]:
    """Raise before the block, restore after it (end, failure, Ctrl-C), saying what changed
    and, when a restore must wait for AWS's decrease limit, until when."""
    if request is None:
        yield None
        return
    side = request.boost.journal.side
    for line in request.boost.outlook(request.direction, request.units):
        observer.message(f"boost {side}: {line}")
    run: BoostRun | None = None
    try:
        with boosted(request.boost, request.direction, request.units) as run:
            lines = [c.describe(request.boost.table) for c in run.changes]
            _say(observer, side, lines, "raised")
            if request.on_raise is not None:
                request.on_raise()
            yield run
    finally:
        if run is not None:  # None: the raise itself failed, and was undone
            observer.message(restore_message(run.result))


def restore_message(result: RestoreResult | None) -> str:
    """How a restore went, in one line (None: it did not finish)."""
    if result is None:
        return "boost: restore not finished; `ddbmigrate resume` or `cleanup` restores it"
    if result.restored:
        return f"boost {result.side}: table {result.table!r} restored to what was recorded"
    return f"boost {result.side}: {result.message}"


def _say(observer: Observer, side: str, lines: list[str], verb: str) -> None:
    if not lines:
        observer.message(f"boost {side}: the table has the capacity already; nothing {verb}")
    for line in lines:
        observer.message(f"boost {side}: {verb} {line}")
