"""Rendering: progress bars and log lines on stderr, results on stdout. Only here uses rich."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ddbmigrate.exporter import ExportResult
from ddbmigrate.importer import ImportResult
from ddbmigrate.live import ReplayStatus
from ddbmigrate.model import StoreURL
from ddbmigrate.pipeline import MigrateReport
from ddbmigrate.validator import ValidationReport

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)


class _ItemsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>9,.0f} items/s" if speed else " " * 17)


class ConsoleObserver:
    """Steps as progress bars on a terminal, else as plain lines (a pipe, ``--progress off``).

    ``raw``: one plain line per step every ``raw_interval`` seconds with items and items/s,
    for logs of scripts and CI, where bars would be noise.
    """

    def __init__(self, *, bars: bool, raw: bool = False, raw_interval: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._bars = bars and stderr.is_terminal and not raw
        self._raw = raw
        self._raw_interval = raw_interval
        self._counts: dict[str, tuple[int, float, float]] = {}  # items, started, last line
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self.run_id: str | None = None
        """The run's id once its ledger is open, for the message of an interrupted run."""
        if self._bars:
            self._progress = Progress(
                TextColumn("{task.description:<9}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                _ItemsPerSecond(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=stderr,
                transient=False,
            )

    def __enter__(self) -> ConsoleObserver:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def bind_run(self, run_id: str) -> None:
        self.run_id = run_id

    def step_started(self, step: str, *, total: int | None) -> None:
        with self._lock:
            if self._progress is not None:
                self._tasks[step] = self._progress.add_task(step, total=total or None)
            else:
                stderr.print(f"{step}: started", markup=False)

    def advanced(self, step: str, items: int) -> None:
        if self._progress is not None and step in self._tasks:
            self._progress.advance(self._tasks[step], items)
        if self._raw:
            self._raw_line(step, items)

    def _raw_line(self, step: str, items: int) -> None:
        now = time.monotonic()
        with self._lock:
            done, started, last = self._counts.get(step, (0, now, now))
            done += items
            due = now - last >= self._raw_interval
            self._counts[step] = (done, started, now if due else last)
        if due:
            rate = done / max(now - started, 1e-9)
            stderr.print(f"{step}: {done:,} items, {rate:,.0f} items/s", markup=False)

    def message(self, text: str) -> None:
        stderr.print(text, markup=False)

    def step_finished(self, step: str, *, summary: str) -> None:
        with self._lock:
            if self._progress is not None and step in self._tasks:
                task = self._tasks[step]
                done = self._progress.tasks[task].completed
                self._progress.update(task, total=done, completed=done)
        stderr.print(f"{step}: {summary}", markup=False)


def print_error(message: str, hint: str | None) -> None:
    """One line saying what is wrong, one saying what to do."""
    stderr.print(f"error: {message}", markup=False, style="bold red")
    if hint:
        stderr.print(f"hint: {hint}", markup=False)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:,.1f} {unit}"


def _rate(items: int, seconds: float) -> str:
    return f"{items / seconds:,.0f} items/s" if seconds > 0 else "-"


def _before(items_before: int) -> str:
    """After a resume: how many items an earlier process moved (the rate leaves them out)."""
    return f" ({items_before:,} before the stop)" if items_before else ""


def _moved_rate(result: ExportResult | ImportResult) -> str:
    """Items per second of this process: items moved before a stop are not its work."""
    return _rate(result.item_count - result.items_before, result.seconds)


def migrate_lines(report: MigrateReport) -> list[str]:
    """The human summary of a migration, one line a step."""
    exp, imp = report.export, report.imported
    lines = [
        f"migrated {report.plan.source_table} -> {report.plan.dest_table}",
        f"  schema    {report.schema_action}",
        f"  export    {exp.item_count:,} items{_before(exp.items_before)} in {len(exp.parts):,} "
        f"parts, {_size(exp.bytes_written)}, {exp.seconds:.1f} s ({_moved_rate(exp)}) "
        f"-> {exp.url}",
        f"  import    {imp.item_count:,} items{_before(imp.items_before)} from {imp.files:,} "
        f"files, {imp.seconds:.1f} s ({_moved_rate(imp)})",
    ]
    if report.validation is not None:
        val = report.validation
        lines.append(
            f"  validate  {val.source_count + val.dest_count:,} items read, {val.seconds:.1f} s"
        )
    if report.live is not None:
        lines += live_lines(report.run_id, report.live)
    return lines


def live_lines(run_id: str, status: ReplayStatus) -> list[str]:
    """Where a live run's replay stands, and the two commands that come next."""
    lag = "-" if status.lag is None else f"{status.lag:.1f} s"
    return [
        f"  replay    {status.applied:,} records applied, {status.shards_open} shards open, "
        f"lag {lag}: caught up",
        f"live run {run_id} follows the source's stream; next (same flags and --staging):",
        f"  ddbmigrate sync {run_id}       keep the destination in step until Ctrl-C",
        f"  ddbmigrate cutover {run_id} --source-stopped   once the application's writes "
        "to the source have stopped: catch up, validate, finish",
    ]


def validation_lines(report: ValidationReport) -> list[str]:
    """The verdict, then every listed key that differs."""
    lines = [report.summary()]
    for kind, keys, count in (
        ("missing", report.missing, report.missing_count),
        ("extra", report.extra, report.extra_count),
        ("changed", report.changed, report.changed_count),
    ):
        lines += [f"  {kind:<8} {key}" for key in keys]
        if count > len(keys):
            lines.append(f"  … and {count - len(keys)} more {kind}")
    return lines


def export_line(result: ExportResult) -> str:
    return (
        f"exported {result.item_count:,} items{_before(result.items_before)} in "
        f"{len(result.parts):,} parts ({_size(result.bytes_written)}, {result.seconds:.1f} s, "
        f"{_moved_rate(result)}) to {result.url}"
    )


def import_line(result: ImportResult, table: str | None) -> str:
    into = f" into {table}" if table else ""
    return (
        f"imported {result.item_count:,} items{_before(result.items_before)} from "
        f"{result.files:,} files{into} ({result.seconds:.1f} s, {_moved_rate(result)})"
    )


def staging_line(url: str) -> str:
    """Where staging data would go, as ``plan`` says it; a bad URL is refused here."""
    return f"staging: {StoreURL.parse(url).describe()}"


def print_interrupted(text: str) -> None:
    """The one line an interrupted run ends with."""
    stderr.print(text, markup=False, style="bold yellow")
