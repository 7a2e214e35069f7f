"""A source table with a stream, a destination, and a replay between them, in memory."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ddbmigrate.live import Replay, ReplayOptions, ShardCheckpoints, StreamStart, start_stream
from ddbmigrate.model import Item, KeyAttribute, KeySchema
from ddbmigrate.ports import WriteRequest, WriteResult
from ddbmigrate.testing import FakeClock, FakeTable, MemoryStore
from ddbmigrate.testing.streams import FakeStreams

KEY = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "N"))
RUN_DIR = "ddbmigrate/runs/live-1"


def item(n: int, version: int = 0, **extra: Any) -> Item:
    return {"pk": {"S": f"k{n}"}, "sk": {"N": str(n % 3)}, "v": {"N": str(version)}, **extra}


def key(n: int) -> Item:
    return {"pk": {"S": f"k{n}"}, "sk": {"N": str(n % 3)}}


def wire(value: Any) -> Any:
    """tests/alltypes.py's boto3 values (bytes) in wire form (base64 text)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


@dataclass
class LoggingWriter:
    """The destination, logging every BatchWriteItem call's requests."""

    table: FakeTable
    calls: list[list[WriteRequest]] = field(default_factory=list)

    @property
    def table_name(self) -> str:
        return self.table.name

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        self.calls.append(list(requests))
        return self.table.batch_write(requests)

    def applied(self) -> list[WriteRequest]:
        return [r for call in self.calls for r in call]


@dataclass
class Live:
    clock: FakeClock
    streams: FakeStreams
    source: FakeTable
    dest: FakeTable
    writer: LoggingWriter
    store: MemoryStore
    start: StreamStart

    def replay(self, **options: Any) -> Replay:
        return Replay(
            streams=self.streams,
            start=self.start,
            writer=self.writer,
            checkpoints=ShardCheckpoints(self.store, RUN_DIR),
            clock=self.clock,
            options=ReplayOptions(**options),
        )

    def put(self, n: int, version: int = 0, **extra: Any) -> None:
        self.streams.put("src", item(n, version, **extra))

    def same_tables(self) -> bool:
        return self.source.items() == self.dest.items()


def live(*, dest: FakeTable | None = None) -> Live:
    clock = FakeClock()
    streams = FakeStreams(clock=clock)
    source = FakeTable("src", KEY)
    streams.add_table(source)
    start = start_stream(streams, "src", clock=clock)
    target = dest if dest is not None else FakeTable("dst", KEY)
    return Live(clock, streams, source, target, LoggingWriter(target), MemoryStore(), start)
