"""The export step: a table scanned into the staging store (or AWS's managed export read
back), recorded in the run's ledger so a stopped export continues where it stopped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ddbmigrate.checkpoint import Ledger
from ddbmigrate.exporter import ExportOptions, ExportResult, export_table
from ddbmigrate.formats.detect import SourcePlan, detect
from ddbmigrate.formats.native import new_export_id
from ddbmigrate.ports import Store, TableReader, TableSchema
from ddbmigrate.steps.context import RunContext

ManagedExport = Callable[[TableSchema, Ledger], str]
"""ExportTableToPointInTime; returns the export folder relative to the staging root."""


def export_step(
    ctx: RunContext,
    *,
    reader: TableReader,
    schema: TableSchema,
    store: Store,
    options: ExportOptions,
) -> ExportResult:
    """Export, or finish a stopped export: recorded segments are not scanned again."""
    ledger = ctx.run_ledger
    export_id = str(ledger.run.get("export_id") or new_export_id(ctx.clock.now_ms()))
    ledger.set(export_id=export_id)
    ledger.step("export", "running")
    exported = export_table(
        reader=reader,
        schema=schema,
        store=store,
        options=replace(options, deadline=ctx.deadline("export")),
        clock=ctx.clock,
        observer=ctx.observer,
        budget=ctx.budgets.source_read,
        ledger=ledger,
        export_id=export_id,
        engine=ctx.engine,
    )
    ledger.step("export", "done")
    return exported


def managed_export_step(
    ctx: RunContext, export: ManagedExport, schema: TableSchema, store: Store
) -> tuple[ExportResult, SourcePlan]:
    """ExportTableToPointInTime, waited for; the result read back as an import source."""
    t0 = ctx.clock.monotonic()
    ctx.mark("export", "running")
    folder = export(schema, ctx.run_ledger)
    ctx.mark("export", "done")
    source_plan = detect(store, folder=folder)
    result = ExportResult(
        export_id=folder.rsplit("/", 1)[-1],
        export_dir=folder,
        url=f"{store.root.rstrip('/')}/{folder}",
        item_count=source_plan.total_items or 0,
        parts=[],
        bytes_written=0,
        seconds=ctx.clock.monotonic() - t0,
    )
    return result, source_plan
