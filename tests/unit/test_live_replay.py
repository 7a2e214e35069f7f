"""The replay on a fake stream: shard lineage, order per key, batches, resume, types, lag."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import orjson
import pytest
from live_setup import KEY, RUN_DIR, Live, LoggingWriter, item, key, live, wire

from alltypes import every_type_item
from ddbmigrate.errors import ExpiredIteratorError, StreamTrimmedError, ThrottledError
from ddbmigrate.items import key_bytes
from ddbmigrate.live import Replay, ShardCheckpoints, ShardMark
from ddbmigrate.live.lineage import ready_shards
from ddbmigrate.live.ports import ChangeRecord, Shard
from ddbmigrate.model import Item
from ddbmigrate.planlock import LedgerDamagedError
from ddbmigrate.ports import WriteRequest, WriteResult
from ddbmigrate.testing import FakeTable, MemoryStore
from ddbmigrate.throttle import CapacityBudget


def _versions_applied(setup: Live) -> dict[bytes, list[int]]:
    """For every key, the versions the destination was given, in the order it got them."""
    seen: dict[bytes, list[int]] = {}
    for request in setup.writer.applied():
        if "PutRequest" in request:
            image = request["PutRequest"]["Item"]
            seen.setdefault(key_bytes({"pk": image["pk"], "sk": image["sk"]}), []).append(
                int(image["v"]["N"])
            )
    return seen


def test_a_replay_makes_the_destination_the_source() -> None:
    setup = live()
    for n in range(30):
        setup.put(n)
    for n in range(0, 30, 3):
        setup.put(n, 1)
    for n in range(0, 30, 5):
        setup.streams.delete("src", key(n))

    applied = setup.replay().catch_up()

    assert applied == 30 + 10 + 6
    assert setup.same_tables()
    assert len(setup.dest) == 24


@pytest.mark.parametrize("workers", [1, 4])
def test_split_and_closed_shards_are_read_parents_first_in_order_per_key(workers: int) -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    for n in range(40):
        setup.put(n, 0)
    left, right = setup.streams.split(root)
    for n in range(40):
        setup.put(n, 1)  # each key's second version is in a child
    grandchild = setup.streams.close(left)
    for n in range(40):
        setup.put(n, 2)

    setup.replay(workers=workers, page_limit=7).catch_up()

    assert setup.same_tables()
    assert all(v == [0, 1, 2] for v in _versions_applied(setup).values())
    assert grandchild in setup.streams.open_shards("src")
    assert right in setup.streams.open_shards("src")


def test_a_child_waits_until_its_parent_is_read_to_its_end() -> None:
    parent = Shard("p", None, "1", "9")
    child = Shard("c", "p", "10")
    orphan = Shard("o", "gone-before-the-start", "20")

    assert ready_shards([child, parent, orphan], {}, at_start=("o",)) == [parent, orphan]
    finished = {"p": ShardMark("p", "9", finished=True)}
    assert ready_shards([child, parent], finished, at_start=()) == [child]


def test_a_parent_that_left_the_stream_unread_is_data_lost() -> None:
    child = Shard("c", "p", "10")

    with pytest.raises(StreamTrimmedError, match="cannot make an exact copy"):
        ready_shards([child], {"p": ShardMark("p", "5")}, at_start=())
    with pytest.raises(StreamTrimmedError, match="parent of shard c"):
        ready_shards([child], {}, at_start=())


def test_records_trimmed_after_the_checkpoint_stop_the_replay() -> None:
    setup = live()
    (shard,) = setup.streams.shard_ids("src")
    for n in range(5):
        setup.put(n)
    setup.replay().catch_up()
    for n in range(5, 10):
        setup.put(n)
    setup.streams.trim(shard, 7)  # two records the replay never applied are gone

    with pytest.raises(StreamTrimmedError) as caught:
        setup.replay().catch_up()

    assert f"records of shard {shard} after sequence number" in caught.value.message
    assert "cannot make an exact copy" in caught.value.message
    assert caught.value.hint is not None
    assert "incremental export" in caught.value.hint
    assert len(setup.dest) == 5  # nothing after the gap was written


def test_a_shard_trimmed_before_the_replay_started_is_not_silently_skipped() -> None:
    setup = live()
    (shard,) = setup.streams.shard_ids("src")
    setup.put(1)
    child = setup.streams.close(shard)
    setup.put(2)
    setup.streams.age_out(shard)

    with pytest.raises(StreamTrimmedError, match=f"parent of shard {child}"):
        setup.replay().catch_up()


def test_an_expired_iterator_is_reopened_at_the_checkpoint() -> None:
    setup = live()
    for n in range(20):
        setup.put(n)
    replay = setup.replay(page_limit=5)
    expire_once = [True]

    def expire(_: ChangeRecord) -> None:
        if expire_once and len(setup.dest) == 5:
            expire_once.pop()
            setup.streams.expire_next = 1

    replay.watchers.append(expire)
    replay.catch_up()

    assert not expire_once  # the iterator did expire mid-shard
    assert setup.same_tables()
    assert len(setup.writer.applied()) == 20  # reopened after the checkpoint: nothing twice


def test_two_updates_in_one_second_and_a_delete_then_reinsert_end_as_the_source() -> None:
    setup = live()
    setup.put(1, 1)
    setup.put(1, 2)  # the same second: ApproximateCreationDateTime cannot order them
    setup.put(2, 1)
    setup.streams.delete("src", key(2))
    setup.put(2, 3)
    setup.put(3, 1)
    setup.streams.delete("src", key(3))

    setup.replay().catch_up()

    assert setup.same_tables()
    assert setup.dest.get(key(1)) == item(1, 2)
    assert setup.dest.get(key(2)) == item(2, 3)
    assert setup.dest.get(key(3)) is None


def test_iterators_that_keep_expiring_stop_the_replay_with_a_hint() -> None:
    setup = live()
    setup.put(1)
    setup.streams.expire_next = 100
    (shard,) = setup.streams.shard_ids("src")

    with pytest.raises(ExpiredIteratorError, match=f"shard {shard} expired 6 times") as caught:
        setup.replay(max_reopens=5).catch_up()

    assert caught.value.hint is not None
    assert "resumes at its last checkpoint" in caught.value.hint


def test_a_batch_never_holds_one_key_twice() -> None:
    setup = live()
    for version in range(4):
        for n in range(10):
            setup.put(n, version)

    setup.replay().catch_up()

    for call in setup.writer.calls:
        keys = [key_bytes(_key_of(r)) for r in call]
        assert len(keys) == len(set(keys))
    assert len(setup.writer.calls) == 4  # flushed at each repeated key, not before
    assert all(v == [0, 1, 2, 3] for v in _versions_applied(setup).values())


def _key_of(request: WriteRequest) -> Item:
    found = (
        request["PutRequest"]["Item"]
        if "PutRequest" in request
        else request["DeleteRequest"]["Key"]
    )
    return {"pk": found["pk"], "sk": found["sk"]}


class _CrashError(Exception):
    """The process died right after a write, before its checkpoint."""


class _CrashingCheckpoints(ShardCheckpoints):
    def __init__(self, store: MemoryStore, crash_at: int) -> None:
        super().__init__(store, RUN_DIR)
        self.saves = 0
        self.crash_at = crash_at

    def save(self, mark: ShardMark) -> None:
        self.saves += 1
        if self.saves == self.crash_at:
            raise _CrashError
        super().save(mark)


def test_a_crash_between_write_and_checkpoint_reapplies_and_ends_identical() -> None:
    setup = live()
    for version in range(3):
        for n in range(12):
            setup.put(n, version)
    crashing = replace_checkpoints(setup, _CrashingCheckpoints(setup.store, crash_at=2))

    with pytest.raises(_CrashError):
        crashing.catch_up()
    written_before = len(setup.writer.applied())
    setup.replay(page_limit=10).catch_up()

    assert setup.same_tables()
    assert written_before == 20  # two pages written, the second never checkpointed
    assert len(setup.writer.applied()) == 36 + 10  # that page was applied again
    assert all(v == sorted(v) for v in _versions_applied(setup).values())


def replace_checkpoints(setup: Live, checkpoints: ShardCheckpoints) -> Replay:
    replay = setup.replay(page_limit=10)
    replay.checkpoints = checkpoints
    return replay


def test_every_type_survives_exactly() -> None:
    setup = live()
    extremes = {
        "big": {"N": "99999999999999999999999999999999999999"},
        "tiny": {"N": "-0.00000000000000000000000000000000000001"},
        "em": {"M": {}},
        "el": {"L": []},
        "nested": {"M": {"b": {"B": "AAEC/w=="}, "bs": {"BS": ["AA==", "/w=="]}}},
    }
    items = [{**wire(every_type_item(i)), **extremes} for i in range(6)]
    for entry in items:
        setup.streams.put("src", entry)

    setup.replay().catch_up()

    expected = sorted(orjson.dumps(i, option=orjson.OPT_SORT_KEYS) for i in items)
    found = sorted(orjson.dumps(i, option=orjson.OPT_SORT_KEYS) for i in setup.dest.items())
    assert found == expected  # byte for byte: every number text, base64 text, empty container


def test_status_reports_applied_records_open_shards_and_lag() -> None:
    setup = live()
    setup.put(1)
    setup.clock.advance(3.0)
    setup.put(2)
    replay = setup.replay()
    replay.catch_up()
    setup.clock.advance(10.0)

    status = replay.status()

    assert status.applied == 2
    assert status.shards_open == 1
    assert status.shards_finished == 0
    assert status.newest_applied == 1767225603.0
    assert status.lag == pytest.approx(10.0)
    assert status.to_dict()["lag_seconds"] == 10.0


def test_writes_go_through_the_capacity_budget_and_survive_unprocessed_items() -> None:
    setup = live(dest=FakeTable("dst", KEY, unprocessed_every=4))
    for n in range(30):
        setup.put(n)
    budget = CapacityBudget(100.0, clock=setup.clock)
    replay = setup.replay()
    replay.budget = budget

    replay.catch_up()

    assert setup.same_tables()
    assert budget.stats().consumed >= 30  # every write was charged to the budget
    assert len(setup.writer.calls) > 2  # 25 + 5 records, and the unprocessed ones again


def test_a_resumed_replay_starts_at_the_checkpoint() -> None:
    setup = live()
    for n in range(8):
        setup.put(n)
    setup.replay().catch_up()
    setup.put(8)

    applied = setup.replay().catch_up()

    assert applied == 1
    assert len(setup.writer.applied()) == 9
    assert setup.same_tables()


def test_a_damaged_checkpoint_is_named() -> None:
    store = MemoryStore()
    store.put(f"{RUN_DIR}/stream/x.json", b"{not json")

    with pytest.raises(LedgerDamagedError, match="stream checkpoint"):
        ShardCheckpoints(store, RUN_DIR).load()


def test_a_stop_request_ends_the_pass() -> None:
    setup = live()
    for n in range(5):
        setup.put(n)
    stop = threading.Event()
    stop.set()

    assert setup.replay().catch_up(stop) == 0
    assert len(setup.dest) == 0


def test_an_empty_page_in_a_closed_shard_is_not_its_end() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    for n in range(6):
        setup.put(n)
    setup.streams.close(root)
    for n in range(6, 9):
        setup.put(n)
    setup.streams.empty_next = 1

    setup.replay().catch_up()

    assert setup.same_tables()
    assert len(setup.dest) == 9


def test_throttled_writes_are_retried_and_slow_the_budget_down() -> None:
    throttled = ThrottledError("ProvisionedThroughputExceededException")
    dest = FakeTable("dst", KEY, fail_plan=[throttled, throttled])
    setup = live(dest=dest)
    for n in range(10):
        setup.put(n)
    budget = CapacityBudget(100.0, clock=setup.clock)
    replay = setup.replay()
    replay.budget = budget

    replay.catch_up()

    assert setup.same_tables()
    assert budget.stats().throttles == 2
    assert budget.rate < 100.0  # import's AIMD: halved, growing back with time


class _CountingCheckpoints(ShardCheckpoints):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store, RUN_DIR)
        self.saved: list[ShardMark] = []

    def save(self, mark: ShardMark) -> None:
        self.saved.append(mark)
        super().save(mark)


def test_a_closed_shard_saves_one_checkpoint_per_page_its_end_included() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    for n in range(6):
        setup.put(n)
    setup.streams.close(root)
    counting = _CountingCheckpoints(setup.store)

    replace_checkpoints(setup, counting).catch_up()  # one page of 6, the shard's last

    root_saves = [m for m in counting.saved if m.shard_id == root]
    assert [(m.applied, m.finished) for m in root_saves] == [(6, True)]


def _until_main_thread_waits_for_the_readers() -> None:
    """Ctrl-C lands where a user's would: while the replay waits for its readers (not in
    the middle of starting a thread)."""
    main = threading.main_thread().ident
    for _ in range(10_000):
        frame = sys._current_frames().get(main)
        while frame is not None:
            if frame.f_code.co_name == "wait" and "concurrent" in frame.f_code.co_filename:
                return
            frame = frame.f_back
        time.sleep(0.001)
    raise AssertionError("the replay never waited for its readers")


class _InterruptingWriter:
    """The destination; its first write sends SIGINT to this process (Ctrl-C) and returns
    once the main thread's handler ran."""

    def __init__(self, inner: LoggingWriter) -> None:
        self.inner, self.handled = inner, threading.Event()

    @property
    def table_name(self) -> str:
        return self.inner.table_name

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        if not self.inner.calls:
            _until_main_thread_waits_for_the_readers()
            os.kill(os.getpid(), signal.SIGINT)
            self.handled.wait(10)
        return self.inner.batch_write(requests)


def test_ctrl_c_stops_every_reader_at_its_next_page() -> None:
    setup = live()
    for n in range(50):
        setup.put(n)
    replay = setup.replay(page_limit=1, pages_per_pass=50)
    writer = _InterruptingWriter(setup.writer)
    replay.writer = writer

    def interrupted(signum: int, frame: object) -> None:
        writer.handled.set()
        raise KeyboardInterrupt

    saved = signal.signal(signal.SIGINT, interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            replay.catch_up()
    finally:
        signal.signal(signal.SIGINT, saved)
    written = len(setup.writer.calls)

    assert written < 50  # stopped, not read on to the end of the pass
    assert ShardCheckpoints(setup.store, RUN_DIR).load()  # what it wrote is checkpointed
    assert not [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")]
    assert len(setup.writer.calls) == written  # nothing written after the interrupt
