"""The RunContext every step runs with: per-step deadlines and the step states it records."""

from __future__ import annotations

from ddbmigrate.capacity import Budgets
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.engines.base import ThreadEngine
from ddbmigrate.ports import NullObserver
from ddbmigrate.steps.context import RunContext
from ddbmigrate.testing import FakeClock, MemoryStore


def context(ledger: Ledger | None = None, **timeouts: float) -> RunContext:
    return RunContext(
        clock=FakeClock(),
        observer=NullObserver(),
        engine=ThreadEngine(1),
        budgets=Budgets.unlimited(),
        ledger=ledger,
        timeouts=timeouts,
    )


def test_a_step_with_a_timeout_gets_a_deadline_from_the_clock() -> None:
    ctx = context(export=30.0)
    assert ctx.deadline("export") == ctx.clock.monotonic() + 30.0
    assert ctx.deadline("import") is None  # no timeout: the step runs until it is done


def test_step_states_go_to_the_ledger_when_the_run_keeps_one() -> None:
    ledger = Ledger(MemoryStore(), "20260101T000000Z-abcdef12", FakeClock())
    ledger.prepare(command="migrate", plan={})
    context(ledger).mark("validate", "match")
    assert ledger.step_state("validate") == "match"
    context().mark("validate", "match")  # a lone validate records nothing, and may not fail
