"""The import step: an export's files written into a table within the write budget;
files the ledger records as done are not written again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ddbmigrate.formats.detect import SourcePlan
from ddbmigrate.importer import ImportOptions, ImportResult, import_source
from ddbmigrate.model import KeySchema
from ddbmigrate.ports import Store, TableSchema, TableWriter
from ddbmigrate.runs import RejectLog
from ddbmigrate.steps.context import RunContext

ManagedImport = Callable[[TableSchema, SourcePlan], int]
"""ImportTable into a new table, then the settings it cannot set; returns items imported."""


def import_step(
    ctx: RunContext,
    *,
    store: Store,
    plan: SourcePlan,
    writer: TableWriter,
    key: KeySchema,
    options: ImportOptions,
) -> ImportResult:
    """Write every file of ``plan``; rejects go to the run's rejects file, beside ``store``."""
    ledger = ctx.run_ledger
    ledger.step("import", "running")
    result = import_source(
        store=store,
        plan=plan,
        writer=writer,
        key=key,
        options=replace(options, deadline=ctx.deadline("import")),
        rejects=RejectLog(store, ledger.dir, max_rejects=ctx.max_rejects),
        clock=ctx.clock,
        observer=ctx.observer,
        budget=ctx.budgets.dest_write,
        ledger=ledger,
        engine=ctx.engine,
    )
    ledger.step("import", "done")
    return result


def unrecorded_import(
    ctx: RunContext, *, store: Store, plan: SourcePlan, writer: TableWriter, key: KeySchema
) -> ImportResult:
    """``plan`` written outside the run's import step: no step marks, no files recorded as
    done (the live bridge's incremental windows, which its own record makes resumable);
    rejects to the run's rejects file, within the write budget."""
    return import_source(
        store=store,
        plan=plan,
        writer=writer,
        key=key,
        options=ImportOptions(),
        rejects=RejectLog(store, ctx.run_ledger.dir, max_rejects=ctx.max_rejects),
        clock=ctx.clock,
        budget=ctx.budgets.dest_write,
    )


def managed_import_step(
    ctx: RunContext, import_: ManagedImport, schema: TableSchema, plan: SourcePlan
) -> ImportResult:
    """ImportTable (AWS's managed import), waited for."""
    ctx.mark("import", "running")
    t0 = ctx.clock.monotonic()
    count = import_(schema, plan)
    result = ImportResult(count, len(plan.files), ctx.clock.monotonic() - t0)
    ctx.mark("import", "done")
    return result
