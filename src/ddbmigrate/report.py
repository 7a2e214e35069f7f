"""The run's report: items per second over time per step, report.json and a one-page HTML.

``RateRecorder`` is an ``Observer`` wrapper: it forwards every call and samples each step's
throughput on the injected clock, so the report is built from what the run did rather than
from a second pass over the ledger.
"""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

    def bind_run(self, run_id: str) -> None:
        """The run's id, known once its ledger is open; forwarded to ``inner`` too."""
        self.run_id = run_id
        bind = getattr(self.inner, "bind_run", None)
        if callable(bind):
            bind(run_id)

    def step_started(self, step: str, *, total: int | None) -> None:
        now = self._now()
        with self._lock:
            self._steps[step] = _Step(step, total, now, window_start=now, interval=self.interval)
            self._samples[step] = [_Sample(now, 0.0, 0)]
        self.inner.step_started(step, total=total)

    def advanced(self, step: str, items: int) -> None:
        now = self._now()
        with self._lock:
            state = self._steps.get(step)
            if state is None:  # a step that never said it started: start it now
                state = self._steps[step] = _Step(step, None, now, window_start=now)
                self._samples[step] = [_Sample(now, 0.0, 0)]
            state.items += items
            state.window_items += items
            if now - state.window_start >= state.interval:
                self._close_window(state, now)
        self.inner.advanced(step, items)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def step_finished(self, step: str, *, summary: str) -> None:
        now = self._now()
        with self._lock:
            state = self._steps.get(step)
            if state is not None:
                self._last_window(state, now)
                state.finished = now
                state.summary = summary
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
        """Per step, ``[seconds since start, items/s over the window ending then]`` pairs."""
        with self._lock:
            return {
                step: [[round(s.end, 3), round(s.rate, 3)] for s in samples]
                for step, samples in self._samples.items()
            }

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
        "series": {"interval_s": recorder.interval, "items_per_s": recorder.series()},
    }


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


# --- the one-page HTML report --------------------------------------------------------------

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
_W, _H = 760, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 20, 40
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:820px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
.success{color:#1a7f37}.failure{color:#c62828}.warning{color:#9a6700}.hint{color:#555}
svg text{font:11px system-ui,sans-serif;fill:#444}
"""


def render_html(report: Mapping[str, Any]) -> str:
    """One self-contained page: the verdict, per-table results, the items/s chart."""
    e = _esc
    outcome = str(report.get("outcome", ""))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ddbmigrate run {e(report.get('run_id') or '')}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>ddbmigrate run {e(report.get('run_id') or '(not started)')}</h1>",
        f'<p class="{e(outcome)}"><strong>{e(outcome.upper())}</strong>'
        f" — started {e(report.get('started_at'))}, finished {e(report.get('finished_at'))},"
        f" {_num(report.get('duration_s'))} s</p>",
        *_error_html(report.get("error")),
        "<h2>Tables</h2>",
        _tables_html(report.get("tables") or []),
        "<h2>Items per second</h2>",
        _chart_svg((report.get("series") or {}).get("items_per_s") or {}),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:,.0f}" if isinstance(value, int) or value >= 100 else f"{value:,.1f}"


def _error_html(error: object) -> list[str]:
    if not isinstance(error, Mapping):
        return []
    lines = [f'<p class="failure">error: {_esc(error.get("message"))}</p>']
    if error.get("hint"):
        lines.append(f'<p class="hint">hint: {_esc(error.get("hint"))}</p>')
    return lines


def _tables_html(tables: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "<table><thead><tr><th>table</th><th>step</th><th>outcome</th><th>items</th>"
        "<th>seconds</th><th>items/s</th><th>summary</th></tr></thead><tbody>"
    )
    rows = [row for table in tables for row in _table_rows(table)]
    if not rows:
        rows = ['<tr><td colspan="7">no steps ran</td></tr>']
    return head + "".join(rows) + "</tbody></table>"


def _table_rows(table: Mapping[str, Any]) -> list[str]:
    e = _esc
    name = f"{table.get('source_table')} → {table.get('dest_table')}"
    steps = list(table.get("steps") or [])
    rows = [
        f"<tr><td>{e(name)}</td><td>{e(s.get('step'))}</td>"
        f'<td class="{e(_outcome_class(s.get("outcome")))}">{e(s.get("outcome"))}</td>'
        f'<td class="n">{_num(s.get("items"))}</td><td class="n">{_num(s.get("duration_s"))}</td>'
        f'<td class="n">{_num(s.get("items_per_s"))}</td><td>{e(s.get("summary"))}</td></tr>'
        for s in steps
    ]
    verdict = (table.get("validation") or {}).get("summary") if table.get("validation") else None
    outcome = str(table.get("outcome", ""))
    rows += _settings_rows(name, table.get("settings") or [])
    rows.append(
        f'<tr><td>{e(name)}</td><td>result</td><td class="{e(outcome)}">{e(outcome)}</td>'
        f'<td colspan="4">{e(verdict or (table.get("error") or {}).get("message") or "")}</td></tr>'
    )
    return rows


def _settings_rows(name: str, settings: Sequence[Mapping[str, Any]]) -> list[str]:
    """One row per optional table setting: copied, or not copied and why."""
    e = _esc
    rows = []
    for entry in settings:
        copied = bool(entry.get("copied"))
        outcome = "copied" if copied else "not copied"
        rows.append(
            f"<tr><td>{e(name)}</td><td>setting {e(entry.get('label'))}</td>"
            f'<td class="{"success" if copied else "warning"}">{outcome}</td>'
            f'<td colspan="4">{e(entry.get("reason") or "")}</td></tr>'
        )
    return rows


def _outcome_class(outcome: object) -> str:
    return {"done": "success", "failed": "failure"}.get(str(outcome), "")


def _chart_svg(series: Mapping[str, Sequence[Sequence[float]]]) -> str:
    """A line per step: x seconds since the run started, y items/s. Inline, no scripts."""
    points = [p for samples in series.values() for p in samples]
    if len(points) < 2:
        return "<p>No throughput samples were recorded.</p>"
    x_max = _nice(max(p[0] for p in points) or 1.0)
    y_max = _nice(max(p[1] for p in points) or 1.0)
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def xy(t: float, rate: float) -> str:
        return f"{_LEFT + t / x_max * width:.1f},{_TOP + height - rate / y_max * height:.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="items per second over time">',
        *_axes(x_max, y_max, width, height),
    ]
    for index, (step, samples) in enumerate(series.items()):
        color = _COLORS[index % len(_COLORS)]
        line = " ".join(xy(t, rate) for t, rate in samples)
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}">'
            f"<title>{_esc(step)}</title></polyline>"
        )
        y = _TOP + 12 + 14 * index
        out.append(
            f'<rect x="{_W - _RIGHT - 110}" y="{y - 8}" width="10" height="10" fill="{color}"/>'
            f'<text x="{_W - _RIGHT - 95}" y="{y + 1}">{_esc(step)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _axes(x_max: float, y_max: float, width: float, height: float) -> list[str]:
    bottom = _TOP + height
    out = [
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + width}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#888"/>',
        f'<text x="{_LEFT + width / 2:.0f}" y="{_H - 5}" text-anchor="middle">'
        "seconds since start</text>",
    ]
    for i in range(5):
        frac = i / 4
        x = _LEFT + frac * width
        y = bottom - frac * height
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{_tick(frac * x_max)}</text>'
        )
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + width}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick(frac * y_max)}</text>'
        )
    return out


def _nice(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"
