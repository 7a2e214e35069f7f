"""Deleting a run's staging data: its run folder and, unless it is an import, its export.

A finished run's data is history. An unfinished run's is what a resume needs, so it goes
only when asked (``force``), and never while a live process runs that plan: deletion holds
the plan's lock (``ddbmigrate.planlock``), the one a resume or a re-run would take, so no run
of the plan starts while its files vanish, and a dead holder's lock goes with it.
"""

from __future__ import annotations

from typing import Any

from ddbmigrate.checkpoint import Ledger, check_run_id
from ddbmigrate.errors import ConfigError
from ddbmigrate.planlock import LedgerConflictError, take_lock
from ddbmigrate.ports import Clock, Store


def remove_run(store: Store, run_id: str, *, force: bool, clock: Clock) -> list[str]:
    """Delete a run's staging data; the keys removed. An unfinished run only with ``force``,
    and only while no live process holds its plan."""
    ledger = Ledger(store, check_run_id(run_id), clock)
    run = ledger.load()
    if run.get("finished"):
        return _delete(store, _folders(ledger, run))
    if not force:
        raise unfinished(run_id)
    try:
        lock = take_lock(
            store, command=str(run["command"]), plan=run["plan"], run_id=run_id, clock=clock
        )
    except LedgerConflictError as exc:
        raise LedgerConflictError(
            f"run {run_id!r} cannot be deleted now: {exc.message}",
            hint="stop that process first (or let it finish), then run cleanup again",
        ) from None
    try:
        return _delete(store, _folders(ledger, run))
    finally:
        lock.release()


def unfinished(run_id: str) -> ConfigError:
    """The refusal of an unfinished run without ``force``."""
    return ConfigError(
        f"run {run_id!r} has not finished; its staging data is what a resume needs",
        hint=f"finish it first (ddbmigrate resume {run_id} --staging URL), or pass --force "
        "to delete it anyway (it can no longer be resumed)",
    )


def running(run_id: str, holder: str) -> LedgerConflictError:
    """The refusal of a run a live process holds now."""
    return LedgerConflictError(
        f"run {run_id!r} cannot be deleted now: process {holder} is running it",
        hint="stop that process first (or let it finish), then run cleanup again",
    )


def _folders(ledger: Ledger, run: dict[str, Any]) -> list[str]:
    """The run folder, and the export it wrote (an import's source is not its own)."""
    folders = [ledger.dir]
    if run.get("export_id") and run.get("command") != "import":
        folders.append(f"AWSDynamoDB/{run['export_id']}")
    return folders


def _delete(store: Store, folders: list[str]) -> list[str]:
    removed = []
    for folder in folders:
        for key in list(store.list(f"{folder}/")):
            store.delete(key)
            removed.append(key)
    return removed
