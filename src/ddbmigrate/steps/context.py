"""What every step of a run works with, in one value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ddbmigrate.capacity import Budgets
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.engines.base import Engine
from ddbmigrate.ports import Clock, Observer


@dataclass(frozen=True, kw_only=True, slots=True)
class RunContext:
    """The run a step belongs to: its clock, record, listeners, workers and limits."""

    clock: Clock
    observer: Observer
    engine: Engine
    """Runs the step's units (segments, files)."""
    budgets: Budgets
    """Capacity each step may take, made once per run by ``capacity.make_budgets``."""
    ledger: Ledger | None = None
    """The run's record; None for a step that records nothing (``validate`` alone)."""
    max_rejects: int = 0
    """Items DynamoDB may refuse before the run stops; the import step keeps them in the
    run's rejects file (``runs.RejectLog``), opened when the step starts."""
    timeouts: Mapping[str, float] = field(default_factory=dict)
    """Seconds per step (export, import, validate)."""

    def deadline(self, step: str) -> float | None:
        """``clock.monotonic()`` past which ``step`` stops (resumable), or None."""
        seconds = self.timeouts.get(step)
        return None if seconds is None else self.clock.monotonic() + seconds

    def mark(self, step: str, state: str) -> None:
        """Record a step's state in the ledger (when the run keeps one)."""
        if self.ledger is not None:
            self.ledger.step(step, state)

    @property
    def run_ledger(self) -> Ledger:
        """The ledger of a step that cannot run without one (export, import)."""
        if self.ledger is None:  # pragma: no cover - a wiring mistake, not a user's
            raise RuntimeError("this step needs the run's ledger")
        return self.ledger
