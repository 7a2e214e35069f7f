"""RateRecorder's time series, report.json's shape, the HTML page, and the log lines."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from html.parser import HTMLParser
from typing import Any

import pytest

from ddbmigrate import report as core_report
from ddbmigrate.cli.logging_setup import (
    JsonFormatter,
    LineObserver,
    LogCapture,
    LogFormat,
    configure_logging,
)
from ddbmigrate.errors import CorruptDataError
from ddbmigrate.exporter import ExportResult
from ddbmigrate.importer import ImportResult
from ddbmigrate.pipeline import MigrateReport, Plan
from ddbmigrate.ports import NullObserver
from ddbmigrate.render.html import render_html
from ddbmigrate.report import (
    RateRecorder,
    bind_run,
    build_report,
    migrate_counts,
    write_report_files,
)
from ddbmigrate.testing import FakeClock, MemoryStore
from ddbmigrate.validator import ValidationReport


class Forwarded(NullObserver):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def step_started(self, step: str, *, total: int | None) -> None:
        self.calls.append(f"started {step} {total}")

    def advanced(self, step: str, items: int) -> None:
        self.calls.append(f"advanced {step} {items}")

    def message(self, text: str) -> None:
        self.calls.append(f"message {text}")

    def step_finished(self, step: str, *, summary: str) -> None:
        self.calls.append(f"finished {step} {summary}")


def run_export(recorder: RateRecorder, clock: FakeClock) -> None:
    """100 items/s for 3 s, then 300 items/s for 2 s, then done."""
    recorder.step_started("export", total=900)
    for rate, seconds in ((100, 3), (300, 2)):
        for _ in range(seconds * 2):
            clock.advance(0.5)
            recorder.advanced("export", rate // 2)
    recorder.step_finished("export", summary="900 items in 1 parts")


def test_rate_recorder_forwards_every_call() -> None:
    inner, clock = Forwarded(), FakeClock()
    recorder = RateRecorder(inner, clock)
    recorder.message("hi")
    recorder.step_started("export", total=2)
    recorder.advanced("export", 2)
    recorder.step_finished("export", summary="2 items")
    assert inner.calls == [
        "message hi",
        "started export 2",
        "advanced export 2",
        "finished export 2 items",
    ]


def test_rate_recorder_samples_items_per_second_per_step() -> None:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock, interval=1.0)
    run_export(recorder, clock)
    series = recorder.series()["export"]
    assert series[0] == [0.0, 0.0]
    assert [rate for _, rate in series[1:]] == [100.0, 100.0, 100.0, 300.0, 300.0]
    assert [t for t, _ in series[1:]] == [1.0, 2.0, 3.0, 4.0, 5.0]
    [step] = recorder.steps()
    assert step == {
        "step": "export",
        "outcome": "done",
        "items": 900,
        "expected": 900,
        "started_s": 0.0,
        "duration_s": 5.0,
        "items_per_s": 180.0,
        "summary": "900 items in 1 parts",
    }


def test_rate_recorder_stays_bounded_and_exact_on_long_runs() -> None:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock, interval=1.0, max_samples=10)
    recorder.step_started("import", total=None)
    for _ in range(1000):
        clock.advance(1.0)
        recorder.advanced("import", 25)
    recorder.step_finished("import", summary="done")
    series = recorder.series()["import"]
    assert len(series) <= 11
    assert all(rate == 25.0 for _, rate in series[1:])  # merged windows keep exact averages
    assert series[-1][0] == 1000.0


def test_rate_recorder_is_thread_safe() -> None:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock)
    recorder.step_started("export", total=None)

    def work() -> None:
        for _ in range(1000):
            clock.advance(0.001)
            recorder.advanced("export", 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.step_finished("export", summary="")
    assert recorder.steps()[0]["items"] == 4000


def migrate_report(*, matches: bool = True) -> MigrateReport:
    validation = ValidationReport(
        source_table="customer",
        dest_table="customer",
        source_count=900,
        dest_count=900 if matches else 899,
        missing=[] if matches else ['name="<b>x</b>"'],
        extra=[],
        changed=[],
        missing_count=0 if matches else 1,
        differing_buckets=0 if matches else 1,
        rechecked=not matches,
        seconds=1.0,
    )
    return MigrateReport(
        plan=Plan("customer", "customer", 900, 90_000, "PAY_PER_REQUEST", 4, False),
        schema_action="created table 'customer' like 'customer'",
        export=ExportResult("e1", "AWSDynamoDB/e1", "s3://b/p/AWSDynamoDB/e1", 900, [], 1000, 5.0),
        imported=ImportResult(900, 1, 4.0),
        validation=validation,
    )


def recorded() -> RateRecorder:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock)
    recorder.bind_run("20260101T000000Z-1a2b3c4d")
    run_export(recorder, clock)
    return recorder


def test_report_dict_shape_for_a_successful_migration() -> None:
    report = build_report(
        recorder=recorded(),
        source_table="customer",
        dest_table="customer",
        finished_at="2026-01-01T00:00:05.000Z",
        result=migrate_report(),
    )
    assert report["format"] == "ddbmigrate.report/1"
    assert report["run_id"] == "20260101T000000Z-1a2b3c4d"
    assert report["outcome"] == "success"
    assert report["error"] is None
    assert report["started_at"] == "2026-01-01T00:00:00.000Z"
    assert report["duration_s"] == 5.0
    [table] = report["tables"]
    assert table["outcome"] == "success"
    assert [s["step"] for s in table["steps"]] == ["export"]
    assert table["validation"]["summary"].startswith("MATCH: 900 of 900")
    assert table["export"]["items"] == 900
    assert table["import"]["items"] == 900
    assert report["series"]["items_per_s"]["export"][1] == [1.0, 100.0]
    json.dumps(report)  # JSON-safe as it stands


def test_report_of_a_failed_run_marks_the_running_step() -> None:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock)
    recorder.step_started("import", total=10)
    recorder.advanced("import", 3)
    report = build_report(
        recorder=recorder,
        source_table="a",
        dest_table="b",
        finished_at=clock.now_iso(),
        error=CorruptDataError("part 3 MD5 differs", hint="export again"),
    )
    assert report["outcome"] == "failure"
    assert report["error"] == {"message": "part 3 MD5 differs", "hint": "export again"}
    assert report["tables"][0]["steps"][0]["outcome"] == "failed"
    assert report["tables"][0]["validation"] is None


def test_report_of_tables_that_differ_is_a_failure() -> None:
    report = build_report(
        recorder=recorded(),
        source_table="customer",
        dest_table="customer",
        finished_at="x",
        result=migrate_report(matches=False),
    )
    assert report["outcome"] == "failure"
    assert report["error"]["message"].startswith("MISMATCH")
    assert migrate_counts(migrate_report(matches=False))["missing"] == 1


class Page(HTMLParser):
    """Checks the page is well formed and collects what the assertions need."""

    VOID = frozenset({"meta", "br", "img", "link", "input", "hr", "rect", "line"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        names = dict(attrs)
        if tag in ("script", "link") or (tag == "img" and names.get("src")):
            self.external.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack.pop() == tag, f"</{tag}> closes the wrong element"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def test_html_is_one_well_formed_self_contained_page() -> None:
    report = build_report(
        recorder=recorded(),
        source_table="customer",
        dest_table="customer",
        finished_at="2026-01-01T00:00:05.000Z",
        result=migrate_report(),
    )
    page = render_html(report)
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert parsed.external == []
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "svg" in parsed.tags
    assert "polyline" in parsed.tags
    assert "table" in parsed.tags
    assert parsed.tags.count("tr") >= 3  # header, the export step, the result
    text = " ".join(parsed.text)
    assert "MATCH: 900 of 900" in text
    assert "items per second" in text.lower() or "Items per second" in text


def test_html_escapes_every_text() -> None:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock)
    recorder.step_started("<script>alert(1)</script>", total=None)
    clock.advance(1.0)
    recorder.advanced("<script>alert(1)</script>", 5)
    recorder.step_finished("<script>alert(1)</script>", summary="a & b <i>")
    report = build_report(
        recorder=recorder,
        source_table='t"><img src=x onerror=alert(1)>',
        dest_table="d",
        finished_at="x",
        run_id="<run>",
        error=CorruptDataError("bad <line>", hint="fix & retry"),
    )
    page = render_html(report)
    parsed = parse(page)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert "i" not in parsed.tags
    assert "&lt;script&gt;" in page
    assert "bad &lt;line&gt;" in page
    assert "fix &amp; retry" in page


def test_html_without_samples_says_so() -> None:
    report = build_report(
        recorder=RateRecorder(NullObserver(), FakeClock()),
        source_table="a",
        dest_table="b",
        finished_at="x",
        error=CorruptDataError("stopped in preflight"),
    )
    parsed = parse(render_html(report))
    assert "svg" not in parsed.tags
    assert any("No throughput samples" in t for t in parsed.text)


def test_the_page_is_drawn_outside_the_core_report() -> None:
    """report.py builds the data; ``ddbmigrate.render`` draws it. The old name still works,
    and the core module does not load the drawing code until it is asked to draw."""
    report = build_report(recorder=recorded(), source_table="a", dest_table="b", finished_at="x")
    assert core_report.render_html(report) == render_html(report)
    script = "import sys, ddbmigrate.report\nprint([m for m in sys.modules if 'render' in m])"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_report_files_go_to_the_log_location() -> None:
    store = MemoryStore("s3://logs/ddbmigrate")
    report = build_report(recorder=recorded(), source_table="a", dest_table="b", finished_at="x")
    keys = write_report_files(report, store, "runs/r1/", log_text="line 1\nline 2\n")
    assert keys == ["runs/r1/report.json", "runs/r1/run.log"]
    assert json.loads(store.get("runs/r1/report.json"))["run_id"] == report["run_id"]
    assert store.get("runs/r1/run.log") == b"line 1\nline 2\n"
    assert write_report_files(report, store, "") == ["report.json"]


# --- logs -----------------------------------------------------------------------------------


def test_json_lines_on_stderr_carry_ts_level_message_and_context() -> None:
    stream, clock = io.StringIO(), FakeClock()
    log = LineObserver(clock, stream=stream, table="a -> b")
    log.message("preflight ok")
    log.bind_run("r1")
    log.step_started("export", total=5)
    log.advanced("export", 5)  # not a line
    log.step_finished("export", summary="5 items")
    log.error("access denied", hint="grant it")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0] == {
        "ts": "2026-01-01T00:00:00.000Z",
        "level": "info",
        "message": "preflight ok",
        "table": "a -> b",
    }
    assert lines[1]["run_id"] == "r1"
    assert lines[1]["step"] == "export"
    assert lines[1]["expected"] == 5
    assert lines[2]["message"] == "export: 5 items"
    assert lines[3] == {
        "ts": "2026-01-01T00:00:00.000Z",
        "level": "error",
        "message": "access denied",
        "table": "a -> b",
        "run_id": "r1",
        "hint": "grant it",
    }
    assert len(lines) == 4


def test_log_capture_forwards_and_keeps_the_newest_lines() -> None:
    inner, clock = Forwarded(), FakeClock()
    capture = LogCapture(inner, clock, max_lines=3)
    capture.bind_run("r9")
    for n in range(5):
        capture.message(f"line {n}")
    capture.advanced("export", 1)
    assert inner.calls[-1] == "advanced export 1"
    assert len(inner.calls) == 6
    assert capture.dropped == 2
    text = capture.text()
    assert text.splitlines()[0] == "... 2 earlier lines dropped ..."
    assert text.splitlines()[1:] == [
        "2026-01-01T00:00:00.000Z INFO    line 2 [run_id=r9]",
        "2026-01-01T00:00:00.000Z INFO    line 3 [run_id=r9]",
        "2026-01-01T00:00:00.000Z INFO    line 4 [run_id=r9]",
    ]


def test_log_capture_in_json_and_extra_records() -> None:
    capture = LogCapture(NullObserver(), FakeClock(), fmt=LogFormat.json)
    capture.record("error", "stopped", hint="run again")
    [line] = capture.lines()
    assert json.loads(line) == {
        "ts": "2026-01-01T00:00:00.000Z",
        "level": "error",
        "message": "stopped",
        "hint": "run again",
    }


def test_python_logging_as_json_lines() -> None:
    stream = io.StringIO()
    handler = configure_logging(LogFormat.json, stream=stream)
    try:
        logging.getLogger("ddbmigrate.test").warning("slow %s", "down", extra={"run_id": "r1"})
    finally:
        logging.getLogger().removeHandler(handler)
    record: dict[str, Any] = json.loads(stream.getvalue())
    assert record["level"] == "warning"
    assert record["message"] == "slow down"
    assert record["run_id"] == "r1"
    assert record["logger"] == "ddbmigrate.test"
    assert record["ts"].endswith("Z")


def test_json_formatter_includes_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_log_formats_are_named_for_the_flag(fmt: LogFormat) -> None:
    assert LogFormat(fmt.value) is fmt


def test_a_short_last_window_joins_the_previous_sample() -> None:
    clock = FakeClock()
    recorder = RateRecorder(NullObserver(), clock, interval=1.0)
    recorder.step_started("validate", total=None)
    clock.advance(1.0)
    recorder.advanced("validate", 100)
    clock.advance(0.1)
    recorder.advanced("validate", 1000)  # a burst right before the end: no 10,000 items/s spike
    recorder.step_finished("validate", summary="")
    assert recorder.series()["validate"] == [[0.0, 0.0], [1.1, 1000.0]]
    assert recorder.steps()[0]["items"] == 1100


def test_bind_run_reaches_every_wrapper_in_the_chain() -> None:
    stream, clock = io.StringIO(), FakeClock()
    console = LineObserver(clock, stream=stream)
    capture = LogCapture(console, clock)
    recorder = RateRecorder(capture, clock)
    bind_run(recorder, "r7")
    bind_run(NullObserver(), "ignored")  # observers without the hook are left alone
    recorder.message("hello")
    assert recorder.run_id == "r7"
    assert json.loads(stream.getvalue())["run_id"] == "r7"
    assert capture.lines() == ["2026-01-01T00:00:00.000Z INFO    hello [run_id=r7]"]


def test_warnings_are_kept_and_shown() -> None:
    stream, clock = io.StringIO(), FakeClock()
    capture = LogCapture(LineObserver(clock, stream=stream), clock)
    capture.warning("notification (success) not sent: webhook http://h/ answered 500")
    assert json.loads(stream.getvalue())["level"] == "warning"
    assert capture.lines()[0].split()[1] == "WARNING"
    plain = Forwarded()
    LogCapture(plain, clock).warning("w")
    assert plain.calls == ["message warning: w"]
