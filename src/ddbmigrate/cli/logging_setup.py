"""``--log-format text|json``: log lines on stderr for humans or machines, and the run's log.

Humans get ``ConsoleObserver`` (rich bars and lines). ``--log-format json`` replaces it with
``LineObserver``, one JSON object per line (``ts``, ``level``, ``message`` and ``run_id`` /
``table`` / ``step`` when known), and routes Python ``logging`` records the same way.
``LogCapture`` keeps the run's lines in memory so they can be uploaded with report.json.
"""

from __future__ import annotations

import collections
import json
import logging
import sys
import threading
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, TextIO

from ddbmigrate.ports import Clock, Observer

MAX_LINES = 100_000
"""Lines the run's log keeps (the newest): about 10 MB for a run that logs a lot."""


class LogFormat(StrEnum):
    """How log lines are written on stderr and in the uploaded run.log."""

    text = "text"
    json = "json"


def format_line(
    fmt: LogFormat, *, ts: str, level: str, message: str, fields: dict[str, Any] | None = None
) -> str:
    """One log line: ``ts LEVEL message [k=v ...]`` or a JSON object, without newline."""
    extra = {k: v for k, v in (fields or {}).items() if v is not None}
    if fmt == LogFormat.json:
        return json.dumps({"ts": ts, "level": level, "message": message, **extra}, default=str)
    context = " ".join(f"{k}={v}" for k, v in extra.items() if k in ("run_id", "table"))
    return f"{ts} {level.upper():<7} {message}" + (f" [{context}]" if context else "")


class JsonFormatter(logging.Formatter):
    """``logging`` records as JSON lines; ``extra={"run_id": ..., "table": ...}`` is kept."""

    FIELDS = ("run_id", "table", "step")

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        ts += f"{int(record.msecs):03d}Z"
        fields: dict[str, Any] = {"logger": record.name}
        fields |= {name: getattr(record, name, None) for name in self.FIELDS}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return format_line(
            LogFormat.json,
            ts=ts,
            level=record.levelname.lower(),
            message=record.getMessage(),
            fields=fields,
        )


def configure_logging(
    fmt: LogFormat, *, stream: TextIO | None = None, level: int = logging.WARNING
) -> logging.Handler:
    """Send Python ``logging`` (ours and the SDK's warnings) to stderr in ``fmt``.

    Returns the handler so a caller (or a test) can remove it again.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == LogFormat.json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    return handler


class _Lines:
    """Turns observer calls into log lines with the run's context. Thread-safe."""

    def __init__(self, clock: Clock, fmt: LogFormat, fields: dict[str, Any]) -> None:
        self.clock = clock
        self.fmt = fmt
        self.fields = dict(fields)
        self._lock = threading.Lock()

    def bind(self, **fields: Any) -> None:
        with self._lock:
            self.fields.update(fields)

    def line(self, level: str, message: str, **fields: Any) -> str:
        with self._lock:
            context = {**self.fields, **fields}
        return format_line(
            self.fmt, ts=self.clock.now_iso(), level=level, message=message, fields=context
        )

    def started(self, step: str, total: int | None) -> str:
        expected = f" ({total:,} items expected)" if total else ""
        return self.line("info", f"{step}: started{expected}", **_step_fields(step), expected=total)

    def finished(self, step: str, summary: str) -> str:
        return self.line("info", f"{step}: {summary}", **_step_fields(step))


def _step_fields(step: str) -> dict[str, str]:
    """``[orders] export`` as the fields of a JSON line: ``table`` and ``step``."""
    if step.startswith("[") and "] " in step:
        table, _, bare = step[1:].partition("] ")
        return {"table": table, "step": bare}
    return {"step": step}


class Labelled:
    """Names the table in every step and line of a single-table command: ``[table] step: …``,
    the style of a pipeline's tables too (``multi.Prefixed``), so every line reads alike.

    Anything else (``bind_run``, ``warning`` ...) goes to ``inner`` unchanged."""

    def __init__(self, inner: Observer, table: str) -> None:
        self.inner = inner
        self._prefix = f"[{table}] "

    def step_started(self, step: str, *, total: int | None) -> None:
        self.inner.step_started(self._prefix + step, total=total)

    def advanced(self, step: str, items: int) -> None:
        self.inner.advanced(self._prefix + step, items)

    def message(self, text: str) -> None:
        self.inner.message(self._prefix + text)

    def step_finished(self, step: str, *, summary: str) -> None:
        self.inner.step_finished(self._prefix + step, summary=summary)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class LineObserver:
    """An ``Observer`` writing one line per event to ``stream`` (stderr): no bars, no colour.

    The ``--log-format json`` replacement for ``ConsoleObserver``; a context manager like it.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        fmt: LogFormat = LogFormat.json,
        stream: TextIO | None = None,
        **fields: Any,
    ) -> None:
        self._lines = _Lines(clock, fmt, fields)
        self._stream = stream
        self._lock = threading.Lock()
        self.run_id: str | None = None
        """The run's id once its ledger is open, for the message of an interrupted run."""

    def __enter__(self) -> LineObserver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def bind(self, **fields: Any) -> None:
        """Fields every later line carries, e.g. ``table="a -> b"``."""
        self._lines.bind(**fields)

    def bind_run(self, run_id: str) -> None:
        self.run_id = run_id
        self._lines.bind(run_id=run_id)

    def step_started(self, step: str, *, total: int | None) -> None:
        self._write(self._lines.started(step, total))

    def advanced(self, step: str, items: int) -> None:
        return None  # per-page lines would drown the log; step_finished carries the counts

    def message(self, text: str) -> None:
        self._write(self._lines.line("info", text))

    def step_finished(self, step: str, *, summary: str) -> None:
        self._write(self._lines.finished(step, summary))

    def error(self, message: str, hint: str | None = None) -> None:
        """The run's final error (what ``print_error`` shows humans), as one line."""
        self._write(self._lines.line("error", message, hint=hint))

    def warning(self, message: str) -> None:
        self._write(self._lines.line("warning", message))

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr  # looked up late: tests and typer swap it
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


class LogCapture:
    """Forwards every call to ``inner`` and keeps the run's log lines (the newest
    ``max_lines``) for upload to the log location at the end. Thread-safe."""

    def __init__(
        self,
        inner: Observer,
        clock: Clock,
        *,
        fmt: LogFormat = LogFormat.text,
        max_lines: int = MAX_LINES,
        **fields: Any,
    ) -> None:
        self.inner = inner
        self._lines = _Lines(clock, fmt, fields)
        self._kept: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self.dropped = 0
        """Lines that fell off the front because the log outgrew ``max_lines``."""

    def bind(self, **fields: Any) -> None:
        self._lines.bind(**fields)

    def bind_run(self, run_id: str) -> None:
        self._lines.bind(run_id=run_id)
        bind = getattr(self.inner, "bind_run", None)
        if callable(bind):
            bind(run_id)

    def step_started(self, step: str, *, total: int | None) -> None:
        self._keep(self._lines.started(step, total))
        self.inner.step_started(step, total=total)

    def advanced(self, step: str, items: int) -> None:
        self.inner.advanced(step, items)

    def message(self, text: str) -> None:
        self._keep(self._lines.line("info", text))
        self.inner.message(text)

    def step_finished(self, step: str, *, summary: str) -> None:
        self._keep(self._lines.finished(step, summary))
        self.inner.step_finished(step, summary=summary)

    def warning(self, text: str) -> None:
        """A line at warning level (a notification that was not sent): kept and shown."""
        self._keep(self._lines.line("warning", text))
        show = getattr(self.inner, "warning", None)
        if callable(show):
            show(text)
        else:
            self.inner.message(f"warning: {text}")

    def record(self, level: str, message: str, **fields: Any) -> None:
        """Keep a line that did not come through the observer (the final error, a warning)."""
        self._keep(self._lines.line(level, message, **fields))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._kept)

    def text(self) -> str:
        """The kept lines as run.log; says so at the top when older lines were dropped."""
        with self._lock:
            head = [f"... {self.dropped:,} earlier lines dropped ..."] if self.dropped else []
            return "\n".join([*head, *self._kept]) + "\n"

    def _keep(self, line: str) -> None:
        with self._lock:
            if self._kept.maxlen is not None and len(self._kept) == self._kept.maxlen:
                self.dropped += 1
            self._kept.append(line)
