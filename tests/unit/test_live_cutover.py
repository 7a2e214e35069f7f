"""The cutover core: sentinel in and out through the stream, every shard drained."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from live_setup import KEY, key, live

from ddbmigrate.errors import StepTimeoutError
from ddbmigrate.items import key_bytes
from ddbmigrate.live import cutover
from ddbmigrate.live.cutover import SENTINEL_ATTRIBUTE, sentinel_key
from ddbmigrate.live.ports import ChangeRecord
from ddbmigrate.model import KeyAttribute, KeySchema
from ddbmigrate.ports import TableWriter, WriteRequest, WriteResult


def test_cutover_sees_the_sentinel_arrive_and_leave_and_drains_every_shard() -> None:
    setup = live()
    (root,) = setup.streams.shard_ids("src")
    for n in range(20):
        setup.put(n)
    setup.streams.split(root)
    for n in range(20, 40):
        setup.put(n)
    setup.streams.delete("src", key(3))
    replay = setup.replay()

    result = cutover(
        replay=replay, source=setup.streams.writer("src"), key=KEY, clock=setup.clock, token="t1"
    )

    assert setup.same_tables()
    assert len(setup.dest) == 39
    assert result.sentinel == sentinel_key(KEY, "t1")
    sentinel = key_bytes(result.sentinel)
    written = [r for r in setup.writer.applied() if SENTINEL_ATTRIBUTE in str(r)]
    assert len(written) == 1  # the sentinel went through the replay...
    assert setup.dest.get(result.sentinel) is None  # ...and its removal too
    assert all(key_bytes(i) != sentinel for i in setup.source.items())
    assert result.status.applied == 41 + 2


def test_cutover_stops_at_its_timeout_while_the_source_keeps_changing() -> None:
    setup = live()
    replay = setup.replay()
    version = [0]

    def keep_writing(_: ChangeRecord) -> None:  # an application that was not stopped
        version[0] += 1
        setup.put(1, version[0])

    replay.watchers.append(keep_writing)

    with pytest.raises(StepTimeoutError, match="cutover ran past its timeout"):
        cutover(
            replay=replay,
            source=setup.streams.writer("src"),
            key=KEY,
            clock=setup.clock,
            timeout=0.5,
        )


class _KilledError(Exception):
    """The cutover's process dies here."""


@dataclass
class _DiesAfterThePut:
    """The source, for a cutover that dies once its sentinel is written (a SIGKILL)."""

    table: TableWriter

    @property
    def table_name(self) -> str:
        return self.table.table_name

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        if any("DeleteRequest" in r for r in requests):
            raise _KilledError
        return self.table.batch_write(requests)


def test_a_cutover_removes_the_sentinel_of_one_that_died_before_removing_it() -> None:
    setup = live()
    for n in range(5):
        setup.put(n)
    source = setup.streams.writer("src")
    with pytest.raises(_KilledError):
        cutover(
            replay=setup.replay(), source=_DiesAfterThePut(source), key=KEY, clock=setup.clock,
            token="dead",
        )  # fmt: skip
    assert setup.source.get(sentinel_key(KEY, "dead")) is not None

    cutover(replay=setup.replay(), source=source, key=KEY, clock=setup.clock, token="t2")

    assert setup.same_tables()
    assert len(setup.source.items()) == 5  # neither sentinel is left in either table


@pytest.mark.parametrize("kind", ["S", "N", "B"])
def test_the_sentinel_key_has_the_tables_key_types(kind: str) -> None:
    schema = KeySchema(KeyAttribute("p", kind), KeyAttribute("s", kind))

    found = sentinel_key(schema, "abc")

    assert set(found) == {"p", "s"}
    assert all(set(value) == {kind} for value in found.values())
    assert sentinel_key(schema, "abc") != sentinel_key(schema, "abd")
