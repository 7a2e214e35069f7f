"""Per-shard checkpoints of a live replay, kept in the run ledger's folder::

    ddbmigrate/runs/<run-id>/stream/<shard-hash>.json
    ddbmigrate/runs/<run-id>/stream-sentinels.json   (the cutover's sentinels, see below)

Each names its shard, the sequence number of the last record whose write DynamoDB
confirmed, whether the shard was read to its end, and counts for ``status``. A record is
saved only after the write it follows succeeded, so a crash re-applies at most the records
written since the last save: puts of full images and deletes, which change nothing the
second time (docs/adr/0031). The cutover records its sentinel's token before it writes the
sentinel to the source, so the next cutover removes the sentinel of one that died
(docs/adr/0047).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson

from ddbmigrate.checkpoint import Ledger, LedgerConflictError
from ddbmigrate.planlock import damaged
from ddbmigrate.ports import Store

STREAM_DIR = "stream"
BRIDGE_FILE = "stream-bridge.json"
PENDING_FILE = "stream-bridge-pending.json"
SENTINELS_FILE = "stream-sentinels.json"
_T = TypeVar("_T")
_HINT = "move the run's folder out of ddbmigrate/runs/ and start a new live migration"


@dataclass(frozen=True, slots=True)
class ShardMark:
    """How far the replay of one shard got."""

    shard_id: str
    sequence: str | None = None
    """The last applied record; None before the first."""
    finished: bool = False
    """The shard is closed and every record of it is applied."""
    applied: int = 0
    newest: float | None = None
    """``ApproximateCreationDateTime`` of the newest applied record."""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "shard": self.shard_id,
                "sequence": self.sequence,
                "finished": self.finished,
                "applied": self.applied,
                "newest": self.newest,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> ShardMark:
        body = orjson.loads(data)
        sequence = body.get("sequence")
        newest = body.get("newest")
        return cls(
            shard_id=str(body["shard"]),
            sequence=None if sequence is None else str(sequence),
            finished=bool(body["finished"]),
            applied=int(body["applied"]),
            newest=None if newest is None else float(newest),
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    """A gap in the stream closed by incremental exports (``ddbmigrate.live.bridge``)."""

    start: float
    """Epoch seconds: no unapplied change was older."""
    end: float
    """Epoch seconds: the exports' end (ExportToTime)."""
    resume_from: float
    """Stream records older than this are covered by the exports."""
    shards: tuple[str, ...]
    """Shards listed when the gap was closed: their lost parents are covered too."""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "start": self.start,
                "end": self.end,
                "resume_from": self.resume_from,
                "shards": list(self.shards),
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Bridge:
        body = orjson.loads(data)
        return cls(
            start=float(body["start"]),
            end=float(body["end"]),
            resume_from=float(body["resume_from"]),
            shards=tuple(str(s) for s in body["shards"]),
        )


@dataclass(frozen=True, slots=True)
class BridgeWindow:
    """One incremental export of a bridge: ``[start, end)``, its export once started, and
    whether its changes are applied."""

    start: float
    end: float
    export: str | None = None
    applied: bool = False
    attempt: int = 0
    """Exports of this window that ended FAILED: a new one needs a new ClientToken."""


@dataclass(frozen=True, slots=True)
class PendingBridge:
    """A bridge whose exports are not all applied yet: saved before the first export
    starts, so a crash redoes the bridge (same windows, same exports), not the stream."""

    bridge: Bridge
    windows: tuple[BridgeWindow, ...]

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "bridge": orjson.loads(self.bridge.to_json()),
                "windows": [
                    {
                        "start": w.start,
                        "end": w.end,
                        "export": w.export,
                        "applied": w.applied,
                        "attempt": w.attempt,
                    }
                    for w in self.windows
                ],
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> PendingBridge:
        body = orjson.loads(data)
        windows = tuple(
            BridgeWindow(
                start=float(w["start"]),
                end=float(w["end"]),
                export=None if w["export"] is None else str(w["export"]),
                applied=bool(w["applied"]),
                attempt=int(w.get("attempt", 0)),
            )
            for w in body["windows"]
        )
        return cls(Bridge.from_json(orjson.dumps(body["bridge"])), windows)


class ShardCheckpoints:
    """Reads and writes the shard marks of one run. Thread-safe (one object per shard)."""

    def __init__(self, store: Store, run_dir: str, guard: Callable[[], None] | None = None) -> None:
        self._store = store
        self._run_dir = run_dir
        self._dir = f"{run_dir}/{STREAM_DIR}"
        self._bridge_key = f"{run_dir}/{BRIDGE_FILE}"
        self._pending_key = f"{run_dir}/{PENDING_FILE}"
        self._sentinels_key = f"{run_dir}/{SENTINELS_FILE}"
        self._guard = guard

    @classmethod
    def of(cls, ledger: Ledger) -> ShardCheckpoints:
        """The checkpoints of ``ledger``'s run; writes stop once its plan lock is lost."""
        return cls(ledger.store, ledger.dir, lambda: _check_held(ledger))

    def task_side(self) -> ShardCheckpoints:
        """What these checkpoints are in a Spark task: the same files, without the plan
        lock's check, which the driver makes before each wave (``Replay``, ADR 50)."""
        return ShardCheckpoints(self._store, self._run_dir)

    def check_held(self) -> None:
        """LedgerConflictError once the run's plan lock is lost (another process runs it)."""
        if self._guard is not None:
            self._guard()

    def load(self) -> dict[str, ShardMark]:
        marks: dict[str, ShardMark] = {}
        for key in self._store.list(f"{self._dir}/"):
            if key.endswith(".json"):
                mark = self._parsed(key, ShardMark.from_json)
                marks[mark.shard_id] = mark
        return marks

    def save(self, mark: ShardMark) -> None:
        self.check_held()
        self._store.put(self._key(mark.shard_id), mark.to_json())

    def load_bridge(self) -> Bridge | None:
        if not self._store.exists(self._bridge_key):
            return None
        return self._parsed(self._bridge_key, Bridge.from_json)

    def save_bridge(self, bridge: Bridge) -> None:
        if self._guard is not None:
            self._guard()
        self._store.put(self._bridge_key, bridge.to_json())

    def load_pending(self) -> PendingBridge | None:
        if not self._store.exists(self._pending_key):
            return None
        return self._parsed(self._pending_key, PendingBridge.from_json)

    def save_pending(self, pending: PendingBridge) -> None:
        if self._guard is not None:
            self._guard()
        self._store.put(self._pending_key, pending.to_json())

    def drop_pending(self) -> None:
        """The bridge is recorded (``save_bridge``): nothing of it is left to redo."""
        if self._store.exists(self._pending_key):
            self._store.delete(self._pending_key)

    def load_sentinels(self) -> list[str]:
        """Tokens of the sentinels cutovers wrote to the source and may not have removed."""
        if not self._store.exists(self._sentinels_key):
            return []
        return self._parsed(self._sentinels_key, _tokens)

    def save_sentinels(self, tokens: list[str]) -> None:
        if self._guard is not None:
            self._guard()
        self._store.put(self._sentinels_key, orjson.dumps({"tokens": tokens}))

    def _key(self, shard_id: str) -> str:
        name = hashlib.sha1(shard_id.encode(), usedforsecurity=False).hexdigest()
        return f"{self._dir}/{name}.json"

    def _parsed(self, key: str, parse: Callable[[bytes], _T]) -> _T:
        try:
            return parse(self._store.get(key))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise damaged(self._store, key, "stream checkpoint", reason, _HINT) from exc


def _tokens(data: bytes) -> list[str]:
    return [str(token) for token in orjson.loads(data)["tokens"]]


def _check_held(ledger: Ledger) -> None:
    # Another process runs this plan now: two replays writing one checkpoint would each
    # skip what the other applied.
    if ledger.lock is not None and ledger.lock.lost:
        raise LedgerConflictError(ledger.lock.lost, hint="let the other run finish")
