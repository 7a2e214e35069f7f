"""One call for the wiring: a detected export loaded into an existing table by
StartBulkPutItems, with the refusals, progress, Ctrl-C cancel and rejects of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ddbmigrate.bulk import (
    BulkImport,
    BulkOptions,
    BulkPort,
    BulkResult,
    ObserverProgress,
    build_request,
    bulk_input,
    check_result,
    check_table,
    run,
)
from ddbmigrate.bulk_report import RejectSink, record_report
from ddbmigrate.formats.detect import SourcePlan
from ddbmigrate.model import StoreURL
from ddbmigrate.ports import Clock, Observer, Store

DEFAULT_TIMEOUT = 48 * 3600.0
"""An operation of hours is normal; past two days the run stops waiting (AWS goes on)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkTarget:
    """Where the export is and which table receives it."""

    plan: SourcePlan
    """The export, as ``formats.detect`` found it in the staging store."""
    store: Store
    """The staging store (the S3Store of ``url``); the run folder is in it too."""
    url: StoreURL
    bucket_owner: str | None
    """The staging bucket's account (ADR 17), sent as S3BucketOwner."""
    table: str
    description: Mapping[str, Any]
    """The destination's DescribeTable ``Table``, for the up-front refusals."""


def import_bulk(
    port: BulkPort,
    target: BulkTarget,
    *,
    run_id: str,
    unit: str,
    options: BulkOptions,
    clock: Clock,
    rejects: RejectSink,
    observer: Observer,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_on_interrupt: bool = True,
) -> BulkResult:
    """Refuse what AWS would refuse, start (or re-attach to) the unit's operation, follow it,
    cancel it on Ctrl-C, and record its error report as rejects. FAILED and CANCELLED raise;
    rejects are the caller's to turn into the exit code (``RejectLog.raise_if_any``)."""
    check_table(target.description)
    source = bulk_input(target.plan, target.store, target.url, bucket_owner=target.bucket_owner)
    request = build_request(
        table=target.table, source=source, run_id=run_id, unit=unit, url=target.url, options=options
    )
    observer.step_started("import", total=target.plan.total_items)
    job = BulkImport(
        port=port,
        store=target.store,
        request=request,
        run_id=run_id,
        unit=unit,
        clock=clock,
        progress=ObserverProgress(observer),
    )
    result = run(job, timeout=timeout, cancel_on_interrupt=cancel_on_interrupt)
    check_result(result)
    failed = record_report(target.store, rejects, run_id=run_id, unit=unit, result=result)
    observer.step_finished("import", summary=f"{result.items:,} items, {failed:,} rejected")
    return result
