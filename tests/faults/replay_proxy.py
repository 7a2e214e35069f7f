"""The fault proxy as a live replay's witness: it holds one chosen request while a test kills
the replay, and logs what the replay read from the stream and wrote to the destination.

A hold is any request a predicate picks (a DynamoDB call, a DynamoDB Streams call or an S3
PUT of the staging store), after ``skip`` others it picked; ``forward_first`` lets the
request take effect before it is held (its caller never learns it did). The log keeps, in
the order they were answered: every GetShardIterator request, every record of every
GetRecords answer and every write request sent to one table, so a test can tell where a
replay started and whether each key's writes followed the stream's order
(``order_problems``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from helpers import CountingProxy

DYNAMODB = "DynamoDB_20120810."
STREAMS = "DynamoDBStreams_20120810."
HOLD_SECONDS = 180.0
WRITES = ("BatchWriteItem", "PutItem", "DeleteItem")


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the hold predicate sees it."""

    method: str
    path: str
    target: str
    """``X-Amz-Target`` (``"DynamoDB_20120810.BatchWriteItem"``), or "" (S3, STS)."""
    request: dict[str, Any]
    """The JSON body of a DynamoDB or Streams call; {} for anything else."""

    def is_(self, operation: str, *, table: str | None = None) -> bool:
        """This is ``operation`` (Streams' or DynamoDB's), naming ``table`` if given."""
        if self.target not in (DYNAMODB + operation, STREAMS + operation):
            return False
        return table is None or table in _tables(self.request)


@dataclass(frozen=True, slots=True)
class Logged:
    """One line of the log: ``("iterator", request)``, ``("record", stream record)`` or
    ``("write", write request)``."""

    kind: str
    body: dict[str, Any]


class ReplayProxy(CountingProxy):
    """``arm(predicate)``, wait for ``arrived``, kill, ``disarm()``; ``log`` meanwhile."""

    def __init__(self, upstream: str, *, table: str, **kwargs: Any) -> None:
        super().__init__(upstream, **kwargs)
        self.table = table
        self.arrived = threading.Event()
        self._release = threading.Event()
        self._gate: Callable[[Call], bool] | None = None
        self._skip = 0
        self._forward_first = False
        self._gate_lock = threading.Lock()
        self._log: list[Logged] = []

    def arm(
        self, gate: Callable[[Call], bool], *, skip: int = 0, forward_first: bool = False
    ) -> None:
        with self._gate_lock:
            self._gate, self._skip, self._forward_first = gate, skip, forward_first
            self.arrived.clear()
            self._release.clear()

    def disarm(self) -> None:
        with self._gate_lock:
            self._gate = None
        self._release.set()

    def take_log(self) -> list[Logged]:
        """The log so far, emptied."""
        with self._gate_lock:
            taken, self._log = self._log, []
        return taken

    def handle(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        call = _call(method, path, headers, body)
        if not self._holds(call):
            return self._logged(call, super().handle(method, path, headers, body))
        if self._forward_first:
            self._logged(call, super().handle(method, path, headers, body))
        self.arrived.set()
        self._release.wait(HOLD_SECONDS)
        return None  # the connection is closed unanswered

    def _holds(self, call: Call) -> bool:
        with self._gate_lock:
            if self._gate is None or self.arrived.is_set() or not self._gate(call):
                return False
            if self._skip > 0:
                self._skip -= 1
                return False
            return True

    def _logged(self, call: Call, reply: Any) -> Any:
        if reply is None or reply.status != 200:
            return reply
        lines = _lines(call, reply.body, self.table)
        with self._gate_lock:
            self._log.extend(lines)
        return reply


def _call(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Call:
    target = next((v for k, v in headers if k.lower() == "x-amz-target"), "")
    request = orjson.loads(body) if target.startswith((DYNAMODB, STREAMS)) and body else {}
    return Call(method, path, target, request)


def _tables(request: dict[str, Any]) -> set[str]:
    named = set(request.get("RequestItems") or {})
    return named | ({str(request["TableName"])} if "TableName" in request else set())


def _lines(call: Call, answer: bytes, table: str) -> list[Logged]:
    if call.is_("GetShardIterator"):
        return [Logged("iterator", call.request)]
    if call.is_("GetRecords"):
        return [Logged("record", r) for r in orjson.loads(answer).get("Records", [])]
    if call.is_("BatchWriteItem", table=table):
        left = orjson.loads(answer).get("UnprocessedItems") or {}
        assert not left, "the proxy adds no fault here: moto takes every write"
        return [Logged("write", w) for w in call.request["RequestItems"][table]]
    if call.is_("PutItem", table=table):
        return [Logged("write", {"PutRequest": {"Item": call.request["Item"]}})]
    if call.is_("DeleteItem", table=table):
        return [Logged("write", {"DeleteRequest": {"Key": call.request["Key"]}})]
    return []


# --- what a log says ---


def write_of(record: dict[str, Any]) -> dict[str, Any]:
    """The write that applies a stream record, as issue 15 specifies it: INSERT and MODIFY
    put the full NewImage, REMOVE deletes the key."""
    change = record["dynamodb"]
    if record["eventName"] == "REMOVE":
        return {"DeleteRequest": {"Key": change["Keys"]}}
    return {"PutRequest": {"Item": change["NewImage"]}}


def key_of(write: dict[str, Any], names: tuple[str, ...]) -> bytes:
    """A write's key, comparable: its key attributes in wire form."""
    put = write.get("PutRequest")
    item = put["Item"] if put else write["DeleteRequest"]["Key"]
    return orjson.dumps({n: item[n] for n in names}, option=orjson.OPT_SORT_KEYS)


def per_key(log: list[Logged], names: tuple[str, ...]) -> tuple[dict[bytes, list[Any]], ...]:
    """Each key's writes the stream asked for (in stream order), and those sent (in order)."""
    read: defaultdict[bytes, list[Any]] = defaultdict(list)
    written: defaultdict[bytes, list[Any]] = defaultdict(list)
    for line in log:
        if line.kind == "record":
            write = write_of(line.body)
            read[key_of(write, names)].append(write)
        elif line.kind == "write":
            written[key_of(line.body, names)].append(line.body)
    return read, written


def order_problems(log: list[Logged], names: tuple[str, ...], *, complete: bool) -> list[str]:
    """Keys whose writes did not follow the records of the stream read in the same process,
    one by one and in order: each key's writes must be the start of its records (a killed
    replay stops anywhere) or, ``complete``, all of them."""
    read, written = per_key(log, names)
    problems = []
    for key in sorted(read.keys() | written.keys()):
        wanted, sent = read.get(key, []), written.get(key, [])
        if sent != (wanted if complete else wanted[: len(sent)]):
            problems.append(f"{key.decode()}: stream {wanted}, written {sent}")
    return problems


def sequences(log: list[Logged]) -> list[str]:
    """The sequence numbers of the records read, in the order they were answered."""
    return [line.body["dynamodb"]["SequenceNumber"] for line in log if line.kind == "record"]


def iterators(log: list[Logged]) -> list[dict[str, Any]]:
    """The GetShardIterator requests, in order."""
    return [line.body for line in log if line.kind == "iterator"]
