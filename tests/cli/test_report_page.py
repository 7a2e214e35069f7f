"""The HTML report of a real three-table pipeline run, loaded in headless Chromium (issue 14):
no console errors, one chart series per table and step, every series its own colour, one
time axis for the whole run, a duration that is finish minus start, a readable title."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from alltypes import create_source
from browser import load
from cliprocess import ddbmigrate
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from itemcompare import dynamodb_client

pytestmark = pytest.mark.cli

SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"
ITEMS = 20
STEPS = ("export", "import", "validate")


def side(url: str, role: str) -> str:
    return f"{{endpoint_url: {url}, region: {LOCAL_REGION}, role_arn: '{role}'}}"


def test_the_browser_check_sees_console_errors(tmp_path: Path) -> None:
    """The check below would pass a broken page if it could not see its errors."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>console.error('e1'); nosuch();</script>")
    loaded = load(page, tmp_path / "profile")
    assert "<p>x</p>" in loaded.dom
    assert any("e1" in line for line in loaded.console), loaded.console
    assert any("Uncaught ReferenceError" in line for line in loaded.console), loaded.console


def _run_pipeline(url: str, tmp_path: Path, tables: list[str]) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"source: {side(url, SOURCE_ROLE)}\ndestination: {side(url, DEST_ROLE)}\n"
        f"staging: {tmp_path / 'staging'}\ntables: [{', '.join(tables)}]\nworkers: 1\n"
        f"parallel_tables: 2\nlog_location: {tmp_path / 'logs'}\n"
    )
    done = ddbmigrate(
        *("run", str(pipeline), "--progress", "off"),
        *("--report-html", str(tmp_path / "report.html")),
        home=tmp_path,
    )
    assert done.returncode == 0, done.stderr


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _first_x(dom: str, series: str) -> float:
    found = re.search(rf'data-series="{re.escape(series)}"[^>]*points="([\d.]+),', dom)
    assert found, series
    return float(found.group(1))


def test_a_three_table_run_report_in_a_real_browser(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    tables = [f"page-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for table in tables:
        create_source(dynamodb_client(url, SOURCE_ROLE), table, items=ITEMS)
    _run_pipeline(url, tmp_path, tables)
    [path] = (tmp_path / "logs").rglob("report.json")
    report: dict[str, Any] = json.loads(path.read_text())

    # One run: finish minus start, every table's run id, each table on the run's axis.
    assert report["duration_s"] == pytest.approx(
        _epoch(report["finished_at"]) - _epoch(report["started_at"]), abs=0.002
    )
    assert len(report["run_ids"]) == 3
    steps = {t["source_table"]: t["steps"] for t in report["tables"]}
    starts = {name: min(s["started_s"] for s in done) for name, done in steps.items()}
    ends = {n: max(s["started_s"] + s["duration_s"] for s in done) for n, done in steps.items()}
    first, *_, last = sorted(tables, key=starts.__getitem__)
    # Two tables at a time: the third began only after one of the first two had finished.
    assert starts[last] >= min(ends[t] for t in tables if t != last) - 0.002, steps
    for table in tables:  # progress sampled in the run: items done, ending at the table's count
        assert report["series"]["items_done"][f"{table} export"][-1][1] == ITEMS

    loaded = load(tmp_path / "report.html", tmp_path / "profile")
    assert loaded.console == []
    title = r"<h1>ddbmigrate run of 3 tables, \d{4}-\d\d-\d\d \d\d:\d\d UTC</h1>"
    assert re.search(title, loaded.dom)
    assert all(run_id in loaded.dom for run_id in report["run_ids"])
    strokes = re.findall(r'<polyline class="series"[^>]*stroke="(#[0-9a-f]{6})"', loaded.dom)
    assert len(strokes) == len(tables) * len(STEPS)  # one series per table and step
    assert len(set(strokes)) == len(strokes)  # each its own colour
    # The table that began last is drawn from where it began, not from 0.
    assert _first_x(loaded.dom, f"{last} export") > _first_x(loaded.dom, f"{first} export") + 5


def test_a_single_table_report_has_preflight_and_schema_rows(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    table = f"rows-{uuid.uuid4().hex[:6]}"
    create_source(dynamodb_client(url, SOURCE_ROLE), table, items=ITEMS)
    done = ddbmigrate(
        *("migrate", "--source-table", table),
        *("--dest-table", f"{table}-copy", "--staging", str(tmp_path / "staging")),
        *("--source-endpoint-url", url, "--source-role-arn", SOURCE_ROLE),
        *("--dest-endpoint-url", url, "--dest-role-arn", DEST_ROLE),
        *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
        *("--workers", "1", "--progress", "off"),
        *("--report-html", str(tmp_path / "report.html")),
        *("--log-location", str(tmp_path / "logs")),
        home=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    [path] = (tmp_path / "logs").rglob("report.json")
    [entry] = json.loads(path.read_text())["tables"]
    steps = {s["step"]: s for s in entry["steps"]}
    assert list(steps) == ["preflight", "schema", *STEPS]
    assert steps["preflight"]["outcome"] == steps["schema"]["outcome"] == "done"
    assert steps["schema"]["summary"].startswith(f"created table '{table}-copy'")
    assert steps["preflight"]["started_s"] <= steps["schema"]["started_s"]
    assert steps["schema"]["started_s"] <= steps["export"]["started_s"]
    assert f"[{table}] schema: created table '{table}-copy'" in done.stderr

    loaded = load(tmp_path / "report.html", tmp_path / "profile")
    assert loaded.console == []
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\w+)</td>", loaded.dom)
    assert rows[:5] == ["preflight", "schema", *STEPS]
    assert len(re.findall(r'<polyline class="series"', loaded.dom)) == len(STEPS)
