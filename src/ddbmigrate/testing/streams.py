"""DynamoDB Streams in memory: ``live.ports.ChangeStreams`` with what moto cannot do.

Shards split and close, parents outlive children until they age out, records get trimmed,
iterators expire. Writes made through :meth:`FakeStreams.put`/:meth:`FakeStreams.delete`
(or the table writer of :meth:`FakeStreams.writer`) change a ``FakeTable`` and append the
record DynamoDB would: INSERT or MODIFY with the new image, REMOVE with the key, to the open
shard that holds the key. ``ApproximateCreationDateTime`` has one-second resolution, as on AWS.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import dataclass, field

from ddbmigrate.errors import ExpiredIteratorError, NotFoundError, StreamTrimmedError
from ddbmigrate.items import key_bytes, key_of
from ddbmigrate.live.ports import (
    USABLE_VIEW_TYPES,
    ChangeRecord,
    RecordsPage,
    Shard,
    StreamDescription,
    TableStream,
)
from ddbmigrate.model import Item
from ddbmigrate.ports import Clock, WriteRequest, WriteResult
from ddbmigrate.testing.fakes import FakeClock, FakeTable

FIRST_SEQUENCE = 100000000000000000001


@dataclass(slots=True)
class FakeShard:
    shard_id: str
    parent_id: str | None
    records: list[ChangeRecord] = field(default_factory=list)
    closed: bool = False
    listed: bool = True
    trimmed: int = 0
    """Records trimmed from the start of the shard."""

    def describe(self) -> Shard:
        first = self.records[0].sequence if self.records else str(FIRST_SEQUENCE)
        last = self.records[-1].sequence if self.records else first
        return Shard(self.shard_id, self.parent_id, first, last if self.closed else None)


@dataclass(slots=True)
class _Stream:
    table: FakeTable
    view_type: str | None
    enabled: bool = False
    arn: str | None = None
    shards: dict[str, FakeShard] = field(default_factory=dict)


class FakeStreams:
    """Streams of tables in memory. Thread-safe."""

    def __init__(self, *, clock: Clock | None = None, region: str = "us-east-1") -> None:
        self.clock = clock or FakeClock()
        self.region = region
        self.expire_next: int = 0
        """The next get_records calls whose iterators expire (for good)."""
        self.empty_next: int = 0
        """The next get_records calls that return no records (and an iterator that does
        not move), as DynamoDB may in the middle of a shard."""
        self.get_calls = 0
        self.enable_calls = 0
        self._streams: dict[str, _Stream] = {}
        self._iterators: dict[str, tuple[str, str, int]] = {}
        self._expired: set[str] = set()
        self._sequence = FIRST_SEQUENCE
        self._counter = 0
        self._lock = threading.RLock()

    # --- set-up and source writes, for tests ---

    def add_table(self, table: FakeTable, *, view_type: str | None = None) -> None:
        """A table, with a stream of ``view_type`` already enabled (None: no stream)."""
        with self._lock:
            self._streams[table.name] = _Stream(table, view_type)
            if view_type is not None:
                self._enable(table.name, view_type)

    def put(self, table: str, item: Item) -> None:
        """PutItem on the source: the item changes and the stream records it."""
        with self._lock:
            stream = self._streams[table]
            keys = key_of(item, stream.table.key)
            event = "INSERT" if stream.table.get(keys) is None else "MODIFY"
            stream.table.put(copy.deepcopy(item))
            self._record(stream, event, keys, item)

    def delete(self, table: str, keys: Item) -> None:
        """DeleteItem on the source; deleting an absent item records nothing."""
        with self._lock:
            stream = self._streams[table]
            if stream.table.get(keys) is None:
                return
            stream.table.delete(keys)
            self._record(stream, "REMOVE", keys, None)

    def writer(self, table: str) -> StreamedWriter:
        """A ``TableWriter`` of the source whose writes are recorded in its stream."""
        return StreamedWriter(self, table)

    def split(self, shard_id: str) -> tuple[str, str]:
        """Close ``shard_id`` and open two children that take over its keys."""
        with self._lock:
            stream, shard = self._find(shard_id)
            shard.closed = True
            return self._child(stream, shard_id, "a"), self._child(stream, shard_id, "b")

    def close(self, shard_id: str) -> str:
        """Close ``shard_id`` with one child (DynamoDB rolls shards over every few hours)."""
        with self._lock:
            stream, shard = self._find(shard_id)
            shard.closed = True
            return self._child(stream, shard_id, "n")

    def age_out(self, shard_id: str) -> None:
        """The shard leaves DescribeStream (its records are past the 24-hour retention)."""
        with self._lock:
            _, shard = self._find(shard_id)
            shard.listed = False

    def trim(self, shard_id: str, records: int) -> None:
        """Drop the first ``records`` records of a shard (past the retention)."""
        with self._lock:
            _, shard = self._find(shard_id)
            shard.trimmed = max(shard.trimmed, records)

    def disable_stream(self, table: str) -> None:
        """The stream stops recording; its shards close (their records stay readable)."""
        with self._lock:
            stream = self._streams[table]
            stream.enabled = False
            for shard in stream.shards.values():
                shard.closed = True

    def shard_ids(self, table: str) -> list[str]:
        with self._lock:
            return list(self._streams[table].shards)

    def history(self, table: str) -> list[ChangeRecord]:
        """Every record ever made, trimmed and aged out too, in the order they were made:
        what point-in-time recovery still holds (``testing.change_exports``)."""
        with self._lock:
            shards = self._streams[table].shards.values()
            return sorted((r for s in shards for r in s.records), key=lambda r: int(r.sequence))

    def open_shards(self, table: str) -> list[str]:
        with self._lock:
            return [k for k, s in self._streams[table].shards.items() if not s.closed]

    # --- ChangeStreams ---

    def table_stream(self, table: str) -> TableStream:
        with self._lock:
            stream = self._streams.get(table)
            if stream is None:
                raise NotFoundError(f"table {table!r} does not exist")
            return TableStream(table, stream.enabled, stream.view_type, stream.arn)

    def enable_stream(self, table: str, view_type: str) -> None:
        with self._lock:
            self.enable_calls += 1
            self._enable(table, view_type)

    def describe_stream(self, arn: str) -> StreamDescription:
        with self._lock:
            stream = self._by_arn(arn)
            # DynamoDB promises no order; newest first catches a reader that trusts one.
            listed = [s.describe() for s in reversed(stream.shards.values()) if s.listed]
            status = "ENABLED" if stream.enabled and stream.arn == arn else "DISABLED"
            return StreamDescription(arn, stream.table.name, status, str(stream.view_type), listed)

    def shard_iterator(self, arn: str, shard_id: str, *, after: str | None) -> str:
        with self._lock:
            stream = self._by_arn(arn)
            shard = stream.shards.get(shard_id)
            if shard is None or not shard.listed:
                raise StreamTrimmedError(f"shard {shard_id} is no longer in the stream")
            position = shard.trimmed if after is None else _after(shard, after)
            return self._iterator(arn, shard_id, position)

    def get_records(self, iterator: str, *, limit: int) -> RecordsPage:
        with self._lock:
            self.get_calls += 1
            if self.expire_next > 0:
                self.expire_next -= 1
                self._expired.add(iterator)
            if iterator in self._expired:  # for good: a new iterator is needed
                raise ExpiredIteratorError("Iterator expired")
            arn, shard_id, position = self._iterators.pop(iterator)
            if self.empty_next > 0:  # DynamoDB may answer so while records follow
                self.empty_next -= 1
                return RecordsPage([], self._iterator(arn, shard_id, position))
            shard = self._by_arn(arn).shards[shard_id]
            if position < shard.trimmed:
                raise StreamTrimmedError("the iterator points at trimmed records")
            page = shard.records[position : position + min(limit, 1000)]
            end = position + len(page)
            ended = shard.closed and end >= len(shard.records)
            following = None if ended else self._iterator(arn, shard_id, end)
            return RecordsPage(list(page), following)

    # --- inside ---

    def _enable(self, table: str, view_type: str) -> None:
        stream = self._streams[table]
        self._counter += 1
        stream.arn = (
            f"arn:aws:dynamodb:{self.region}:111111111111:table/{table}/stream/"
            f"2026-01-01T00:00:{self._counter:02d}.000"
        )
        stream.view_type, stream.enabled = view_type, True
        stream.shards = {}
        self._child(stream, None, f"shardId-{self._counter:04d}")

    def _child(self, stream: _Stream, parent: str | None, suffix: str) -> str:
        shard_id = f"{parent}-{suffix}" if parent else suffix
        stream.shards[shard_id] = FakeShard(shard_id, parent)
        return shard_id

    def _record(self, stream: _Stream, event: str, keys: Item, image: Item | None) -> None:
        if not stream.enabled:
            return
        self._sequence += 1
        new_image = copy.deepcopy(image) if stream.view_type in USABLE_VIEW_TYPES else None
        created = float(self.clock.now_ms() // 1000)  # AWS: one-second resolution
        record = ChangeRecord(event, str(self._sequence), created, copy.deepcopy(keys), new_image)
        self._shard_for(stream, keys).records.append(record)

    def _shard_for(self, stream: _Stream, keys: Item) -> FakeShard:
        open_shards = sorted((s for s in stream.shards.values() if not s.closed), key=_id)
        digest = hashlib.blake2b(key_bytes(keys), digest_size=8).digest()
        return open_shards[int.from_bytes(digest, "big") % len(open_shards)]

    def _iterator(self, arn: str, shard_id: str, position: int) -> str:
        self._counter += 1
        token = f"iterator-{self._counter}"
        self._iterators[token] = (arn, shard_id, position)
        return token

    def _by_arn(self, arn: str) -> _Stream:
        for stream in self._streams.values():
            if stream.arn is not None and arn.startswith(stream.arn.split("/stream/")[0] + "/"):
                return stream
        raise NotFoundError(f"stream {arn} does not exist")

    def _find(self, shard_id: str) -> tuple[_Stream, FakeShard]:
        for stream in self._streams.values():
            if shard_id in stream.shards:
                return stream, stream.shards[shard_id]
        raise NotFoundError(f"shard {shard_id} does not exist")


def _id(shard: FakeShard) -> str:
    return shard.shard_id


def _after(shard: FakeShard, sequence: str) -> int:
    """The position after record ``sequence``; StreamTrimmedError when what follows it is
    trimmed already."""
    position = next(
        (i + 1 for i, r in enumerate(shard.records) if int(r.sequence) >= int(sequence)),
        len(shard.records),
    )
    if position < shard.trimmed:
        raise StreamTrimmedError(f"sequence number {sequence} is beyond the trim horizon")
    return position


@dataclass(frozen=True, slots=True)
class StreamedWriter:
    """``TableWriter`` of a source table in :class:`FakeStreams`: writes are recorded."""

    streams: FakeStreams
    table: str

    @property
    def table_name(self) -> str:
        return self.table

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        for request in requests:
            if "PutRequest" in request:
                self.streams.put(self.table, request["PutRequest"]["Item"])
            else:
                self.streams.delete(self.table, request["DeleteRequest"]["Key"])
        return WriteResult(consumed=float(len(requests)))
