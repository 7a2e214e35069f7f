"""The validate step: two tables compared item by item through digests."""

from __future__ import annotations

from dataclasses import replace

from ddbmigrate.model import KeySchema
from ddbmigrate.ports import TableReader
from ddbmigrate.steps.context import RunContext
from ddbmigrate.validator import ValidateOptions, ValidationReport, validate_tables


def validate_step(
    ctx: RunContext,
    *,
    source: TableReader,
    dest: TableReader,
    key: KeySchema,
    options: ValidateOptions,
) -> ValidationReport:
    """Compare ``source`` with ``dest``, each read within its budget; the outcome is
    recorded as the step's state (``match`` or ``mismatch``) when the run keeps a ledger."""
    ctx.mark("validate", "running")
    report = validate_tables(
        source=source,
        dest=dest,
        key=key,
        options=replace(options, deadline=ctx.deadline("validate")),
        clock=ctx.clock,
        observer=ctx.observer,
        budgets=(ctx.budgets.source_read, ctx.budgets.dest_read),
        engine=ctx.engine,
    )
    ctx.mark("validate", "match" if report.matches else "mismatch")
    return report
