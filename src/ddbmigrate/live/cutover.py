"""The cutover core: prove that the replay has applied every change made to the source.

The caller has made sure writes to the source stopped (the operator says so, or the tool
saw a quiet period). A sentinel item is written to the source and the replay runs until it
applied the sentinel's record; the sentinel is then deleted the same way (so neither table
keeps it), and every shard is drained until a pass applies nothing. What the source held
before the sentinel was written is then in the destination: validation (``validator``)
proves it item by item. A cutover that dies (SIGKILL, a lost machine) between writing its
sentinel and removing it would leave an item of ours in the application's table: each
cutover records its token in the run's checkpoints before writing it, and removes the
sentinels of earlier cutovers from the source first (docs/adr/0047).
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import threading
from dataclasses import dataclass, field

from ddbmigrate.errors import StepTimeoutError
from ddbmigrate.importer import ImportOptions, send_requests
from ddbmigrate.items import key_bytes
from ddbmigrate.live.ports import ChangeRecord
from ddbmigrate.live.replay import Replay, ReplayStatus
from ddbmigrate.model import Item, KeyAttribute, KeySchema
from ddbmigrate.ports import Clock, TableWriter, Unlimited

SENTINEL_ATTRIBUTE = "ddbmigrate_cutover"
POLL_SECONDS = 1.0
QUIET_PASSES = 2


@dataclass(frozen=True, slots=True)
class CutoverResult:
    """What the cutover proved."""

    sentinel: Item
    """The sentinel's key (written, seen, deleted, seen deleted)."""
    status: ReplayStatus
    """The replay once drained."""


def sentinel_key(key: KeySchema, token: str) -> Item:
    """A key no application writes: the tool's name and a random token in every part."""
    parts = [a for a in (key.partition, key.sort) if a is not None]
    return {a.name: _sentinel_value(a, token) for a in parts}


def _sentinel_value(attribute: KeyAttribute, token: str) -> dict[str, str]:
    text = f"ddbmigrate-cutover-{token}"
    if attribute.type == "N":
        digits = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10**30
        return {"N": f"-{digits}.7"}
    if attribute.type == "B":
        return {"B": base64.b64encode(text.encode()).decode("ascii")}
    return {"S": text}


def cutover(
    *,
    replay: Replay,
    source: TableWriter,
    key: KeySchema,
    clock: Clock,
    timeout: float = 900.0,
    token: str | None = None,
) -> CutoverResult:
    """Sentinel in, seen; sentinel out, seen; every shard drained. StepTimeoutError when
    that takes longer than ``timeout`` seconds (writes to the source have not stopped, or
    the replay cannot keep up)."""
    token = token or secrets.token_hex(8)
    sentinel = sentinel_key(key, token)
    deadline = clock.monotonic() + timeout
    _remove_leftovers(replay, source, key, clock, token)
    item = {**sentinel, SENTINEL_ATTRIBUTE: {"S": token}}
    _write(source, {"PutRequest": {"Item": item}}, clock)
    _until_seen(replay, _Sighting(sentinel, put=True), clock, deadline)
    _write(source, {"DeleteRequest": {"Key": sentinel}}, clock)
    _until_seen(replay, _Sighting(sentinel, put=False), clock, deadline)
    _drain(replay, clock, deadline)
    replay.checkpoints.save_sentinels([])
    return CutoverResult(sentinel=sentinel, status=replay.status())


def _remove_leftovers(
    replay: Replay, source: TableWriter, key: KeySchema, clock: Clock, token: str
) -> None:
    """Record ``token`` before its sentinel exists, then delete the sentinels of earlier
    cutovers from the source: their removal reaches the destination through the stream
    (before this sentinel on a shared shard, by the drain otherwise). Deleting one that
    was never written, or was removed, changes nothing and leaves no stream record."""
    earlier = replay.checkpoints.load_sentinels()
    replay.checkpoints.save_sentinels([*earlier, token])
    for old in earlier:
        _write(source, {"DeleteRequest": {"Key": sentinel_key(key, old)}}, clock)


@dataclass(slots=True)
class _Sighting:
    """Watches the replay for the sentinel's put or delete."""

    key: Item
    put: bool
    seen: threading.Event = field(default_factory=threading.Event)

    def __call__(self, record: ChangeRecord) -> None:
        if (record.event == "REMOVE") == (not self.put) and _same_key(record.keys, self.key):
            self.seen.set()


def _same_key(a: Item, b: Item) -> bool:
    return key_bytes(a) == key_bytes(b)


def _until_seen(replay: Replay, sighting: _Sighting, clock: Clock, deadline: float) -> None:
    replay.watchers.append(sighting)
    try:
        while True:
            replay.catch_up()
            if sighting.seen.is_set():
                return
            _check(clock, deadline, "the sentinel item did not arrive in the destination")
            clock.sleep(POLL_SECONDS)
    finally:
        replay.watchers.remove(sighting)


def _drain(replay: Replay, clock: Clock, deadline: float) -> None:
    """Passes over every shard until ``QUIET_PASSES`` in a row apply nothing (GetRecords
    may answer an open shard with an empty page while records follow)."""
    quiet = 0
    while quiet < QUIET_PASSES:
        quiet = quiet + 1 if replay.catch_up() == 0 else 0
        _check(clock, deadline, "the shards were still receiving changes")
        clock.sleep(POLL_SECONDS)


def _check(clock: Clock, deadline: float, what: str) -> None:
    if clock.monotonic() > deadline:
        raise StepTimeoutError(
            f"cutover ran past its timeout: {what}",
            hint="make sure nothing writes to the source table any more, then run the "
            "cutover again",
        )


def _write(table: TableWriter, request: dict[str, object], clock: Clock) -> None:
    send_requests(
        table,
        [request],
        budget=Unlimited(),
        options=ImportOptions(),
        clock=clock,
        rng=random.Random(),
    )
