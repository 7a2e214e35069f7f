"""The start point of a live migration: a usable stream, ENABLED, recorded; refusals."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest
from live_setup import KEY

from ddbmigrate.checkpoint import Ledger, LedgerConflictError
from ddbmigrate.errors import ConfigError, StreamUnusableError
from ddbmigrate.live import (
    StreamStart,
    check_stream,
    open_replay,
    record_start,
    recorded_start,
    start_stream,
)
from ddbmigrate.live.start import check_description
from ddbmigrate.testing import FakeClock, FakeTable, MemoryStore
from ddbmigrate.testing.streams import FakeStreams


def _streams(view_type: str | None) -> tuple[FakeStreams, FakeClock]:
    clock = FakeClock()
    streams = FakeStreams(clock=clock)
    streams.add_table(FakeTable("src", KEY), view_type=view_type)
    streams.add_table(FakeTable("other", KEY), view_type="NEW_IMAGE")
    return streams, clock


def test_a_table_without_a_stream_gets_one_with_both_images() -> None:
    streams, clock = _streams(None)

    start = start_stream(streams, "src", clock=clock)

    assert streams.enable_calls == 1
    assert start.view_type == "NEW_AND_OLD_IMAGES"
    assert start.enabled_by_us is True
    assert start.arn == streams.table_stream("src").arn
    assert start.shards == tuple(streams.shard_ids("src"))
    assert start.started == "2026-01-01T00:00:00.000Z"
    assert StreamStart.from_json(start.to_json()) == start  # what the ledger records


@pytest.mark.parametrize("view_type", ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_an_existing_stream_with_new_images_is_used_as_it_is(view_type: str) -> None:
    streams, clock = _streams(view_type)

    start = start_stream(streams, "src", clock=clock)

    assert streams.enable_calls == 0
    assert start.view_type == view_type
    assert start.enabled_by_us is False


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "OLD_IMAGE"])
def test_a_stream_without_new_images_is_refused_with_the_fix(view_type: str) -> None:
    streams, clock = _streams(view_type)

    with pytest.raises(StreamUnusableError) as caught:
        start_stream(streams, "src", clock=clock)

    assert view_type in caught.value.message
    assert caught.value.hint is not None
    assert "NEW_AND_OLD_IMAGES" in caught.value.hint
    assert streams.enable_calls == 0  # nothing was changed on the table


def test_a_disabled_stream_is_refused() -> None:
    streams, clock = _streams(None)
    start = start_stream(streams, "src", clock=clock)
    streams.disable_stream("src")

    with pytest.raises(StreamUnusableError, match="is disabled"):
        check_stream(streams, start)


def test_a_stream_enabled_again_is_not_the_runs_stream() -> None:
    streams, clock = _streams(None)
    start = start_stream(streams, "src", clock=clock)
    streams.disable_stream("src")
    streams.enable_stream("src", "NEW_AND_OLD_IMAGES")

    with pytest.raises(StreamUnusableError, match="disabled and enabled again"):
        check_stream(streams, start)


def test_the_stream_of_another_table_is_refused() -> None:
    streams, _ = _streams(None)
    other = streams.describe_stream(str(streams.table_stream("other").arn))

    with pytest.raises(StreamUnusableError, match="belongs to table 'other', not to 'src'"):
        check_description(other, "src")


def test_the_start_point_travels_through_the_run_ledger() -> None:
    streams, clock = _streams(None)
    store = MemoryStore()
    ledger = Ledger(store, "run-1", clock)
    ledger.create(command="migrate", plan={"source_table": "src"})
    start = start_stream(streams, "src", clock=clock)

    record_start(ledger, start)
    loaded = Ledger(store, "run-1", clock)
    loaded.load()

    assert recorded_start(loaded) == start
    assert orjson.loads(store.get("ddbmigrate/runs/run-1/run.json"))["live"]["arn"] == start.arn


def test_a_run_without_a_stream_has_no_replay() -> None:
    streams, clock = _streams(None)
    ledger = Ledger(MemoryStore(), "run-2", clock)
    ledger.create(command="migrate", plan={})

    assert recorded_start(ledger) is None
    with pytest.raises(ConfigError, match="not a live migration"):
        open_replay(streams=streams, ledger=ledger, writer=FakeTable("dst", KEY), clock=clock)


def test_a_replay_opened_from_the_ledger_resumes_and_stops_when_the_lock_is_lost() -> None:
    streams, clock = _streams(None)
    ledger = Ledger(MemoryStore(), "run-3", clock)
    ledger.create(command="migrate", plan={})
    record_start(ledger, start_stream(streams, "src", clock=clock))
    dest = FakeTable("dst", KEY)
    streams.put("src", {"pk": {"S": "a"}, "sk": {"N": "1"}})
    open_replay(streams=streams, ledger=ledger, writer=dest, clock=clock).catch_up()
    streams.put("src", {"pk": {"S": "b"}, "sk": {"N": "2"}})

    assert open_replay(streams=streams, ledger=ledger, writer=dest, clock=clock).catch_up() == 1
    ledger.lock = SimpleNamespace(lost="run-3's plan is held by run-4 now")  # type: ignore[assignment]
    streams.put("src", {"pk": {"S": "c"}, "sk": {"N": "3"}})
    with pytest.raises(LedgerConflictError, match="held by run-4"):
        open_replay(streams=streams, ledger=ledger, writer=dest, clock=clock).catch_up()
