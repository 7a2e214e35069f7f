"""One run of a plan at a time: Store.put_if_absent and the plan lock built on it."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from ddbmigrate.checkpoint import Ledger, SegmentState
from ddbmigrate.planlock import (
    STALE_LOCK_SECONDS,
    LedgerConflictError,
    LedgerDamagedError,
    PlanLock,
    lock_dir,
    take_lock,
)
from ddbmigrate.ports import Store
from ddbmigrate.stores import LocalStore
from ddbmigrate.testing import FakeClock, MemoryStore

PLAN = {"source_table": "customer", "dest_table": "customer", "staging": "s3://b/p", "segments": 4}
RACERS = 8
DEAD_PID = 2**22 + 12345  # above Linux's pid_max: never a live process


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return MemoryStore() if request.param == "memory" else LocalStore(str(tmp_path))


def race(work: Callable[[int], object], count: int = RACERS) -> list[object]:
    """Run ``work(i)`` on ``count`` threads released at the same moment; results or errors."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the race's losers are part of the result
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


# --- Store.put_if_absent ----------------------------------------------------------------


def test_put_if_absent_creates_once_and_never_overwrites(store: Store) -> None:
    assert store.put_if_absent("locks/a.json", b"first") is True
    assert store.put_if_absent("locks/a.json", b"second") is False
    assert store.get("locks/a.json") == b"first"
    assert list(store.list("locks/")) == ["locks/a.json"]  # no temporary file left behind


def test_of_threads_racing_put_if_absent_exactly_one_wins(store: Store) -> None:
    results = race(lambda i: store.put_if_absent("locks/k.json", f"racer {i}".encode()))
    assert results.count(True) == 1, results
    assert results.count(False) == RACERS - 1, results
    assert store.get("locks/k.json") == f"racer {results.index(True)}".encode()


def test_local_put_if_absent_without_hard_links_falls_back_to_o_excl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    store = LocalStore(str(tmp_path))
    assert store.put_if_absent("a.json", b"one") is True
    assert store.put_if_absent("a.json", b"two") is False
    assert store.get("a.json") == b"one"
    assert os.listdir(tmp_path) == ["a.json"]


# --- the plan lock ----------------------------------------------------------------------


def test_a_second_live_run_of_the_plan_is_refused_with_run_id_and_host(store: Store) -> None:
    first = take_lock(store, command="migrate", plan=PLAN, run_id="r1", clock=FakeClock())
    other_options = {**PLAN, "segments": 9}  # another plan hash, the same tables: one lock
    with pytest.raises(LedgerConflictError) as refused:
        take_lock(store, command="migrate", plan=other_options, run_id=None, clock=FakeClock())
    assert str(refused.value).startswith(
        f"run 'r1' of the same migrate is being run by process {os.getpid()} "
        f"on {socket.gethostname()}"
    )
    assert "\n" not in str(refused.value)
    first.release()
    assert list(store.list("ddbmigrate/locks/")) == []  # an ended run leaves no lock behind
    second = take_lock(store, command="migrate", plan=PLAN, run_id="r2", clock=FakeClock())
    assert list(store.list("ddbmigrate/locks/")) == [f"{second.dir}/000000000000.json"]
    second.release()


def test_the_lock_names_the_run_once_it_is_chosen(store: Store) -> None:
    lock = take_lock(store, command="migrate", plan=PLAN, run_id=None, clock=FakeClock())
    with pytest.raises(LedgerConflictError, match="a run that is starting"):
        take_lock(store, command="migrate", plan=PLAN, run_id=None, clock=FakeClock())
    Ledger(store, "r7", FakeClock()).hold(lock)
    with pytest.raises(LedgerConflictError, match="run 'r7' of the same migrate"):
        take_lock(store, command="migrate", plan=PLAN, run_id=None, clock=FakeClock())
    lock.release()


def test_other_tables_or_commands_take_other_locks(store: Store) -> None:
    held = take_lock(store, command="migrate", plan=PLAN, run_id="r1", clock=FakeClock())
    other = take_lock(
        store, command="migrate", plan={**PLAN, "dest_table": "x"}, run_id="r2", clock=FakeClock()
    )
    export = take_lock(
        store, command="export", plan={"table": "customer"}, run_id="r3", clock=FakeClock()
    )
    assert len({held.dir, other.dir, export.dir}) == 3
    assert lock_dir("import", {"source": "s3://b/x/", "table": "t"}) == lock_dir(
        "import", {"source": "s3://b/x", "table": "t"}
    )
    for lock in (held, other, export):
        lock.release()


def write_holder(store: Store, generation: int, **fields: object) -> str:
    key = f"{lock_dir('migrate', PLAN)}/{generation:012d}.json"
    body = {"run_id": "old", "host": socket.gethostname(), "pid": DEAD_PID, "at": 0, **fields}
    store.put(key, orjson.dumps(body))
    return key


def test_a_dead_holder_on_this_host_is_taken_over_at_once(store: Store) -> None:
    old = write_holder(store, 4)
    lock = take_lock(store, command="migrate", plan=PLAN, run_id="new", clock=FakeClock())
    assert lock.generation == 5
    assert not store.exists(old)  # superseded generations go
    lock.release()


def test_a_holder_on_another_host_is_alive_until_its_heartbeat_is_stale(store: Store) -> None:
    clock = FakeClock()
    write_holder(store, 0, host="elsewhere", pid=1, at=clock.now_ms())
    clock.advance(STALE_LOCK_SECONDS - 1)
    with pytest.raises(LedgerConflictError, match=r"run 'old' .* on elsewhere"):
        take_lock(store, command="migrate", plan=PLAN, run_id="new", clock=clock)
    clock.advance(2)
    lock = take_lock(store, command="migrate", plan=PLAN, run_id="new", clock=clock)
    assert lock.generation == 1
    lock.release()


def test_of_two_takers_of_one_stale_lock_exactly_one_wins(store: Store) -> None:
    write_holder(store, 0)
    results = race(
        lambda i: take_lock(store, command="migrate", plan=PLAN, run_id=f"r{i}", clock=FakeClock())
    )
    won = [r for r in results if isinstance(r, PlanLock)]
    lost = [r for r in results if not isinstance(r, PlanLock)]
    assert len(won) == 1, results
    assert all(isinstance(r, LedgerConflictError) for r in lost), lost
    assert won[0].generation == 1
    assert all(f"run '{won[0].run_id}'" in str(r) for r in lost)
    won[0].release()


def test_a_taker_that_finds_a_live_holder_beside_its_new_generation_gives_way(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = write_holder(store, 5, run_id="live", pid=1)  # pid 1 always runs
    late = PlanLock(store, command="migrate", plan=PLAN, clock=FakeClock())
    real, calls = late._generations, []

    def listing() -> list[int]:
        calls.append(1)  # its first listing was taken before generation 5 appeared
        return [] if len(calls) == 1 else real()

    monkeypatch.setattr(late, "_generations", listing)

    with pytest.raises(LedgerConflictError, match="run 'live' of the same migrate"):
        late.acquire("late")

    assert list(store.list("ddbmigrate/locks/")) == [live]  # its generation 0 went again
    assert late.generation is None
    assert len(calls) == 2  # refused by the look after creating, not by the first listing


def test_release_is_done_only_by_the_owner(store: Store) -> None:
    clock = FakeClock()
    mine = take_lock(store, command="migrate", plan=PLAN, run_id="mine", clock=clock)
    key = f"{mine.dir}/000000000000.json"
    # Another process took it over (this one looked dead) and rewrote the file as its own.
    taken = {**orjson.loads(store.get(key)), "token": "theirs", "run_id": "theirs", "pid": 1}
    store.put(key, orjson.dumps(taken))
    mine.release()
    assert orjson.loads(store.get(key)) == taken  # not marked released by us
    with pytest.raises(LedgerConflictError, match="run 'theirs'"):
        take_lock(store, command="migrate", plan=PLAN, run_id="new", clock=clock)


def test_a_holder_that_lost_its_lock_stops_writing_its_ledger(store: Store) -> None:
    clock = FakeClock()
    lock = take_lock(store, command="migrate", plan=PLAN, run_id="slow", clock=clock)
    ledger = Ledger(store, "slow", clock)
    ledger.prepare(command="migrate", plan=PLAN)
    ledger.hold(lock)
    ledger.step("preflight", "done")
    write_holder(store, 1, run_id="newer", host="elsewhere", pid=1, at=clock.now_ms())
    lock.heartbeat()
    with pytest.raises(LedgerConflictError, match="taken over by run 'newer' on elsewhere"):
        ledger.step("schema", "running")
    assert orjson.loads(store.get("ddbmigrate/runs/slow/run.json"))["steps"]["schema"] == "pending"
    with pytest.raises(LedgerConflictError, match="taken over"):
        ledger.save_segment(SegmentState(0, 1))
    assert list(store.list("ddbmigrate/runs/slow/export/")) == []
    lock.release()


def test_a_damaged_lock_file_is_one_line_naming_its_key(store: Store) -> None:
    key = f"{lock_dir('migrate', PLAN)}/000000000003.json"
    store.put(key, b'{"run_id": "x", "ho')
    with pytest.raises(LedgerDamagedError) as damaged:
        take_lock(store, command="migrate", plan=PLAN, run_id=None, clock=FakeClock())
    message = str(damaged.value)
    assert message.startswith(f"run lock file {store.root.rstrip('/')}/{key} is damaged (not JSON")
    assert "\n" not in message
    assert damaged.value.hint is not None
    assert "delete that file" in damaged.value.hint
