"""What a run tells the outside world, and the fan-out that never lets telling fail the run.

A notification is a side effect of a migration, never part of it: a webhook that answers
500 or an SNS topic that refuses ``Publish`` is reported through ``on_error`` (a log line
naming the target and the fix) while the migration carries on and keeps its exit code.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from ddbmigrate.errors import DdbMigrateError, FatalError
from ddbmigrate.ports import Clock, Observer

EventKind = Literal[
    "success", "failure", "step", "replay_started", "caught_up", "fell_behind", "cutover"
]
LIVE_KINDS: tuple[EventKind, ...] = ("replay_started", "caught_up", "fell_behind", "cutover")
"""A live run's replay and cutover (``notify.live``): their bodies carry a ``live`` object."""
EVENT_KINDS: tuple[EventKind, ...] = ("success", "failure", "step", *LIVE_KINDS)
SCHEMA = "ddbmigrate.run-event/1"
"""``type`` of every event body, so a receiver shared with other senders can tell ours."""
LIVE_SCHEMA = "ddbmigrate.run-event/2"
"""``type`` of the live kinds: the keys of version 1 plus ``live``. Success, failure and
step bodies stay version 1, so a receiver written for them sees nothing change
(docs/adr/0048)."""
BEHIND_AFTER = 300.0
"""Default seconds of replay lag past which a live run has fallen behind: far above the few
seconds of a healthy replay, far below the stream's 24 hours."""
SUBJECT_MAX = 99  # SNS wants subjects "less than 100 characters long"


class NotificationError(FatalError):
    """A notification target refused or did not answer. The message names it and the fix."""


@dataclass(frozen=True, slots=True)
class EventError:
    """Why a run (or step) failed, as the user would read it on stderr."""

    message: str
    hint: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> EventError:
        """The message and hint of a ddbmigrate error; the type and text of anything else."""
        if isinstance(exc, DdbMigrateError):
            return cls(exc.message, exc.hint)
        if isinstance(exc, KeyboardInterrupt):
            return cls("interrupted", "run the same command again to continue")
        return cls(f"{type(exc).__name__}: {exc}")

    def to_dict(self) -> dict[str, str | None]:
        return {"message": self.message, "hint": self.hint}


@dataclass(frozen=True, kw_only=True, slots=True)
class RunEvent:
    """One notification: a run succeeded or failed, or (``--notify-steps``) a step ended."""

    kind: EventKind
    run_id: str | None
    """None when the run failed before its ledger existed (e.g. in preflight)."""
    source_table: str
    dest_table: str
    step: str | None = None
    """The step that ended (kind ``step``) or was running when the run failed."""
    counts: Mapping[str, int] = field(default_factory=dict)
    """Items per step (``export_items``, ``import_items`` ...), rejects, validation counts."""
    duration_s: float = 0.0
    """Seconds the run (or the step, for kind ``step``) took."""
    error: EventError | None = None
    timestamp: str = ""
    """Wall-clock time of the event, ``2026-01-01T00:00:00.000Z``."""
    live: Mapping[str, object] | None = None
    """The replay's figures, for the live kinds: stream, shards, records applied, lag."""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind {self.kind!r} is not one of {EVENT_KINDS}")

    @property
    def table(self) -> str:
        return f"{self.source_table} -> {self.dest_table}"

    def to_dict(self) -> dict[str, object]:
        body = self._common()
        if self.kind in LIVE_KINDS:
            body |= {"type": LIVE_SCHEMA, "live": dict(self.live or {})}
        return body

    def _common(self) -> dict[str, object]:
        return {
            "type": SCHEMA,
            "kind": self.kind,
            "run_id": self.run_id,
            "table": self.table,
            "source_table": self.source_table,
            "dest_table": self.dest_table,
            "step": self.step,
            "counts": dict(self.counts),
            "duration_s": round(self.duration_s, 3),
            "error": self.error.to_dict() if self.error else None,
            "timestamp": self.timestamp,
        }

    def to_json(self) -> str:
        """The body every target receives: one JSON object, keys in a stable order."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def subject(self) -> str:
        """A one-line summary (SNS ``Subject``, e-mail subject lines): at most 99 characters."""
        text = f"ddbmigrate {self.table} {self._what()}"
        # SNS refuses line breaks and control characters in a subject.
        text = "".join(c if c.isprintable() else " " for c in text)
        return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"

    def _what(self) -> str:
        live = self.live or {}
        lag = live.get("lag_seconds")
        lag_text = "-" if lag is None else f"{lag}s"
        return {
            "success": "succeeded",
            "failure": f"failed in {self.step}" if self.step else "failed",
            "step": f"{self.step} done",
            "replay_started": f"replay started ({live.get('shards')} shards)",
            "caught_up": f"replay caught up (lag {lag_text})",
            "fell_behind": f"replay fell behind (lag {lag_text})",
            "cutover": "cutover done: MATCH" if self.error is None else "cutover failed",
        }[self.kind]


class Notifier(Protocol):
    """Delivers events to one place. Raises (ideally a ``NotificationError``) when it cannot."""

    def send(self, event: RunEvent) -> None: ...


ErrorSink = Callable[[str], None]
"""Receives one line per failed delivery, e.g. ``Observer.message``."""


def target_of(notifier: object) -> str:
    """What a notifier delivers to, for messages: its ``target`` attribute or its type."""
    return str(getattr(notifier, "target", None) or type(notifier).__name__)


class MultiNotifier:
    """Sends every event to each notifier in turn; never raises.

    A target that fails is reported through ``on_error`` and the others still get the event,
    so a broken webhook cannot hide the SNS message, nor fail the migration.
    """

    def __init__(
        self,
        notifiers: Iterable[Notifier],
        *,
        on_error: ErrorSink,
        steps: bool = False,
        behind_after: float = BEHIND_AFTER,
    ) -> None:
        self.notifiers = list(notifiers)
        self.on_error = on_error
        self.steps = steps
        """Send ``step`` events too (``--notify-steps``); else only success and failure."""
        self.behind_after = behind_after
        """Seconds of replay lag past which a live run sends ``fell_behind`` (``--notify-lag``)."""

    def __bool__(self) -> bool:
        return bool(self.notifiers)

    def send(self, event: RunEvent) -> None:
        if event.kind == "step" and not self.steps:
            return
        for notifier in self.notifiers:
            self._send_one(notifier, event)

    def _send_one(self, notifier: Notifier, event: RunEvent) -> None:
        try:
            notifier.send(event)
        except Exception as exc:  # noqa: BLE001 - a notification must never fail the run
            self._report(failure_line(notifier, event, exc))

    def _report(self, line: str) -> None:
        # The error sink failing (a closed stream) must not fail the run either.
        with contextlib.suppress(Exception):
            self.on_error(line)


def failure_line(notifier: object, event: RunEvent, exc: Exception) -> str:
    """``notification (failure) not sent: <what went wrong>; <what to do>``."""
    if isinstance(exc, DdbMigrateError):
        text = exc.message
        if exc.hint:
            text = f"{text}; {exc.hint}"
    else:  # a bug in a notifier: say which one, and what it raised
        text = f"{target_of(notifier)} failed: {type(exc).__name__}: {exc}"
    return f"notification ({event.kind}) not sent: {text}"


class RunNotifications:
    """Turns a run into events: wraps the run's observer and sends run-level events.

    As an ``Observer`` it forwards every call to ``inner`` and, when a step finishes, sends
    a ``step`` event with the step's items and duration. ``succeeded`` and ``failed`` send
    the run's final event; the caller calls exactly one of them. Thread-safe. ``notifier``
    is a ``MultiNotifier`` because these calls come from the run's own code paths, which
    must never see a notification error.
    """

    def __init__(
        self,
        inner: Observer,
        notifier: MultiNotifier,
        *,
        source_table: str,
        dest_table: str,
        clock: Clock,
        run_id: str | None = None,
    ) -> None:
        self.inner = inner
        self.notifier = notifier
        self.source_table = source_table
        self.dest_table = dest_table
        self.clock = clock
        self.run_id = run_id
        self._lock = threading.Lock()
        self._t0 = clock.monotonic()
        self._started: dict[str, float] = {}
        self._items: dict[str, int] = {}
        self._running: str | None = None
        self._last_end = self._t0
        """When the last step finished: a step that only says it finished began then."""

    def bind_run(self, run_id: str) -> None:
        """The run's id, known once its ledger is open; forwarded to ``inner`` too."""
        self.run_id = run_id
        bind = getattr(self.inner, "bind_run", None)
        if callable(bind):
            bind(run_id)

    # Observer
    def step_started(self, step: str, *, total: int | None) -> None:
        with self._lock:
            self._started[step] = self.clock.monotonic()
            self._items.setdefault(step, 0)
            self._running = step
        self.inner.step_started(step, total=total)

    def advanced(self, step: str, items: int) -> None:
        with self._lock:
            self._items[step] = self._items.get(step, 0) + items
        self.inner.advanced(step, items)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def step_finished(self, step: str, *, summary: str) -> None:
        self.inner.step_finished(step, summary=summary)
        with self._lock:
            now = self.clock.monotonic()
            duration = now - self._started.get(step, self._last_end)
            self._last_end = now
            counts = {"items": self._items.get(step, 0)}
            if self._running == step:
                self._running = None
        self.notifier.send(self._event("step", step=step, counts=counts, duration=duration))

    # Run-level events
    def succeeded(self, counts: Mapping[str, int] | None = None) -> None:
        """The run finished: send a ``success`` event with the step counts and ``counts``."""
        self.notifier.send(self._final("success", counts, None))

    def failed(
        self, error: BaseException | EventError, counts: Mapping[str, int] | None = None
    ) -> None:
        """The run stopped on ``error`` (or the tables differ): send a ``failure`` event."""
        found = error if isinstance(error, EventError) else EventError.of(error)
        self.notifier.send(self._final("failure", counts, found))

    def _final(
        self, kind: EventKind, counts: Mapping[str, int] | None, error: EventError | None
    ) -> RunEvent:
        with self._lock:
            merged = {f"{step}_items": n for step, n in self._items.items()}
            step = self._running  # None: failed between steps (preflight, schema) or after
        merged.update(counts or {})
        duration = self.clock.monotonic() - self._t0
        return self._event(kind, step=step, counts=merged, duration=duration, error=error)

    def live_event(
        self,
        kind: EventKind,
        live: Mapping[str, object],
        *,
        counts: Mapping[str, int] | None = None,
        error: EventError | None = None,
    ) -> None:
        """Send one of the ``LIVE_KINDS``, timed from the start of this command."""
        duration = self.clock.monotonic() - self._t0
        event = self._event(kind, step=None, counts=counts or {}, duration=duration, error=error)
        self.notifier.send(replace(event, live=live))

    def _event(
        self,
        kind: EventKind,
        *,
        step: str | None,
        counts: Mapping[str, int],
        duration: float,
        error: EventError | None = None,
    ) -> RunEvent:
        return RunEvent(
            kind=kind,
            run_id=self.run_id,
            source_table=self.source_table,
            dest_table=self.dest_table,
            step=step,
            counts=counts,
            duration_s=duration,
            error=error,
            timestamp=self.clock.now_iso(),
        )
