"""Rendering: progress bars and log lines on stderr, results on stdout. Only here uses rich."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)


class ConsoleObserver:
    """Steps as progress bars on a terminal, else as plain lines (a pipe, ``--progress off``)."""

    def __init__(self, *, bars: bool) -> None:
        self._lock = threading.Lock()
        self._bars = bars and stderr.is_terminal
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        if self._bars:
            self._progress = Progress(
                TextColumn("{task.description:<9}"),
                BarColumn(),
                MofNCompleteColumn(),
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

    def step_started(self, step: str, *, total: int | None) -> None:
        with self._lock:
            if self._progress is not None:
                self._tasks[step] = self._progress.add_task(step, total=total or None)
            else:
                stderr.print(f"{step}: started")

    def advanced(self, step: str, items: int) -> None:
        if self._progress is not None and step in self._tasks:
            self._progress.advance(self._tasks[step], items)

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
