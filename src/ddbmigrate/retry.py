"""One retry policy: exponential backoff with full jitter, capped, applied per request.

Full jitter (sleep = uniform(0, min(cap, base * 2**attempt))) spreads many workers' retries
so they do not hammer a throttled partition in lockstep (AWS Architecture Blog, "Exponential
Backoff And Jitter"). Only TransientError is retried; FatalError stops the run at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ddbmigrate.errors import StepTimeoutError, ThrottledError, TransientError
from ddbmigrate.inflight import RequestGate
from ddbmigrate.ports import Budget, Clock

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How hard to retry one request."""

    max_attempts: int = 10
    """Attempts in all, the first included."""
    base_delay: float = 0.05
    """Seconds; the first retry waits up to this long."""
    max_delay: float = 20.0
    """Seconds; no single wait is longer."""

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter wait before retry number ``attempt`` (0-based)."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * (2.0**attempt)))


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    on_retry: Callable[[int, TransientError], None] | None = None,
) -> T:
    """Call ``fn``; on TransientError wait and call again, up to ``policy.max_attempts``."""
    for attempt in range(policy.max_attempts):
        try:
            return fn()
        except TransientError as exc:
            if attempt + 1 >= policy.max_attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            clock.sleep(policy.delay(attempt, rng))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def metered(
    fn: Callable[[], T],
    *,
    budget: Budget,
    expected: float,
    consumed: Callable[[T], float],
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    gate: RequestGate | None = None,
) -> T:
    """One request under a capacity budget, with retries.

    Waits for ``expected`` units before each attempt, settles with what the response says it
    consumed, and tells the budget about throttling (slow down) and success.

    A throttled attempt keeps its reservation: it is charged what it would have cost. The
    table refused it because its own bucket was empty; refunding the units would let the
    retry (and every other thread) go at once and be refused again, and the budget would
    spend its time halving on refusals instead of paying for pages.

    With a ``gate``, each attempt first takes one of its slots (requests in flight), and the
    gate learns the attempt's budget wait, latency and throttling (``ddbmigrate.inflight``).
    """

    def attempt() -> T:
        if gate is None:
            budget.acquire(expected)
            return _settled(fn, budget, expected, consumed)
        with gate.request() as ticket:
            ticket.spend(budget, expected)
            return _settled(fn, budget, expected, consumed)

    return call_with_retry(attempt, policy=policy, clock=clock, rng=rng)


def _settled(
    fn: Callable[[], T], budget: Budget, expected: float, consumed: Callable[[T], float]
) -> T:
    """Call ``fn`` with ``expected`` units reserved; settle the budget with the answer."""
    try:
        result = fn()
    except ThrottledError:
        budget.on_throttled()
        raise
    except TransientError:
        budget.settle(expected, 0.0)
        raise
    budget.settle(expected, consumed(result))
    budget.on_success()
    return result


def check_deadline(deadline: float | None, clock: Clock, step: str) -> None:
    """Stop a step that ran past its timeout (between requests, never in the middle of one)."""
    if deadline is not None and clock.monotonic() > deadline:
        raise StepTimeoutError(
            f"the {step} step ran past its timeout",
            hint="its progress is recorded: run again (or give the step retries) to resume it",
        )
