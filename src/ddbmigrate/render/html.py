"""The one-page HTML report: report.json drawn for a person, self-contained (no scripts, no
external files). Presentation only: ``ddbmigrate.report`` builds the data it draws."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ddbmigrate.render.svg import chart_svg

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
    title = page_title(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        _run_ids_html(report),
        f'<p class="{e(outcome)}"><strong>{e(outcome.upper())}</strong>'
        f" — started {e(report.get('started_at'))}, finished {e(report.get('finished_at'))},"
        f" {_seconds(report.get('duration_s'))} s</p>",
        *_error_html(report.get("error")),
        "<h2>Tables</h2>",
        _tables_html(report.get("tables") or []),
        "<h2>Items per second</h2>",
        chart_svg((report.get("series") or {}).get("items_per_s") or {}),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def page_title(report: Mapping[str, Any]) -> str:
    """What ran and when, e.g. "ddbmigrate run of 3 tables, 2026-12-06 07:12 UTC" (the run
    ids, long and alike, are listed under it rather than glued into it)."""
    tables = list(report.get("tables") or [])
    if len(tables) == 1:
        what = f"{tables[0].get('source_table')} → {tables[0].get('dest_table')}"
    else:
        what = f"{len(tables):,} tables"
    when = _minute(report.get("started_at"))
    return f"ddbmigrate run of {what}, {when}" if when else f"ddbmigrate run of {what}"


def _minute(stamp: object) -> str | None:
    """``2026-12-06T07:12:31.123Z`` as ``2026-12-06 07:12 UTC``; None when not such a time."""
    text = str(stamp or "")
    if len(text) < 16 or text[10] != "T" or not text.endswith("Z"):
        return None
    return f"{text[:10]} {text[11:16]} UTC"


def _run_ids_html(report: Mapping[str, Any]) -> str:
    ids = [str(i) for i in report.get("run_ids") or [report.get("run_id")] if i]
    if not ids:
        return '<p class="hint">no run was started</p>'
    label = "run id" if len(ids) == 1 else "run ids"
    return f'<p class="hint">{label}: ' + ", ".join(f"<code>{_esc(i)}</code>" for i in ids) + "</p>"


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:,.0f}" if isinstance(value, int) or value >= 100 else f"{value:,.1f}"


def _seconds(value: object) -> str:
    """Seconds to a tenth: a step of 0.4 s is not "0"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:,.1f}"


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
        "<th>started at s</th><th>seconds</th><th>items/s</th><th>summary</th></tr></thead><tbody>"
    )
    rows = [row for table in tables for row in _table_rows(table)]
    if not rows:
        rows = ['<tr><td colspan="8">no steps ran</td></tr>']
    return head + "".join(rows) + "</tbody></table>"


def _table_rows(table: Mapping[str, Any]) -> list[str]:
    e = _esc
    name = f"{table.get('source_table')} → {table.get('dest_table')}"
    steps = list(table.get("steps") or [])
    rows = [
        f"<tr><td>{e(name)}</td><td>{e(s.get('step'))}</td>"
        f'<td class="{e(_outcome_class(s.get("outcome")))}">{e(s.get("outcome"))}</td>'
        f'<td class="n">{_num(s.get("items"))}</td>'
        f'<td class="n">{_seconds(s.get("started_s"))}</td>'
        f'<td class="n">{_seconds(s.get("duration_s"))}</td>'
        f'<td class="n">{_num(s.get("items_per_s"))}</td><td>{e(s.get("summary"))}</td></tr>'
        for s in steps
    ]
    verdict = (table.get("validation") or {}).get("summary") if table.get("validation") else None
    outcome = str(table.get("outcome", ""))
    rows += _settings_rows(name, table.get("settings") or [])
    rows.append(
        f'<tr><td>{e(name)}</td><td>result</td><td class="{e(outcome)}">{e(outcome)}</td>'
        f'<td colspan="5">{e(verdict or (table.get("error") or {}).get("message") or "")}</td></tr>'
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
            f'<td colspan="5">{e(entry.get("reason") or "")}</td></tr>'
        )
    return rows


def _outcome_class(outcome: object) -> str:
    return {"done": "success", "failed": "failure"}.get(str(outcome), "")
