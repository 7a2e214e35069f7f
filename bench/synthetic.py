"""A synthetic DynamoDB endpoint on loopback for the bench.

It serves Scan pages of generated ~1 KB items, accepts BatchWriteItem, and serves DynamoDB
Streams records generated on demand (``GET /stream?records=N``), speaking the
DynamoDB JSON protocol over HTTP/1.1 with keep-alive. It must cost far less CPU per item
than the clients it measures, so nothing on the hot path parses or builds JSON objects:
items are concatenations of pre-encoded byte strings where only the key and two numbers
change, and writes are counted with ``bytes.count``. The control plane (DescribeTable,
CreateTable, ...) is answered from small dicts; it is called a handful of times per run.

Run it alone with ``python bench/synthetic.py --items N --port 0``: it prints its URL on
stdout. ``--latency-ms M`` delays every DynamoDB answer by M ms, as the network between a
client and AWS does; each connection has its own thread, so a delayed answer holds up only
its own connection and requests in flight on other connections are served meanwhile.
``GET /stats`` returns the items written per table, the items served per table and
the process's own CPU seconds, so the bench can check counts and charge the endpoint's share.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import json
import random
import re
import resource
import socket
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

ITEM_BYTES = 1024  # every generated item is exactly this long in wire JSON
PAGE_BYTES = 1024 * 1024  # DynamoDB stops a Scan page after 1 MB of data
VARIANTS = 4096  # distinct item bodies; gzip's 32 KB window rarely sees one twice
CAPACITY = 1_000_000  # provisioned RCU/WCU: ddbmigrate's throttle must never be the limit
ACCOUNT = "123456789012"
REGION = "us-east-1"
TARGET_PREFIX = b"DynamoDB_20120810."
STREAMS_PREFIX = b"DynamoDBStreams_20120810."
SHARDS = 4  # open shards of every stream (DynamoDB has one per table partition or so)
STREAM_PAGE_BYTES = 1024 * 1024  # GetRecords stops after 1 MB, like DynamoDB
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
PK = "pk"

_VOCABULARY = (
    "order shipped customer invoice pending delivered returned warehouse parcel express "
    "standard priority account balance refund credit debit payment method card transfer "
    "street avenue road lane city county region postal code country north south east west "
    "product widget gadget sprocket bolt nut washer cable adapter charger battery screen "
    "red green blue black white silver gold small medium large extra note gift wrap fragile"
)
_WORDS = _VOCABULARY.split()


class ItemFactory:
    """Deterministic ~1 KB items by index; every item has the same length.

    An item is ``HEAD + pk + MID + price + body`` where ``body`` is one of ``VARIANTS``
    prebuilt tails (binary, bool, null, string set, list, map, free text), chosen by a hash
    of the index so that neighbouring items differ and compression sees realistic data.
    """

    def __init__(self, seed: int = 6) -> None:
        rng = random.Random(seed)
        self.head = b'{"pk":{"S":"'
        self.mid = b'"},"price":{"N":"'
        fixed = len(self.head) + len(b"0000-000000000") + len(self.mid) + len(b"00000.000")
        self.bodies = [_body(rng, ITEM_BYTES - fixed) for _ in range(VARIANTS)]

    def item(self, index: int) -> bytes:
        return self.image(index, index)

    def image(self, index: int, version: int) -> bytes:
        """Item ``index`` as its ``version``-th change left it (``item`` is version index)."""
        variant = (version * 2654435761 >> 7) % VARIANTS
        price = b"%05d.%03d" % (version * 7919 % 100000, version % 1000)
        return b"".join((self.head, key_of(index), self.mid, price, self.bodies[variant]))


def key_of(index: int) -> bytes:
    """The partition key of item ``index``: a spread prefix, then the index itself."""
    return b"%04d-%09d" % (index * 7919 % 10000, index)


def index_of(key: str) -> int:
    return int(key[5:])


def _body(rng: random.Random, size: int) -> bytes:
    """One item tail of exactly ``size`` bytes, padded with free text in ``notes``."""
    blob = base64.b64encode(rng.randbytes(96)).decode()
    tags = sorted(rng.sample(_WORDS, 3))
    fields: dict[str, Any] = {
        "quantity": {"N": str(rng.randrange(1, 1000))},
        "avatar": {"B": blob},
        "active": {"BOOL": rng.random() < 0.5},
        "deleted_at": {"NULL": True},
        "tags": {"SS": tags},
        "history": {
            "L": [{"N": str(rng.randrange(10**6))}, {"S": rng.choice(_WORDS)}, {"BOOL": False}]
        },
        "address": {
            "M": {
                "street": {"S": f"{rng.randrange(1, 999)} {rng.choice(_WORDS)} street"},
                "city": {"S": rng.choice(_WORDS).title()},
                "zip": {"N": str(rng.randrange(10000, 99999))},
            }
        },
        "notes": {"S": ""},
    }
    fields["notes"]["S"] = _text(rng, size - len(_tail(fields)))
    return _tail(fields)


def _tail(fields: dict[str, Any]) -> bytes:
    # Closes the price string and its attribute, then the rest of the item's attributes.
    return b'"},' + json.dumps(fields, separators=(",", ":")).encode()[1:]


def _text(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = -1
    while length < size:
        words.append(rng.choice(_WORDS))
        length += len(words[-1]) + 1
    return " ".join(words)[:size]


@dataclass
class Table:
    """One table: the generated source (``items`` > 0) or a destination that counts writes."""

    name: str
    items: int = 0
    key_schema: list[dict[str, str]] = field(
        default_factory=lambda: [{"AttributeName": PK, "KeyType": "HASH"}]
    )
    attributes: list[dict[str, str]] = field(
        default_factory=lambda: [{"AttributeName": PK, "AttributeType": "S"}]
    )
    extra: dict[str, Any] = field(default_factory=dict)  # indexes etc. echoed from CreateTable
    created: float = field(default_factory=time.time)
    written: int = 0
    served: int = 0
    stream: Stream | None = None

    def describe(self, status: str = "ACTIVE") -> dict[str, Any]:
        description: dict[str, Any] = {
            "TableName": self.name,
            "TableStatus": status,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attributes,
            "ItemCount": self.items,
            "TableSizeBytes": self.items * ITEM_BYTES,
            "TableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.name}",
            "TableId": f"00000000-0000-4000-8000-{zlib.crc32(self.name.encode()):012d}",
            "CreationDateTime": self.created,
            "ProvisionedThroughput": {
                "ReadCapacityUnits": CAPACITY,
                "WriteCapacityUnits": CAPACITY,
                "NumberOfDecreasesToday": 0,
            },
            "BillingModeSummary": {"BillingMode": "PROVISIONED"},
            "DeletionProtectionEnabled": False,
        }
        description.update(self.extra)
        if self.stream is not None:
            description["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": self.stream.view_type,
            }
            description["LatestStreamArn"] = self.stream.arn
            description["LatestStreamLabel"] = self.stream.label
        return description


class Stream:
    """A table's stream: ``SHARDS`` open shards whose records are generated by position.

    ``GET /stream?records=N`` appends N records (spread over the shards, stamped with the
    current second); record ``j`` of shard ``s`` is change number ``j * SHARDS + s``: one in
    ten a REMOVE, one in ten an INSERT, the rest MODIFY, of a key of the table's range.
    """

    def __init__(self, table: Table, view_type: str, factory: ItemFactory) -> None:
        self.table = table
        self.view_type = view_type
        self.factory = factory
        self.label = time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime())
        self.arn = f"{table.describe()['TableArn']}/stream/{self.label}"
        self.counts = [0] * SHARDS
        self.stamps: list[list[tuple[int, int]]] = [[] for _ in range(SHARDS)]
        """Per shard: (records so far, epoch second) after each ``add``."""
        self.served = 0

    def add(self, records: int) -> None:
        now = int(time.time())
        for shard in range(SHARDS):
            self.counts[shard] += records // SHARDS + (shard < records % SHARDS)
            self.stamps[shard].append((self.counts[shard], now))

    def shard_id(self, shard: int) -> str:
        return f"shardId-00000001700000000000-{shard:08x}"

    def describe(self) -> dict[str, Any]:
        shards = [
            {
                "ShardId": self.shard_id(s),
                "SequenceNumberRange": {"StartingSequenceNumber": _sequence(s, 0).decode()},
            }
            for s in range(SHARDS)
        ]
        return {
            "StreamArn": self.arn,
            "StreamLabel": self.label,
            "StreamStatus": "ENABLED",
            "StreamViewType": self.view_type,
            "CreationRequestDateTime": self.table.created,
            "TableName": self.table.name,
            "KeySchema": self.table.key_schema,
            "Shards": shards,
        }

    def records(self, shard: int, first: int, limit: int) -> tuple[bytes, int]:
        """Wire JSON of the records from position ``first`` (at most ``limit``, 1 MB),
        and the position after the last one."""
        parts: list[bytes] = []
        size, position, end = 0, first, min(self.counts[shard], first + limit)
        while position < end and size < STREAM_PAGE_BYTES:
            parts.append(self.record(shard, position))
            size += len(parts[-1])
            position += 1
        self.served += position - first
        return b",".join(parts), position

    def record(self, shard: int, position: int) -> bytes:
        change = position * SHARDS + shard
        index = change * 7919 % max(1, self.table.items)
        event = b"REMOVE" if change % 10 == 9 else b"INSERT" if change % 10 == 0 else b"MODIFY"
        images = b""
        if event != b"REMOVE":
            images += b',"NewImage":' + self.factory.image(index, change + 1)
        if event != b"INSERT" and self.view_type == "NEW_AND_OLD_IMAGES":
            images += b',"OldImage":' + self.factory.image(index, change)
        return _RECORD % (
            self.stamp(shard, position),
            key_of(index),
            images,
            _sequence(shard, position),
            len(images) + 30,
            self.view_type.encode(),
            change,
            event,
        )

    def stamp(self, shard: int, position: int) -> int:
        stamps = self.stamps[shard]
        at = bisect.bisect_right(stamps, (position, 1 << 62))
        return stamps[min(at, len(stamps) - 1)][1]


_RECORD = (
    b'{"awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":%d,'
    b'"Keys":{"pk":{"S":"%s"}}%s,"SequenceNumber":"%s","SizeBytes":%d,'
    b'"StreamViewType":"%s"},"eventID":"%032x","eventName":"%s",'
    b'"eventSource":"aws:dynamodb","eventVersion":"1.1"}'
)


def _sequence(shard: int, position: int) -> bytes:
    # 21 digits like DynamoDB's, ordered within a shard; the position is the last 18.
    return b"%03d%018d" % (shard + 1, position)


def _position(sequence: str) -> int:
    return int(sequence) % 10**18


class ApiError(Exception):
    def __init__(self, kind: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class Endpoint:
    """The state behind the socket: tables, counters, and one handler per operation."""

    def __init__(self, *, table: str, items: int, latency: float = 0.0) -> None:
        self.factory = ItemFactory()
        self.latency = latency
        """Seconds every DynamoDB answer waits before it is sent."""
        self.tables: dict[str, Table] = {table: Table(table, items=items)}
        self.streams: dict[str, Stream] = {}
        self.lock = threading.Lock()
        self.unknown: dict[str, int] = {}
        self.per_page = PAGE_BYTES // ITEM_BYTES

    def dispatch(self, operation: str, body: bytes) -> bytes:
        """The response body of one operation; raises ApiError for a DynamoDB error."""
        if operation == "BatchWriteItem":
            return self.batch_write(body)
        if operation == "Scan":
            return self.scan(json.loads(body))
        if operation == "GetRecords":
            return self.get_records(json.loads(body))
        handler = getattr(self, "op_" + operation, None)
        if handler is None:
            with self.lock:
                self.unknown[operation] = self.unknown.get(operation, 0) + 1
            print(f"synthetic: unknown operation {operation}", file=sys.stderr, flush=True)
            raise ApiError("UnknownOperationException", f"unknown operation {operation}")
        return json.dumps(handler(json.loads(body or b"{}"))).encode()

    def table(self, name: str) -> Table:
        found = self.tables.get(name)
        if found is None:
            raise ApiError("ResourceNotFoundException", "Requested resource not found")
        return found

    # -- data plane: bytes in, bytes out ---------------------------------------------------

    def scan(self, request: dict[str, Any]) -> bytes:
        table = self.table(request["TableName"])
        first, end = _segment_range(request, table.items)
        if "ExclusiveStartKey" in request:
            first = index_of(request["ExclusiveStartKey"][PK]["S"]) + 1
        last = min(end, first + min(int(request.get("Limit", self.per_page)), self.per_page))
        count = max(0, last - first)
        with self.lock:
            table.served += count
        parts = [b'{"Count":%d,"ScannedCount":%d' % (count, count)]
        if request.get("Select") != "COUNT":
            items = b",".join([self.factory.item(i) for i in range(first, last)])
            parts.append(b',"Items":[' + items + b"]")
        if last < end:
            parts.append(b',"LastEvaluatedKey":{"pk":{"S":"' + key_of(last - 1) + b'"}}')
        parts.append(_scan_capacity(request, table.name, count))
        parts.append(b"}")
        return b"".join(parts)

    def batch_write(self, body: bytes) -> bytes:
        # Both ddbmigrate and dynamodump send one table per call; counting "PutRequest"
        # keeps the endpoint's CPU per item near zero.
        match = _REQUEST_TABLE.search(body, 0, 4096)
        if match is None:
            raise ApiError("ValidationException", "RequestItems must name one table")
        table = self.table(match.group(1).decode())
        count = body.count(b'"PutRequest"') + body.count(b'"DeleteRequest"')
        with self.lock:
            table.written += count
        if b'"ReturnConsumedCapacity"' not in body:
            return b'{"UnprocessedItems":{}}'
        name = table.name.encode()
        return (
            b'{"UnprocessedItems":{},"ConsumedCapacity":[{"TableName":"%s","CapacityUnits":%d}]}'
            % (name, count)
        )

    # -- control plane: small JSON ---------------------------------------------------------

    def op_DescribeTable(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"Table": self.table(request["TableName"]).describe()}

    def op_CreateTable(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name = request["TableName"]
        with self.lock:
            if name in self.tables:
                raise ApiError("ResourceInUseException", f"Table already exists: {name}")
            table = Table(
                name,
                key_schema=request["KeySchema"],
                attributes=request["AttributeDefinitions"],
                extra=_echoed_create_fields(request),
            )
            self.tables[name] = table
        if (request.get("StreamSpecification") or {}).get("StreamEnabled"):
            self.set_stream(table, request["StreamSpecification"])
        return {"TableDescription": table.describe()}

    def op_DeleteTable(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        table = self.table(request["TableName"])
        with self.lock:
            del self.tables[table.name]
        return {"TableDescription": table.describe("DELETING")}

    def op_UpdateTable(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        # Capacity stays at CAPACITY whatever is asked: the bench measures clients, not limits.
        table = self.table(request["TableName"])
        spec = request.get("StreamSpecification")
        if spec is not None:
            self.set_stream(table, spec)
        return {"TableDescription": table.describe()}

    def set_stream(self, table: Table, spec: dict[str, Any]) -> None:
        """Enable (ENABLED at once) or disable the table's stream."""
        with self.lock:
            if not spec.get("StreamEnabled"):
                table.stream = None
                return
            if table.stream is not None:
                raise ApiError("ValidationException", "Table already has an enabled stream")
            table.stream = Stream(table, spec["StreamViewType"], self.factory)
            self.streams[table.stream.arn] = table.stream

    def add_records(self, records: int) -> dict[str, Any]:
        """Append ``records`` to every enabled stream (``GET /stream?records=N``)."""
        with self.lock:
            enabled = [t.stream for t in self.tables.values() if t.stream is not None]
            for stream in enabled:
                stream.add(records)
        return {"streams": [stream.arn for stream in enabled], "added": records}

    # -- DynamoDB Streams --------------------------------------------------------------------

    def stream(self, arn: str) -> Stream:
        found = self.streams.get(arn)
        if found is None:
            raise ApiError("ResourceNotFoundException", f"Requested resource not found: {arn}")
        return found

    def op_ListStreams(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        wanted = request.get("TableName")
        return {
            "Streams": [
                {"StreamArn": s.arn, "TableName": s.table.name, "StreamLabel": s.label}
                for s in self.streams.values()
                if wanted in (None, s.table.name)
            ]
        }

    def op_DescribeStream(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        stream = self.stream(request["StreamArn"])
        description = stream.describe()
        if stream.table.stream is not stream:
            description["StreamStatus"] = "DISABLED"
        return {"StreamDescription": description}

    def op_GetShardIterator(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        stream = self.stream(request["StreamArn"])
        shard = _shard_number(stream, request["ShardId"])
        kind = request["ShardIteratorType"]
        if kind == "TRIM_HORIZON":
            position = 0
        elif kind == "LATEST":
            position = stream.counts[shard]
        else:
            position = _position(request["SequenceNumber"])
            position += kind == "AFTER_SEQUENCE_NUMBER"
        return {"ShardIterator": f"{stream.arn}|{shard}|{position}"}

    def get_records(self, request: dict[str, Any]) -> bytes:
        arn, shard, first = request["ShardIterator"].rsplit("|", 2)
        stream = self.stream(arn)
        limit = min(1000, int(request.get("Limit", 1000)))
        with self.lock:
            records, end = stream.records(int(shard), int(first), limit)
        following = f"{arn}|{shard}|{end}".encode()
        return b'{"NextShardIterator":"%s","Records":[%s]}' % (following, records)

    def op_ListTables(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        names = sorted(self.tables)
        start = request.get("ExclusiveStartTableName")
        if start:
            names = [name for name in names if name > start]
        limit = int(request.get("Limit", 100))
        page: dict[str, Any] = {"TableNames": names[:limit]}
        if len(names) > limit:
            page["LastEvaluatedTableName"] = names[limit - 1]
        return page

    def op_DescribeTimeToLive(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.table(request["TableName"])
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

    def op_UpdateTimeToLive(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.table(request["TableName"])
        return {"TimeToLiveSpecification": request["TimeToLiveSpecification"]}

    def op_DescribeContinuousBackups(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.table(request["TableName"])
        return _backups("DISABLED")

    def op_UpdateContinuousBackups(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.table(request["TableName"])
        spec = request.get("PointInTimeRecoverySpecification", {})
        return _backups("ENABLED" if spec.get("PointInTimeRecoveryEnabled") else "DISABLED")

    def op_ListTagsOfResource(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"Tags": []}

    def op_TagResource(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {}

    def op_UntagResource(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {}

    def stats(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self.lock:
            return {
                "tables": {name: t.written for name, t in self.tables.items()},
                "served": {name: t.served for name, t in self.tables.items()},
                "stream_served": {s.table.name: s.served for s in self.streams.values()},
                "unknown_operations": dict(self.unknown),
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
            }


_REQUEST_TABLE = re.compile(rb'"RequestItems"\s*:\s*\{\s*"([^"]+)"')


def _shard_number(stream: Stream, shard_id: str) -> int:
    for shard in range(SHARDS):
        if stream.shard_id(shard) == shard_id:
            return shard
    raise ApiError("ResourceNotFoundException", f"Requested resource not found: {shard_id}")


def _segment_range(request: dict[str, Any], items: int) -> tuple[int, int]:
    """Contiguous index range [first, end) of this Scan segment."""
    total = int(request.get("TotalSegments", 1))
    segment = int(request.get("Segment", 0))
    return segment * items // total, (segment + 1) * items // total


def _scan_capacity(request: dict[str, Any], table: str, count: int) -> bytes:
    if request.get("ReturnConsumedCapacity", "NONE") == "NONE":
        return b""
    # Scan is charged on the total size read: 0.5 RCU per 4 KB eventually consistent.
    blocks = max(1, -(-count * ITEM_BYTES // 4096))
    units = blocks * (1.0 if request.get("ConsistentRead") else 0.5)
    return b',"ConsumedCapacity":{"TableName":"%s","CapacityUnits":%.1f}' % (
        table.encode(),
        units,
    )


def _echoed_create_fields(request: dict[str, Any]) -> dict[str, Any]:
    echoed: dict[str, Any] = {}
    for name in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if name in request:
            echoed[name] = [{**index, "IndexStatus": "ACTIVE"} for index in request[name]]
    return echoed


def _backups(status: str) -> dict[str, Any]:
    return {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": status},
        }
    }


# -- HTTP/1.1 on raw sockets: http.server parses headers with the email package, which costs
# more per request than a whole BatchWriteItem should. --------------------------------------


class Connection:
    """One keep-alive client connection, served on its own thread."""

    def __init__(self, sock: socket.socket, endpoint: Endpoint) -> None:
        self.sock = sock
        self.endpoint = endpoint
        self.buffer = bytearray()

    def serve(self) -> None:
        try:
            while self.serve_one():
                pass
        except (ConnectionError, OSError):
            pass  # the client went away; nothing to answer
        finally:
            self.sock.close()

    def serve_one(self) -> bool:
        head = self.read_head()
        if head is None:
            return False
        request_line, headers = _parse_head(head)
        if headers.get(b"expect", b"").lower() == b"100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self.read_body(int(headers.get(b"content-length", b"0")))
        status, payload = self.answer(request_line, headers, body)
        self.sock.sendall(_response_head(status, payload) + payload)
        return headers.get(b"connection", b"").lower() != b"close"

    def answer(
        self, request_line: bytes, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes]:
        if request_line.startswith(b"GET /stats"):
            return 200, json.dumps(self.endpoint.stats()).encode()
        if request_line.startswith(b"GET /stream?records="):
            return 200, json.dumps(self.endpoint.add_records(_query_int(request_line))).encode()
        target = headers.get(b"x-amz-target", b"")
        prefix = next((p for p in (TARGET_PREFIX, STREAMS_PREFIX) if target.startswith(p)), None)
        if prefix is None:
            return 400, _error("UnknownOperationException", f"no X-Amz-Target in {request_line!r}")
        if self.endpoint.latency:
            time.sleep(self.endpoint.latency)  # this connection's thread only
        try:
            return 200, self.endpoint.dispatch(target[len(prefix) :].decode(), body)
        except ApiError as exc:
            return exc.status, _error(exc.kind, str(exc))
        except (KeyError, ValueError, TypeError) as exc:
            return 400, _error("ValidationException", f"bad request: {exc!r}")

    def read_head(self) -> bytes | None:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return head

    def read_body(self, length: int) -> bytes:
        while len(self.buffer) < length:
            chunk = self.sock.recv(max(65536, length - len(self.buffer)))
            if not chunk:
                raise ConnectionError("client closed the connection mid-body")
            self.buffer += chunk
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body


def _query_int(request_line: bytes) -> int:
    return int(request_line.split(b"=", 1)[1].split(b" ", 1)[0])


def _parse_head(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    request_line, *lines = head.split(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return request_line, headers


_HEAD = (
    b"HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n"
    b"x-amz-crc32: %d\r\nx-amzn-RequestId: bench\r\n\r\n"
)


def _response_head(status: int, payload: bytes) -> bytes:
    reason = b"OK" if status == 200 else b"Bad Request"
    return _HEAD % (status, reason, len(payload), zlib.crc32(payload))


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"__type": ERROR_PREFIX + kind, "message": message}).encode()


def serve(endpoint: Endpoint, listener: socket.socket) -> None:
    """Accept forever; one daemon thread per connection (clients keep a small pool)."""
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=Connection(sock, endpoint).serve, daemon=True).start()


def listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    return listener


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000, help="items in the source table")
    parser.add_argument("--table", default="bench", help="name of the source table")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay of every DynamoDB answer, in ms"
    )
    args = parser.parse_args(argv)
    listener = listen(args.port)
    print(f"http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        endpoint = Endpoint(table=args.table, items=args.items, latency=args.latency_ms / 1000)
        serve(endpoint, listener)


if __name__ == "__main__":
    main()
