"""The run's report: items per second over time per step, and report.json (the one-page HTML
is drawn from it by ``ddbmigrate.render``).

``RateRecorder`` is an ``Observer`` wrapper: it forwards every call and samples each step's
throughput on the injected clock, so the report is built from what the run did rather than
from a second pass over the ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ddbmigrate.notify.events import EventError
from ddbmigrate.pipeline import MigrateReport
from ddbmigrate.ports import Clock, Observer, Store

REPORT_FORMAT = "ddbmigrate.report/1"
INTERVAL = 1.0
"""Seconds between samples of a step's rate, at first; doubled whenever a step has too many."""
MAX_SAMPLES = 600
"""Samples kept per step: a run of days still makes a small report and a readable chart."""


@dataclass(slots=True)
class _Sample:
    end: float
    """Seconds since the recorder started, at the end of the window."""
    seconds: float
    items: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class _Step:
    name: str
    expected: int | None
    started: float
    items: int = 0
    finished: float | None = None
    summary: str = ""
    window_start: float = 0.0
    window_items: int = 0
    interval: float = INTERVAL


class RateRecorder:
    """Forwards to ``inner`` and samples items/s per step into a time series. Thread-safe."""

    def __init__(
        self,
        inner: Observer,
        clock: Clock,
        *,
        interval: float = INTERVAL,
        max_samples: int = MAX_SAMPLES,
    ) -> None:
        if interval <= 0 or max_samples < 2:
            raise ValueError("interval must be positive and max_samples at least 2")
        self.inner = inner
        self.clock = clock
        self.interval = interval
        self.max_samples = max_samples
        self.run_id: str | None = None
        self.started_at = clock.now_iso()
        self._t0 = clock.monotonic()
        self._lock = threading.Lock()
        self._steps: dict[str, _Step] = {}
        self._samples: dict[str, list[_Sample]] = {}
        self._last_end = 0.0

    def bind_run(self, run_id: str) -> None:
        """The run's id, known once its ledger is open; forwarded to ``inner`` too."""
        self.run_id = run_id
        bind = getattr(self.inner, "bind_run", None)
        if callable(bind):
            bind(run_id)

    def step_started(self, step: str, *, total: int | None) -> None:
        now = self._now()
        with self._lock:
            self._open(step, total, now)
        self.inner.step_started(step, total=total)

    def advanced(self, step: str, items: int) -> None:
        now = self._now()
        with self._lock:
            state = self._steps.get(step)
            if state is None:  # a step that never said it started: start it now
                state = self._open(step, None, now)
            state.items += items
            state.window_items += items
            if now - state.window_start >= state.interval:
                self._close_window(state, now)
        self.inner.advanced(step, items)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def step_finished(self, step: str, *, summary: str) -> None:
        """A step that never said it started (migrate's preflight and schema say only that
        they are done) began where the last finished step ended, or when the recorder did."""
        now = self._now()
        with self._lock:
            state = self._steps.get(step)
            if state is None:
                state = self._open(step, None, self._last_end)
            self._last_window(state, now)
            state.finished = now
            state.summary = summary
            self._last_end = max(self._last_end, now)
        self.inner.step_finished(step, summary=summary)

    def elapsed(self) -> float:
        """Seconds since the recorder was made (the run's duration so far)."""
        return self._now()

    def steps(self) -> list[dict[str, Any]]:
        """Per step, in the order they started: items, duration, average rate, outcome."""
        now = self._now()
        with self._lock:
            return [_step_dict(s, now) for s in self._steps.values()]

    def series(self) -> dict[str, list[list[float]]]:
        """Per step, ``[seconds since start, items/s over the window ending then]`` pairs;
        the first pair marks the step's start (the window of the second begins there)."""
        with self._lock:
            return {
                step: [[round(s.end, 3), round(s.rate, 3)] for s in samples]
                for step, samples in self._samples.items()
            }

    def progress(self) -> dict[str, list[list[float]]]:
        """Per step, ``[seconds since start, items done by then]``: the progress the run saw,
        sampled at most once per interval and at most ``max_samples`` times."""
        with self._lock:
            return {step: _done(samples) for step, samples in self._samples.items()}

    def _open(self, step: str, expected: int | None, began: float) -> _Step:
        """A step's state and first sample, from ``began`` (under the lock)."""
        state = self._steps[step] = _Step(
            step, expected, began, window_start=began, interval=self.interval
        )
        self._samples[step] = [_Sample(began, 0.0, 0)]
        return state

    def _now(self) -> float:
        return self.clock.monotonic() - self._t0

    def _last_window(self, state: _Step, now: float) -> None:
        """Close the step's open window; a short one joins the previous sample, since a
        few items over a few milliseconds would draw a spike the step never ran at."""
        samples = self._samples[state.name]
        seconds = now - state.window_start
        if seconds >= state.interval / 2 or len(samples) < 2:
            if seconds > 0 or state.window_items:
                self._close_window(state, now)
            return
        last = samples[-1]
        samples[-1] = _Sample(now, last.seconds + seconds, last.items + state.window_items)
        state.window_start, state.window_items = now, 0

    def _close_window(self, state: _Step, now: float) -> None:
        samples = self._samples[state.name]
        samples.append(_Sample(now, now - state.window_start, state.window_items))
        state.window_start, state.window_items = now, 0
        if len(samples) > self.max_samples:
            # Merge neighbours (their sums stay exact) and sample half as often from now on.
            samples[1:] = _halve(samples[1:])
            state.interval *= 2


def _halve(samples: list[_Sample]) -> list[_Sample]:
    merged = [
        _Sample(b.end, a.seconds + b.seconds, a.items + b.items)
        for a, b in zip(samples[0::2], samples[1::2], strict=False)
    ]
    if len(samples) % 2:
        merged.append(samples[-1])
    return merged


def _done(samples: list[_Sample]) -> list[list[float]]:
    done, out = 0, []
    for sample in samples:
        done += sample.items
        out.append([round(sample.end, 3), done])
    return out


def _step_dict(state: _Step, now: float) -> dict[str, Any]:
    end = state.finished if state.finished is not None else now
    seconds = max(end - state.started, 0.0)
    return {
        "step": state.name,
        "outcome": "done" if state.finished is not None else "running",
        "items": state.items,
        "expected": state.expected,
        "started_s": round(state.started, 3),
        "duration_s": round(seconds, 3),
        "items_per_s": round(state.items / seconds, 3) if seconds > 0 else None,
        "summary": state.summary,
    }


def bind_run(observer: Observer, run_id: str) -> None:
    """Tell an observer chain the run's id once the ledger is open (``api`` calls this).

    ``RateRecorder``, ``RunNotifications``, ``LogCapture`` and ``LineObserver`` take it and
    pass it on; any other observer is left alone.
    """
    bind = getattr(observer, "bind_run", None)
    if callable(bind):
        bind(run_id)


def migrate_counts(result: MigrateReport) -> dict[str, int]:
    """The numbers a notification carries for a finished migration."""
    counts = {
        "exported_items": result.export.item_count,
        "imported_items": result.imported.item_count,
        "rejected_items": result.imported.rejected,
    }
    if result.validation is not None:
        val = result.validation
        counts |= {
            "source_items": val.source_count,
            "dest_items": val.dest_count,
            "missing": val.missing_count,
            "extra": val.extra_count,
            "changed": val.changed_count,
        }
    return counts


def outcome_of(result: MigrateReport) -> EventError | None:
    """None when the migration proved the copy (or was not asked to); else why not."""
    val = result.validation
    if val is None or val.matches:
        return None
    return EventError(val.summary(), "see report.json or `ddbmigrate validate` for the keys")


def build_report(
    *,
    recorder: RateRecorder,
    source_table: str,
    dest_table: str,
    finished_at: str,
    run_id: str | None = None,
    result: MigrateReport | None = None,
    error: BaseException | EventError | None = None,
) -> dict[str, Any]:
    """report.json: the run, each table with its steps, the validation and the time series.

    ``result`` is the migration's report when it returned; ``error`` what stopped it (or
    ``outcome_of(result)`` for tables that differ). The outcome is ``success`` only with no
    error.
    """
    if error is None and result is not None:
        error = outcome_of(result)
    found = error if isinstance(error, EventError) or error is None else EventError.of(error)
    steps = recorder.steps()
    if found is not None:
        for step in steps:
            if step["outcome"] == "running":
                step["outcome"] = "failed"
    table: dict[str, Any] = {
        "run_id": run_id or recorder.run_id,
        "source_table": source_table,
        "dest_table": dest_table,
        "outcome": "failure" if found else "success",
        "error": found.to_dict() if found else None,
        "steps": steps,
        "schema": result.schema_action if result else None,
        "export": result.export.to_dict() if result else None,
        "import": result.imported.to_dict() if result else None,
        "validation": _validation(result),
        "settings": [o.to_dict() for o in result.settings] if result else [],
    }
    return {
        "format": REPORT_FORMAT,
        "run_id": run_id or recorder.run_id,
        "outcome": table["outcome"],
        "started_at": recorder.started_at,
        "finished_at": finished_at,
        "duration_s": round(recorder.elapsed(), 3),
        "error": table["error"],
        "tables": [table],
        "series": {
            "interval_s": recorder.interval,
            "items_per_s": recorder.series(),
            "items_done": recorder.progress(),
        },
    }


def merge_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One report for the tables of one pipeline run, on one time axis.

    Each table's recorder counts seconds from the table's own start; here every time is
    moved to seconds since the first table started (a table that began 9 s into the run is
    drawn at 9 s), and the run's duration is its last finish minus its first start.
    """
    if len(reports) == 1:
        return dict(reports[0])
    starts = [_epoch(r.get("started_at")) for r in reports]
    origin = min((s for s in starts if s is not None), default=None)
    offsets = [0.0 if s is None or origin is None else s - origin for s in starts]
    failed = [r for r in reports if r.get("outcome") != "success"]
    first = min(range(len(reports)), key=lambda i: offsets[i])
    finished = max((str(r.get("finished_at")) for r in reports), key=_sort_time)
    return {
        **reports[first],
        # The first table's in the file's order names the log folder, as before the merge
        # learned start times: the earliest-started table's could be the id a later
        # invocation resumes, whose report would then overwrite this one's.
        "run_id": reports[0].get("run_id"),
        "run_ids": [str(r["run_id"]) for r in reports if r.get("run_id")],
        "outcome": "failure" if failed else "success",
        "started_at": reports[first].get("started_at"),
        "finished_at": finished,
        "duration_s": _run_duration(reports, offsets, origin, _epoch(finished)),
        "error": failed[0].get("error") if failed else None,
        "tables": [
            _shift_table(t, offset)
            for r, offset in zip(reports, offsets, strict=True)
            for t in r.get("tables") or []
        ],
        "series": _merged_series(reports, offsets),
    }


def _epoch(stamp: object) -> float | None:
    """Seconds since the epoch of a report's ISO time; None for anything else."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _sort_time(stamp: str) -> tuple[float, str]:
    return (_epoch(stamp) or 0.0, stamp)


def _run_duration(
    reports: Sequence[Mapping[str, Any]],
    offsets: list[float],
    started: float | None,
    finished: float | None,
) -> float:
    """The run's finish minus its start; without readable times, the last table's end on
    the shared axis."""
    if started is not None and finished is not None:
        return round(max(finished - started, 0.0), 3)
    ends = [
        offset + float(r.get("duration_s") or 0.0)
        for r, offset in zip(reports, offsets, strict=True)
    ]
    return round(max(ends), 3)


def _shift_table(table: Mapping[str, Any], offset: float) -> dict[str, Any]:
    steps = [
        {**step, "started_s": round(float(step.get("started_s") or 0.0) + offset, 3)}
        for step in table.get("steps") or []
    ]
    return {**table, "steps": steps}


def _merged_series(reports: Sequence[Mapping[str, Any]], offsets: list[float]) -> dict[str, Any]:
    """Each table's series under ``<table> <step>``, its times moved onto the run's axis."""
    merged: dict[str, Any] = {"interval_s": INTERVAL, "items_per_s": {}, "items_done": {}}
    for report, offset in zip(reports, offsets, strict=True):
        table = report["tables"][0]["source_table"]
        series = report.get("series") or {}
        merged["interval_s"] = series.get("interval_s", merged["interval_s"])
        for kind in ("items_per_s", "items_done"):
            for step, points in (series.get(kind) or {}).items():
                merged[kind][f"{table} {step}"] = [
                    [round(t + offset, 3), value] for t, value in points
                ]
    return merged


def _validation(result: MigrateReport | None) -> dict[str, Any] | None:
    if result is None or result.validation is None:
        return None
    return {"summary": result.validation.summary(), **result.validation.to_dict()}


def report_json(report: Mapping[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"


def write_report_files(
    report: Mapping[str, Any], store: Store, folder: str, *, log_text: str | None = None
) -> list[str]:
    """Upload ``<folder>/report.json`` (and ``<folder>/run.log``); return the keys written.

    Store errors propagate (they name the place and the fix); a caller that must not fail
    after a finished migration catches ``DdbMigrateError`` and logs it.
    """
    base = folder.strip("/")
    keys = [f"{base}/report.json" if base else "report.json"]
    store.put(keys[0], report_json(report))
    if log_text is not None:
        keys.append(f"{base}/run.log" if base else "run.log")
        store.put(keys[1], log_text.encode("utf-8"))
    return keys


def render_html(report: Mapping[str, Any]) -> str:
    """The one-page HTML report (kept here so old imports work; the page is drawn by
    ``ddbmigrate.render.html``, which this core module loads only when asked)."""
    from ddbmigrate.render.html import render_html as draw  # noqa: PLC0415 - presentation

    return draw(report)
