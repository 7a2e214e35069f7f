"""Many tables in one run: expand globs, run tables side by side, one outcome per table.

One table failing does not stop the others unless ``fail_fast``; a transient failure is
retried by resuming the same run (finished steps are skipped by the ledger), as many times
as the failed step's retry count allows.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ddbmigrate.errors import ConfigError, DdbMigrateError, TransientError
from ddbmigrate.pipeline import MigrateReport
from ddbmigrate.pipelinefile import TableSpec
from ddbmigrate.ports import Observer


@dataclass(frozen=True, slots=True)
class TableJob:
    """One table to move, after globs are expanded."""

    spec: TableSpec
    source_table: str
    dest_table: str


@dataclass(frozen=True, slots=True)
class TableOutcome:
    """How one table's migration ended."""

    job: TableJob
    status: str
    """match, mismatch, copied (not validated: ``validate: false``), done (finished in an
    earlier run), failed or skipped (fail-fast)."""
    report: MigrateReport | None = None
    error: str | None = None
    hint: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("match", "done", "copied")

    def line(self) -> str:
        tables = f"{self.job.source_table} -> {self.job.dest_table}"
        detail = f": {self.error}" if self.error else (f" ({self.note})" if self.note else "")
        return f"{self.status:<9} {tables}{detail}"


class Prefixed:
    """An observer that names the table in every step and line (tables run side by side)."""

    def __init__(self, inner: Observer, label: str) -> None:
        self._inner = inner
        self._label = label

    def step_started(self, step: str, *, total: int | None) -> None:
        self._inner.step_started(f"[{self._label}] {step}", total=total)

    def advanced(self, step: str, items: int) -> None:
        self._inner.advanced(f"[{self._label}] {step}", items)

    def message(self, text: str) -> None:
        self._inner.message(f"[{self._label}] {text}")

    def step_finished(self, step: str, *, summary: str) -> None:
        self._inner.step_finished(f"[{self._label}] {step}", summary=summary)


def expand_tables(
    specs: Sequence[TableSpec], source_tables: Callable[[], list[str]], *, file: str
) -> list[TableJob]:
    """Names and globs to jobs; a glob that matches nothing, or two tables that land on one
    destination, are refused naming the line."""
    listed: list[str] | None = None
    jobs: list[TableJob] = []
    for spec in specs:
        if spec.name is not None:
            jobs.append(TableJob(spec, spec.name, spec.to or spec.name))
            continue
        listed = source_tables() if listed is None else listed
        matched = sorted(t for t in listed if fnmatch.fnmatchcase(t, spec.glob or ""))
        if not matched:
            raise ConfigError(
                f"{file}:{spec.line}: tables: glob {spec.glob!r} matches no table in the source "
                f"account ({len(listed)} tables there)",
                hint="check the pattern (globs are case-sensitive) and the source region",
            )
        jobs += [TableJob(spec, name, name) for name in matched]
    _check_destinations(jobs, file)
    return jobs


def _check_destinations(jobs: list[TableJob], file: str) -> None:
    seen: dict[str, TableJob] = {}
    for job in jobs:
        other = seen.get(job.dest_table)
        if other is not None:
            raise ConfigError(
                f"{file}:{job.spec.line}: tables: {other.source_table!r} (line "
                f"{other.spec.line}) and {job.source_table!r} both go to destination table "
                f"{job.dest_table!r}",
                hint="give one of them another 'to'",
            )
        seen[job.dest_table] = job


def run_tables(
    jobs: Sequence[TableJob],
    run_one: Callable[[TableJob], MigrateReport],
    *,
    concurrency: int,
    fail_fast: bool,
    finished_before: Callable[[TableJob], str | None] = lambda _job: None,
) -> list[TableOutcome]:
    """Run every job, ``concurrency`` at a time; outcomes in job order.

    A table whose run already finished (``finished_before`` names it) is not run again, so
    re-running a pipeline after a failure finishes only what did not finish.
    """
    stop = threading.Event()

    def one(job: TableJob) -> TableOutcome:
        if stop.is_set():
            return TableOutcome(job, "skipped", error="not started: an earlier table failed")
        earlier = finished_before(job)
        if earlier is not None:
            status = "done" if job.spec.validate else "copied"
            return TableOutcome(job, status, note=f"finished earlier in run {earlier}")
        try:
            report = run_one(job)
        except DdbMigrateError as exc:
            if fail_fast:
                stop.set()
            return TableOutcome(job, "failed", error=exc.message, hint=exc.hint)
        if report.live is not None:  # validated by its cutover
            note = f"live run {report.run_id}: caught up; next `sync` or `cutover` it"
            return TableOutcome(job, "done", report, note=note)
        if report.validation is None:
            return TableOutcome(job, "copied", report, note="not validated")
        status = "match" if report.validation.matches else "mismatch"
        if status == "mismatch" and fail_fast:
            stop.set()
        return TableOutcome(
            job, status, report, error=None if status == "match" else report.validation.summary()
        )

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(one, job) for job in jobs]
        try:
            return [future.result() for future in futures]
        except BaseException:  # interrupted: start no other table (running ones stop too)
            stop.set()
            for future in futures:
                future.cancel()
            raise


def with_step_retries(
    run: Callable[[], MigrateReport],
    *,
    failed_step: Callable[[], str | None],
    retries: dict[str, int],
) -> MigrateReport:
    """Run; on a transient failure run again (which resumes) while the failed step has
    attempts left. ``failed_step`` reads the step the ledger shows as running."""
    used: dict[str, int] = {}
    while True:
        try:
            return run()
        except TransientError:
            step = failed_step() or "preflight"
            used[step] = used.get(step, 1) + 1
            if used[step] > retries.get(step, 1):
                raise
