"""The scaffold every recorded command runs in, written once: the engine opened, the plan's
lock taken, the run chosen under it (a new one, or the one to continue); on the way out,
the engine closed and the ledger released with its lock, whatever happened."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from ddbmigrate.checkpoint import Ledger, check_run_id, find_unfinished
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import ConfigError
from ddbmigrate.planlock import PlanLock, take_lock
from ddbmigrate.plans import RunPlan
from ddbmigrate.ports import Observer, Store
from ddbmigrate.report import bind_run
from ddbmigrate.runs import new_run_id
from ddbmigrate.wiring.accounts import Account
from ddbmigrate.wiring.engines import EngineRequest, OpenEngine


@dataclass(frozen=True, slots=True)
class RunScope:
    """An open run: its engine, its ledger, and the workers its units are sized for."""

    engine: OpenEngine
    ledger: Ledger
    workers: int
    threads: int


@contextmanager
def run_scope(
    request: EngineRequest,
    *,
    store: Store,
    plan: RunPlan,
    run_id: str | None,
    sides: list[Account],
    observer: Observer,
    clock: SystemClock,
) -> Iterator[RunScope]:
    """Open the engine, then the run of ``plan`` in ``store`` under the plan's lock; the
    run is named to ``observer`` (an interrupted run says which run to resume)."""
    engine = request.open(sides, observer)
    try:
        ledger = _held(store, plan=plan, run_id=run_id, observer=observer, clock=clock)
    except BaseException:
        engine.close()
        raise
    bind_run(observer, ledger.run_id)
    try:
        yield RunScope(engine, ledger, request.workers_of(engine), request.threads)
    finally:
        engine.close()
        ledger.release()


@contextmanager
def held_run(
    store: Store, *, plan: RunPlan, run_id: str, observer: Observer, clock: SystemClock
) -> Iterator[Ledger]:
    """The run ``run_id`` of ``plan`` under the plan's lock, without an engine (``sync``,
    ``cutover``); the lock released on the way out."""
    ledger = _held(store, plan=plan, run_id=run_id, observer=observer, clock=clock)
    try:
        yield ledger
    finally:
        ledger.release()


def _held(
    store: Store, *, plan: RunPlan, run_id: str | None, observer: Observer, clock: SystemClock
) -> Ledger:
    """The plan's lock taken, then the run chosen under it and holding it."""
    command, recorded = plan.command, plan.to_json()  # run.json keeps the plain JSON
    lock = take_lock(store, command=command, plan=recorded, run_id=run_id, clock=clock)
    return open_ledger(
        store,
        command=command,
        plan=recorded,
        run_id=run_id,
        clock=clock,
        observer=observer,
        lock=lock,
    )


RESUMER_DECIDES: dict[str, tuple[str, ...]] = {
    "migrate": ("source", "dest", "staging"),
    "export": ("source", "staging"),
    "import": ("dest",),
}
"""Plan entries a resume takes from the resuming command, never from the run's record:
the record lives in the staging store, which the source role can rewrite (and the plan
hash is an unkeyed digest anyone recomputes), so it must not choose endpoints, roles or
where the export goes."""


def open_ledger(
    store: Store,
    *,
    command: str,
    plan: Mapping[str, object],
    run_id: str | None,
    clock: SystemClock,
    observer: Observer,
    lock: PlanLock,
) -> Ledger:
    """Continue the run named, or the unfinished run of the same command; else start one.
    Chosen under the plan's ``lock`` (so two runs never choose at once), which the ledger
    holds from here and releases with the run; released here if this fails."""
    try:
        ledger = _chosen_run(store, command=command, plan=plan, run_id=run_id, clock=clock)
        ledger.hold(lock)
    except BaseException:
        lock.release()
        raise
    if ledger.started:
        observer.message(f"resuming run {ledger.run_id} ({ledger.url})")
    return ledger


def _chosen_run(
    store: Store,
    *,
    command: str,
    plan: Mapping[str, object],
    run_id: str | None,
    clock: SystemClock,
) -> Ledger:
    found = check_run_id(run_id) if run_id else find_unfinished(store, command=command, plan=plan)
    ledger = Ledger(store, found or new_run_id(clock, uuid.uuid4().hex[:8]), clock)
    if found:
        ledger.load()
        # A run named by id continues with this command's sides and staging (see resume).
        ledger.check_plan(plan, ignore=RESUMER_DECIDES[command] if run_id else ())
        if ledger.run.get("finished"):
            raise ConfigError(f"run {found!r} already finished", hint="start a new run instead")
    else:
        ledger.prepare(command=command, plan=plan)
    return ledger
