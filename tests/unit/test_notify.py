"""Run events, the never-failing fan-out and step/run events from an observer (no sockets)."""

from __future__ import annotations

import json

import pytest

from ddbmigrate.errors import AccessDeniedError, ConfigError, NotFoundError
from ddbmigrate.notify import (
    EventError,
    MultiNotifier,
    NotificationError,
    RunEvent,
    RunNotifications,
    WebhookNotifier,
    redact,
)
from ddbmigrate.ports import NullObserver
from ddbmigrate.testing import FakeClock


class Recorder:
    """A notifier that keeps what it was sent."""

    def __init__(self, target: str = "recorder") -> None:
        self.target = target
        self.events: list[RunEvent] = []

    def send(self, event: RunEvent) -> None:
        self.events.append(event)


class Failing:
    def __init__(self, exc: Exception, target: str | None = None) -> None:
        self.exc = exc
        if target:
            self.target = target

    def send(self, event: RunEvent) -> None:
        raise self.exc


def event(**changes: object) -> RunEvent:
    base: dict[str, object] = {
        "kind": "success",
        "run_id": "20260101T000000Z-1a2b3c4d",
        "source_table": "customer",
        "dest_table": "customer-copy",
        "step": None,
        "counts": {"exported_items": 10},
        "duration_s": 1.23456,
        "timestamp": "2026-01-01T00:00:01.000Z",
    }
    return RunEvent(**{**base, **changes})  # type: ignore[arg-type]


def test_event_json_names_run_table_step_counts_duration_and_error() -> None:
    body = json.loads(
        event(kind="failure", step="import", error=EventError("boom", "do this")).to_json()
    )
    assert body == {
        "type": "ddbmigrate.run-event/1",
        "kind": "failure",
        "run_id": "20260101T000000Z-1a2b3c4d",
        "table": "customer -> customer-copy",
        "source_table": "customer",
        "dest_table": "customer-copy",
        "step": "import",
        "counts": {"exported_items": 10},
        "duration_s": 1.235,
        "error": {"message": "boom", "hint": "do this"},
        "timestamp": "2026-01-01T00:00:01.000Z",
    }


def test_event_is_frozen_and_checks_its_kind() -> None:
    with pytest.raises(AttributeError):
        event().kind = "failure"  # type: ignore[misc]
    with pytest.raises(ValueError, match="kind"):
        event(kind="done")


def test_subject_is_one_short_line() -> None:
    assert event().subject() == "ddbmigrate customer -> customer-copy succeeded"
    assert event(kind="failure", step="export").subject().endswith("failed in export")
    long = event(source_table="t" * 300, dest_table="x\ny").subject()
    assert len(long) <= 100
    assert "\n" not in long


def test_event_error_of_keeps_message_and_hint() -> None:
    assert EventError.of(NotFoundError("no table", hint="create it")) == EventError(
        "no table", "create it"
    )
    assert EventError.of(RuntimeError("bug")) == EventError("RuntimeError: bug")
    assert EventError.of(KeyboardInterrupt()).message == "interrupted"


def test_multi_notifier_sends_to_all_and_never_raises() -> None:
    logged: list[str] = []
    first, last = Recorder(), Recorder()
    multi = MultiNotifier(
        [
            first,
            Failing(NotificationError("webhook https://h/… answered 500", hint="check it")),
            Failing(RuntimeError("bug"), target="SNS topic arn:x"),
            Failing(ValueError("no target")),
            last,
        ],
        on_error=logged.append,
    )
    multi.send(event())
    assert len(first.events) == len(last.events) == 1
    assert logged == [
        "notification (success) not sent: webhook https://h/… answered 500; check it",
        "notification (success) not sent: SNS topic arn:x failed: RuntimeError: bug",
        "notification (success) not sent: Failing failed: ValueError: no target",
    ]


def test_multi_notifier_survives_a_failing_error_sink() -> None:
    tried: list[str] = []

    def broken(line: str) -> None:
        tried.append(line)
        raise OSError("stderr closed")

    first, last = Failing(AccessDeniedError("no")), Recorder()
    MultiNotifier([first, last], on_error=broken).send(event())  # must not raise
    assert tried == ["notification (success) not sent: no"]  # the sink was asked, and failed
    assert len(last.events) == 1  # the notifier after the failing one still got the event


def test_multi_notifier_sends_step_events_only_when_asked() -> None:
    quiet, chatty = Recorder(), Recorder()
    MultiNotifier([quiet], on_error=print).send(event(kind="step", step="export"))
    MultiNotifier([chatty], on_error=print, steps=True).send(event(kind="step", step="export"))
    assert quiet.events == []
    assert len(chatty.events) == 1
    assert not MultiNotifier([], on_error=print)


class Calls(NullObserver):
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.run_id: str | None = None

    def step_started(self, step: str, *, total: int | None) -> None:
        self.calls.append(("started", step, total))

    def advanced(self, step: str, items: int) -> None:
        self.calls.append(("advanced", step, items))

    def message(self, text: str) -> None:
        self.calls.append(("message", text))

    def step_finished(self, step: str, *, summary: str) -> None:
        self.calls.append(("finished", step, summary))

    def bind_run(self, run_id: str) -> None:
        self.run_id = run_id


def notifications(steps: bool) -> tuple[RunNotifications, Recorder, Calls, FakeClock]:
    clock, sink, inner = FakeClock(), Recorder(), Calls()
    run = RunNotifications(
        inner,
        MultiNotifier([sink], on_error=print, steps=steps),
        source_table="a",
        dest_table="b",
        clock=clock,
    )
    return run, sink, inner, clock


def test_run_notifications_forward_and_send_step_events() -> None:
    run, sink, inner, clock = notifications(steps=True)
    run.bind_run("r1")
    run.message("hello")
    run.step_started("export", total=10)
    clock.advance(2.0)
    run.advanced("export", 4)
    run.advanced("export", 6)
    run.step_finished("export", summary="10 items")
    assert inner.run_id == "r1"
    assert inner.calls == [
        ("message", "hello"),
        ("started", "export", 10),
        ("advanced", "export", 4),
        ("advanced", "export", 6),
        ("finished", "export", "10 items"),
    ]
    [step] = sink.events
    assert (step.kind, step.step, step.run_id, dict(step.counts)) == (
        "step",
        "export",
        "r1",
        {"items": 10},
    )
    assert step.duration_s == 2.0
    assert step.timestamp == "2026-01-01T00:00:02.000Z"


def test_run_notifications_success_carries_step_items_and_given_counts() -> None:
    run, sink, _, clock = notifications(steps=False)
    run.step_started("export", total=None)
    run.advanced("export", 3)
    run.step_finished("export", summary="3")
    clock.advance(5.0)
    run.succeeded({"imported_items": 3})
    [done] = sink.events  # the step event was filtered
    assert done.kind == "success"
    assert dict(done.counts) == {"export_items": 3, "imported_items": 3}
    assert done.duration_s == 5.0
    assert done.error is None


def test_run_notifications_failure_names_the_running_step_and_the_error() -> None:
    run, sink, _, _ = notifications(steps=False)
    run.step_started("import", total=5)
    run.advanced("import", 2)
    run.failed(AccessDeniedError("BatchWriteItem denied", hint="grant dynamodb:BatchWriteItem"))
    [failed] = sink.events
    assert failed.kind == "failure"
    assert failed.step == "import"
    assert failed.run_id is None  # the ledger never said
    assert failed.error == EventError("BatchWriteItem denied", "grant dynamodb:BatchWriteItem")
    assert dict(failed.counts) == {"import_items": 2}


def test_redact_keeps_host_and_first_segment_only() -> None:
    assert redact("https://hooks.slack.com/services/T0/B0/secret") == (
        "https://hooks.slack.com/services/…"
    )
    assert redact("http://127.0.0.1:8080/hook?token=s") == "http://127.0.0.1:8080/hook/…"
    assert redact("https://user:pw@example.com") == "https://example.com/"


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "not a url", "https://"]
)
def test_webhook_refuses_urls_it_cannot_post_to(url: str) -> None:
    with pytest.raises(ConfigError, match="--notify-webhook") as info:
        WebhookNotifier(url)
    assert info.value.hint


def test_webhook_names_itself_without_secrets() -> None:
    hook = WebhookNotifier("https://hooks.example.com/services/abc/secret")
    assert hook.target == "webhook https://hooks.example.com/services/…"


def test_a_step_that_only_says_it_finished_lasts_from_the_step_before() -> None:
    """migrate's preflight and schema send no step_started (ADR 44)."""
    run, sink, _, clock = notifications(steps=True)
    clock.advance(2.0)
    run.step_finished("preflight", summary="2 checks passed")
    clock.advance(3.0)
    run.step_finished("schema", summary="created table 'b' like 'a'")
    assert [(e.step, e.duration_s, dict(e.counts)) for e in sink.events] == [
        ("preflight", 2.0, {"items": 0}),
        ("schema", 3.0, {"items": 0}),
    ]
