"""The replay's side of the bridge past the 24-hour retention (ADR 32), on the fake stream.

The incremental export is simulated from the fake's full history (it keeps trimmed records):
the newest change per key in the window, as ExportTableToPointInTime INCREMENTAL writes it.
"""

from __future__ import annotations

import pytest
from live_setup import Live, key, live

from ddbmigrate.errors import StreamTrimmedError
from ddbmigrate.items import key_bytes
from ddbmigrate.live.bridge import MIN_WINDOW, bridge_windows, close_gap, plan_bridge
from ddbmigrate.live.checkpoints import Bridge
from ddbmigrate.live.ports import ChangeRecord

HOUR = 3600.0


def _export_incremental(setup: Live, start: float, end: float) -> int:
    """Newest change per key made in ``[start, end)``, applied to the destination."""
    newest: dict[bytes, ChangeRecord] = {}
    history = [r for shard in setup.streams._streams["src"].shards.values() for r in shard.records]
    for record in sorted(history, key=lambda r: int(r.sequence)):
        if start <= record.created < end:
            newest[key_bytes(record.keys)] = record
    for record in newest.values():
        if record.event == "REMOVE":
            setup.dest.delete(record.keys)
        else:
            setup.dest.put(dict(record.new_image or {}))
    return len(newest)


def _gap(setup: Live) -> str:
    """Changes applied, then changes trimmed before the replay saw them."""
    (shard,) = setup.streams.shard_ids("src")
    for n in range(6):
        setup.put(n)
    setup.replay().catch_up()
    setup.clock.advance(30 * HOUR)
    for n in range(3, 10):
        setup.put(n, 1)
    setup.streams.delete("src", key(0))
    setup.streams.trim(shard, 10)  # 4 of the unapplied changes are gone from the stream
    return shard


def test_a_gap_closed_by_an_incremental_export_ends_identical() -> None:
    setup = live()
    _gap(setup)
    with pytest.raises(StreamTrimmedError):
        setup.replay().catch_up()
    setup.clock.advance(600.0)  # the bridge is made 10 minutes later, past its margin
    replay = setup.replay()
    now = setup.clock.now_ms() / 1000.0

    bridge = plan_bridge(replay, now=now)
    exported = sum(_export_incremental(setup, a, b) for a, b in bridge_windows(bridge))
    close_gap(replay, bridge)
    setup.put(20, 5)  # the stream goes on after the bridge
    setup.streams.delete("src", key(4))
    replay.catch_up()

    assert setup.same_tables()
    assert exported == 6 + 8  # per window: the first 6 puts (overlap), then 7 puts, 1 delete
    assert bridge.start <= 1767225600.0  # from the last applied change, a second earlier
    assert setup.replay().bridge == bridge  # recorded: a resumed replay knows it
    assert len(setup.writer.applied()) == 6 + 2  # what the export covered is not sent again


def test_the_bridge_windows_are_15_minutes_to_24_hours_and_contiguous() -> None:
    long = Bridge(start=0.0, end=50 * HOUR, resume_from=0.0, shards=())
    short = Bridge(start=100.0, end=400.0, resume_from=0.0, shards=())

    windows = bridge_windows(long)

    assert windows[0][0] <= 0.0
    assert windows[-1][1] == 50 * HOUR
    assert all(b - a <= 24 * HOUR for a, b in windows)
    assert all(b - a >= MIN_WINDOW for a, b in windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))
    assert bridge_windows(short) == [(400.0 - MIN_WINDOW, 400.0)]


def test_a_lost_parent_is_covered_by_the_bridge() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    setup.put(1)
    setup.replay().catch_up()
    setup.put(2)
    child = setup.streams.close(root)
    setup.put(3)
    setup.streams.age_out(root)
    setup.clock.advance(HOUR)
    replay = setup.replay()
    with pytest.raises(StreamTrimmedError, match=f"parent of shard {child}"):
        replay.catch_up()

    bridge = plan_bridge(replay, now=setup.clock.now_ms() / 1000.0)
    for a, b in bridge_windows(bridge):
        _export_incremental(setup, a, b)
    close_gap(replay, bridge)
    replay.catch_up()

    assert setup.same_tables()
    assert replay.status().shards_finished == 1  # the lost parent counts as read


def test_shards_listed_at_the_bridge_may_have_lost_parents_never_read() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    setup.put(1)
    middle = setup.streams.close(root)
    setup.put(2)
    last = setup.streams.close(middle)
    setup.put(3)
    setup.streams.age_out(root)
    setup.streams.age_out(middle)  # never read, and no checkpoint says so
    setup.clock.advance(HOUR)
    replay = setup.replay()
    with pytest.raises(StreamTrimmedError, match=f"parent of shard {last}"):
        replay.catch_up()

    bridge = plan_bridge(replay, now=setup.clock.now_ms() / 1000.0)
    for a, b in bridge_windows(bridge):
        _export_incremental(setup, a, b)
    close_gap(replay, bridge)
    setup.put(4)
    replay.catch_up()

    assert bridge.shards == (last,)
    assert setup.same_tables()


def test_a_second_gap_is_bridged_from_the_first_bridge_not_from_the_start() -> None:
    setup = live()
    setup.clock.advance(30 * HOUR)
    replay = setup.replay()
    first = plan_bridge(replay, now=setup.clock.now_ms() / 1000.0)
    close_gap(replay, first)
    (shard,) = setup.streams.shard_ids("src")
    child = setup.streams.close(shard)  # a shard the replay never applied anything from
    setup.clock.advance(HOUR)

    second = plan_bridge(replay, now=setup.clock.now_ms() / 1000.0)

    assert first.start < 1767225600.0  # the start point, a second earlier
    assert second.start == first.resume_from - 1.0
    assert child in second.shards
