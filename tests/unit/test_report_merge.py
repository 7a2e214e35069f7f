"""A pipeline's report (issue 14): one time axis for every table, a duration that is finish
minus start, progress sampled during the run, distinct colours, a title a person can read."""

from __future__ import annotations

import re
from typing import Any

from ddbmigrate.ports import NullObserver
from ddbmigrate.render.html import page_title, render_html
from ddbmigrate.render.svg import chart_svg, colors
from ddbmigrate.report import RateRecorder, build_report, merge_reports
from ddbmigrate.testing import FakeClock


def table_report(clock: FakeClock, name: str, run_id: str, seconds: int) -> dict[str, Any]:
    """One table's report: an export at 100 items/s for ``seconds`` s on the shared clock."""
    recorder = RateRecorder(NullObserver(), clock)
    recorder.bind_run(run_id)
    recorder.step_started("export", total=None)
    for _ in range(seconds):
        clock.advance(1.0)
        recorder.advanced("export", 100)
    recorder.step_finished("export", summary="")
    return build_report(
        recorder=recorder, source_table=name, dest_table=name, finished_at=clock.now_iso()
    )


def three_tables() -> dict[str, Any]:
    """a and b start together; c starts at 9 s, after a (5 s) and while b (10 s) runs."""
    clock = FakeClock()
    a_clock, b_clock = FakeClock(), FakeClock()
    a = table_report(a_clock, "a", "run-a", 5)
    b = table_report(b_clock, "b", "run-b", 10)
    clock.advance(9.0)
    c = table_report(clock, "c", "run-c", 3)
    return merge_reports([a, b, c])


def test_every_table_is_on_the_run_axis() -> None:
    report = three_tables()
    series = report["series"]["items_per_s"]
    assert series["c export"][0] == [9.0, 0.0]  # began at 9 s, drawn at 9 s
    assert series["c export"][-1] == [12.0, 100.0]
    assert series["a export"][0] == [0.0, 0.0]
    assert report["series"]["items_done"]["c export"][-1] == [12.0, 300]
    steps = {t["source_table"]: t["steps"][0]["started_s"] for t in report["tables"]}
    assert steps == {"a": 0.0, "b": 0.0, "c": 9.0}


def test_the_run_lasts_from_its_first_start_to_its_last_finish() -> None:
    report = three_tables()
    assert report["started_at"] == "2026-01-01T00:00:00.000Z"
    assert report["finished_at"] == "2026-01-01T00:00:12.000Z"
    assert report["duration_s"] == 12.0  # not the longest table's 10 s
    assert report["run_ids"] == ["run-a", "run-b", "run-c"]
    assert report["run_id"] == "run-a"
    assert [t["run_id"] for t in report["tables"]] == ["run-a", "run-b", "run-c"]


def test_one_report_is_left_as_it_is() -> None:
    one = table_report(FakeClock(), "a", "run-a", 2)
    assert merge_reports([one]) == one


def test_progress_is_sampled_during_the_run_and_bounded() -> None:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock, interval=1.0, max_samples=10)
    recorder.step_started("import", total=None)
    for _ in range(16):  # a page every quarter second: at most one sample a second
        clock.advance(0.25)
        recorder.advanced("import", 25)
    assert recorder.progress()["import"][:4] == [[0.0, 0], [1.0, 100], [2.0, 200], [3.0, 300]]
    for _ in range(1000):
        clock.advance(1.0)
        recorder.advanced("import", 10)
    recorder.step_finished("import", summary="")
    done = recorder.progress()["import"]
    assert len(done) <= 11
    assert done[-1] == [1004.0, 10_400]
    assert [d for _, d in done] == sorted(d for _, d in done)


def test_every_series_has_its_own_colour() -> None:
    for count in (1, 2, 7, 9, 10, 11, 24, 60):
        assert len(set(colors(count))) == count
    svg = chart_svg({f"t{i} export": [[0.0, 0.0], [1.0, 10.0 + i]] for i in range(12)})
    strokes = re.findall(r'stroke="(#[0-9a-f]{6})"', svg)
    assert len(strokes) == len(set(strokes)) == 12


def test_a_window_is_drawn_flat_not_as_a_ramp() -> None:
    svg = chart_svg({"a export": [[2.0, 0.0], [4.0, 500.0]]})
    points = re.search(r'points="([^"]+)"', svg).group(1).split()  # type: ignore[union-attr]
    corners = [tuple(float(v) for v in p.split(",")) for p in points]
    (x0, bottom), (x1, top), (x2, top2), (x3, bottom2) = corners
    assert x0 == x1 < x2 == x3  # up at 2 s, flat to 4 s, down at 4 s
    assert top == top2 < bottom == bottom2


def test_the_title_says_what_ran_and_when_and_lists_the_run_ids() -> None:
    report = three_tables()
    assert page_title(report) == "ddbmigrate run of 3 tables, 2026-01-01 00:00 UTC"
    page = render_html(report)
    assert "<h1>ddbmigrate run of 3 tables, 2026-01-01 00:00 UTC</h1>" in page
    assert "run ids: <code>run-a</code>, <code>run-b</code>, <code>run-c</code>" in page
    assert "12.0 s" in page
    one = table_report(FakeClock(), "orders", "run-o", 2)
    assert page_title(one) == "ddbmigrate run of orders → orders, 2026-01-01 00:00 UTC"


def test_steps_that_only_say_they_finished_are_timed_from_the_step_before() -> None:
    """migrate's preflight and schema say only that they are done: their rows begin where
    the step before them ended (preflight: when the run began)."""
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock)
    clock.advance(2.0)
    recorder.step_finished("preflight", summary="4 checks passed")
    clock.advance(3.0)
    recorder.step_finished("schema", summary="created table 'b' like 'a'")
    recorder.step_started("export", total=None)
    clock.advance(1.0)
    recorder.advanced("export", 10)
    recorder.step_finished("export", summary="10 items")
    rows = {s["step"]: (s["started_s"], s["duration_s"], s["outcome"]) for s in recorder.steps()}
    assert rows == {
        "preflight": (0.0, 2.0, "done"),
        "schema": (2.0, 3.0, "done"),
        "export": (5.0, 1.0, "done"),
    }
    page = render_html(
        build_report(recorder=recorder, source_table="a", dest_table="b", finished_at="x")
    )
    assert re.findall(r"<tr><td>a → b</td><td>(\w+)</td>", page)[:3] == [
        "preflight",
        "schema",
        "export",
    ]
    assert page.count('<polyline class="series"') == 1  # no line for steps that moved nothing
