"""In-memory implementations of the ports, for users' tests and ours.

They follow DynamoDB's observable rules where a caller could get them wrong (Scan pages and
``LastEvaluatedKey``, BatchWriteItem limits and ``UnprocessedItems``, capacity accounting),
and take fault plans so retry and resume logic can be tested without a network or a sleep.
All are thread-safe: engines call them from worker threads.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from ddbmigrate.errors import CorruptDataError, FatalError, NotFoundError, RejectedItemError
from ddbmigrate.items import item_size, key_bytes, key_of, validate_item
from ddbmigrate.model import Item, KeySchema, Segment
from ddbmigrate.ports import ScanPage, StoreWriter, TableSchema, WriteRequest, WriteResult

DEFAULT_PAGE_SIZE = 100
"""Items per Scan page when the caller gives no ``limit`` (DynamoDB itself stops at 1 MB)."""
MAX_PAGE_BYTES = 1024 * 1024
MAX_BATCH_REQUESTS = 25
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_ITEM_BYTES = 400 * 1024
READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FaultPlan = list[BaseException | None]
"""Outcomes of successive calls: an exception to raise, or None for a normal call."""


def _next_fault(plan: FaultPlan) -> None:
    if plan:
        fault = plan.pop(0)
        if fault is not None:
            raise fault


def _units(size: int, unit: int) -> int:
    return max(1, -(-size // unit))  # ceil, and DynamoDB charges at least one unit


def segment_of(key: bytes, total: int) -> int:
    """The Scan segment of a key (its ``items.key_bytes``): a stable hash modulo ``total``."""
    digest = hashlib.blake2b(key, digest_size=8, person=b"ddbm-segment").digest()
    return int.from_bytes(digest, "big") % total


class FakeTable:
    """A DynamoDB table in memory: implements ``TableReader`` and ``TableWriter``.

    Scan: an item's segment is a hash of its key modulo ``TotalSegments``; within a segment
    items are in key-bytes order. A page holds ``limit`` items (``page_size`` by default) and
    stops early after 1 MB. Like DynamoDB, a page that stopped at its limit returns a
    ``last_key`` even when nothing follows (the next page is then empty). Consumed capacity:
    ``ceil(bytes / 4 KB)`` read units, halved for eventually consistent reads.

    BatchWriteItem: the whole call is refused (``RejectedItemError``) for more than 25
    requests, more than 16 MB, duplicate keys, an item over 400 KB, a malformed item, or
    missing or empty key attributes. With ``unprocessed_every=N`` every Nth request (counted
    over all calls) comes back unprocessed and is not applied. Consumed: ``ceil(bytes / 1 KB)``
    write units per request. ``fail_plan``/``scan_fail_plan`` raise their next exception
    before a call does anything.
    """

    def __init__(
        self,
        name: str,
        key: KeySchema,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        unprocessed_every: int = 0,
        fail_plan: FaultPlan | None = None,
        scan_fail_plan: FaultPlan | None = None,
    ) -> None:
        self.name = name
        self.key = key
        self.page_size = page_size
        self.unprocessed_every = unprocessed_every
        self.fail_plan: FaultPlan = fail_plan if fail_plan is not None else []
        self.scan_fail_plan: FaultPlan = scan_fail_plan if scan_fail_plan is not None else []
        self.scan_calls = 0
        self.batch_calls = 0
        self._items: dict[bytes, Item] = {}
        self._segments: dict[int, list[list[bytes]]] = {}  # total -> sorted keys per segment
        self._requests_seen = 0
        self._lock = threading.Lock()

    @property
    def table_name(self) -> str:
        return self.name

    # --- direct access for tests ---

    def put(self, item: Item) -> None:
        """Store ``item`` as PutItem would (no capacity, no faults)."""
        with self._lock:
            self._put(item)

    def get(self, key_item: Item) -> Item | None:
        """The item with this key, or None."""
        with self._lock:
            return self._items.get(key_bytes(key_item))

    def delete(self, key_item: Item) -> None:
        """Remove the item with this key, if any."""
        with self._lock:
            self._delete(key_bytes(key_item))

    def items(self) -> list[Item]:
        """All items, in key-bytes order (deterministic)."""
        with self._lock:
            return [self._items[k] for k in sorted(self._items)]

    def __len__(self) -> int:
        return len(self._items)

    def _put(self, item: Item) -> None:
        kb = key_bytes(key_of(item, self.key))
        if kb not in self._items:
            self._segments.clear()
        self._items[kb] = item

    def _delete(self, kb: bytes) -> None:
        if self._items.pop(kb, None) is not None:
            self._segments.clear()

    # --- TableReader ---

    def scan(
        self,
        *,
        segment: Segment,
        start_key: Item | None = None,
        limit: int | None = None,
        consistent: bool = False,
    ) -> ScanPage:
        """One page of a parallel Scan (see the class docstring for the rules)."""
        if not 0 <= segment.index < segment.total:
            raise ValueError(f"segment {segment.index} is outside 0..{segment.total - 1}")
        with self._lock:
            self.scan_calls += 1
            _next_fault(self.scan_fail_plan)
            keys = self._segment_keys(segment)
            start = bisect.bisect_right(keys, key_bytes(start_key)) if start_key else 0
            page, size = self._take_page(keys, start, limit or self.page_size)
        consumed = _units(size, READ_UNIT_BYTES) * (1.0 if consistent else 0.5)
        more = len(page) == (limit or self.page_size) or size >= MAX_PAGE_BYTES
        last = key_of(page[-1], self.key) if page and more else None
        return ScanPage(items=page, last_key=last, consumed=consumed)

    def _segment_keys(self, segment: Segment) -> list[bytes]:
        if segment.total not in self._segments:
            split: list[list[bytes]] = [[] for _ in range(segment.total)]
            for kb in sorted(self._items):
                split[segment_of(kb, segment.total)].append(kb)
            self._segments[segment.total] = split
        return self._segments[segment.total][segment.index]

    def _take_page(self, keys: list[bytes], start: int, limit: int) -> tuple[list[Item], int]:
        page: list[Item] = []
        size = 0
        for kb in keys[start : start + limit]:
            item = copy.deepcopy(self._items[kb])  # callers must not alias our storage
            page.append(item)
            size += item_size(item)
            if size >= MAX_PAGE_BYTES:
                break
        return page, size

    # --- TableWriter ---

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        """One BatchWriteItem call (see the class docstring for the rules)."""
        with self._lock:
            self.batch_calls += 1
            _next_fault(self.fail_plan)
            parsed = [self._parse_request(r) for r in requests]
            self._check_batch(parsed)
            unprocessed: list[WriteRequest] = []
            consumed = 0.0
            for request, (kb, item) in zip(requests, parsed, strict=True):
                if self._skip_next():
                    unprocessed.append(request)
                    continue
                consumed += self._apply(kb, item)
        return WriteResult(unprocessed=unprocessed, consumed=consumed)

    def _parse_request(self, request: WriteRequest) -> tuple[bytes, Item | None]:
        """``(key bytes, item to put or None to delete)``; RejectedItemError when malformed."""
        item = _inner(request, "PutRequest", "Item")
        if item is not None:
            try:
                validate_item(item)
            except CorruptDataError as exc:
                raise RejectedItemError(f"ValidationException: {exc.message}") from exc
            return self._checked_key(key_of_or_reject(item, self.key)), item
        key_item = _inner(request, "DeleteRequest", "Key")
        if key_item is not None:
            if set(key_item) != set(self.key.names):
                raise RejectedItemError("ValidationException: the key does not match the schema")
            return self._checked_key(key_of_or_reject(key_item, self.key)), None
        raise RejectedItemError("ValidationException: a request is neither a Put nor a Delete")

    def _checked_key(self, key_item: Item) -> bytes:
        for name, value in key_item.items():
            if next(iter(value.values())) == "":
                raise RejectedItemError(
                    f"ValidationException: key attribute {name!r} is an empty string or binary"
                )
        return key_bytes(key_item)

    def _check_batch(self, parsed: list[tuple[bytes, Item | None]]) -> None:
        if not 1 <= len(parsed) <= MAX_BATCH_REQUESTS:
            raise RejectedItemError(
                f"ValidationException: a batch holds 1 to {MAX_BATCH_REQUESTS} requests, "
                f"not {len(parsed)}"
            )
        if len({kb for kb, _ in parsed}) != len(parsed):
            raise RejectedItemError(
                "ValidationException: Provided list of item keys contains duplicates"
            )
        sizes = [item_size(item) for _, item in parsed if item is not None]
        if any(s > MAX_ITEM_BYTES for s in sizes):
            raise RejectedItemError("ValidationException: Item size has exceeded the maximum")
        if sum(sizes) > MAX_BATCH_BYTES:
            raise RejectedItemError("ValidationException: the batch is larger than 16 MB")

    def _skip_next(self) -> bool:
        self._requests_seen += 1
        every = self.unprocessed_every
        return every > 0 and self._requests_seen % every == 0

    def _apply(self, kb: bytes, item: Item | None) -> float:
        if item is None:
            old = self._items.get(kb)
            self._delete(kb)
            return float(_units(item_size(old) if old else 0, WRITE_UNIT_BYTES))
        self._put(copy.deepcopy(item))
        return float(_units(item_size(item), WRITE_UNIT_BYTES))


def _inner(request: WriteRequest, kind: str, field: str) -> Item | None:
    body = request.get(kind) if isinstance(request, dict) and len(request) == 1 else None
    value = body.get(field) if isinstance(body, dict) else None
    return value if isinstance(value, dict) else None


def key_of_or_reject(item: Item, key: KeySchema) -> Item:
    """``items.key_of`` with DynamoDB's answer to a missing key: a ValidationException."""
    try:
        return key_of(item, key)
    except CorruptDataError as exc:
        raise RejectedItemError(f"ValidationException: {exc.message}") from exc


class FakeAdmin:
    """The control plane in memory: implements ``TableAdmin`` over ``FakeTable`` objects.

    ``calls`` records ``(method, argument)`` for every call, for assertions.
    """

    def __init__(self, *, account: str = "111111111111", region: str = "us-east-1") -> None:
        self.account = account
        self.region = region
        self.tables: dict[str, FakeTable] = {}
        self.schemas: dict[str, TableSchema] = {}
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def add_table(self, table: FakeTable, *, schema: TableSchema | None = None) -> FakeTable:
        """Seed an existing (ACTIVE) table; the description is made up from its key if absent."""
        with self._lock:
            self.tables[table.name] = table
            self.schemas[table.name] = schema or TableSchema(self._describe(table, "ACTIVE"))
        return table

    def table(self, name: str) -> FakeTable:
        """The FakeTable behind ``name`` (NotFoundError when absent)."""
        with self._lock:
            return self._table(name)

    def list_tables(self) -> list[str]:
        with self._lock:
            self.calls.append(("list_tables", None))
            return sorted(self.tables)

    def read_schema(self, table: str) -> TableSchema | None:
        with self._lock:
            self.calls.append(("read_schema", table))
            schema = self.schemas.get(table)
            if schema is None:
                return None
            return self._with_counts(schema)

    def create_table(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(("create_table", copy.deepcopy(request)))
            name = request["TableName"]
            if name in self.tables:
                raise FatalError(f"table {name!r} already exists (ResourceInUseException)")
            table = FakeTable(name, KeySchema.from_description(request))
            description = {**copy.deepcopy(request), **self._describe(table, "CREATING")}
            self.tables[name] = table
            self.schemas[name] = TableSchema(
                description, tags=copy.deepcopy(request.get("Tags") or [])
            )

    def wait_active(self, table: str, *, timeout: float) -> dict[str, Any]:
        with self._lock:
            self.calls.append(("wait_active", table))
            self._table(table)
            description = copy.deepcopy(self.schemas[table].description)
            description["TableStatus"] = "ACTIVE"
            for index in description.get("GlobalSecondaryIndexes", []):
                index["IndexStatus"] = "ACTIVE"
            self.schemas[table] = replace(self.schemas[table], description=description)
            return copy.deepcopy(description)

    def enable_ttl(self, table: str, attribute: str) -> None:
        self._update("enable_ttl", table, (table, attribute), ttl_attribute=attribute)

    def tag_table(self, table: str, tags: list[dict[str, str]]) -> None:
        self._update("tag_table", table, (table, copy.deepcopy(tags)), tags=copy.deepcopy(tags))

    def enable_pitr(self, table: str) -> None:
        self._update("enable_pitr", table, table, pitr_enabled=True)

    def enable_stream(self, table: str, view_type: str) -> None:
        spec = {"StreamEnabled": True, "StreamViewType": view_type}
        self._describe_update("enable_stream", table, (table, view_type), StreamSpecification=spec)

    def set_deletion_protection(self, table: str, *, on: bool) -> None:
        self._describe_update(
            "set_deletion_protection", table, (table, on), DeletionProtectionEnabled=on
        )

    def set_table_class(self, table: str, table_class: str) -> None:
        summary = {"TableClass": table_class}
        self._describe_update(
            "set_table_class", table, (table, table_class), TableClassSummary=summary
        )

    def add_gsi(self, table: str, index: dict[str, Any], attributes: list[dict[str, str]]) -> None:
        with self._lock:
            self.calls.append(("add_gsi", (table, copy.deepcopy(index))))
            self._table(table)
            description = copy.deepcopy(self.schemas[table].description)
            indexes = description.setdefault("GlobalSecondaryIndexes", [])
            indexes.append({**copy.deepcopy(index), "IndexStatus": "ACTIVE"})
            known = {a["AttributeName"] for a in description["AttributeDefinitions"]}
            description["AttributeDefinitions"] += [
                a for a in attributes if a["AttributeName"] not in known
            ]
            self.schemas[table] = replace(self.schemas[table], description=description)

    def _describe_update(self, method: str, table: str, argument: Any, **fields: Any) -> None:
        with self._lock:
            self.calls.append((method, argument))
            self._table(table)
            description = {**copy.deepcopy(self.schemas[table].description), **fields}
            self.schemas[table] = replace(self.schemas[table], description=description)

    def _update(self, method: str, table: str, argument: Any, **changes: Any) -> None:
        with self._lock:
            self.calls.append((method, argument))
            self._table(table)
            self.schemas[table] = replace(self.schemas[table], **changes)

    def _table(self, name: str) -> FakeTable:
        if name not in self.tables:
            raise NotFoundError(f"table {name!r} does not exist in {self.region}")
        return self.tables[name]

    def _describe(self, table: FakeTable, status: str) -> dict[str, Any]:
        arn = f"arn:aws:dynamodb:{self.region}:{self.account}:table/{table.name}"
        attributes = [table.key.partition] + ([table.key.sort] if table.key.sort else [])
        return {
            "TableName": table.name,
            "TableStatus": status,
            "TableArn": arn,
            "TableId": hashlib.md5(arn.encode(), usedforsecurity=False).hexdigest(),
            "KeySchema": [
                {"AttributeName": a.name, "KeyType": role}
                for a, role in zip(attributes, ("HASH", "RANGE"), strict=False)
            ],
            "AttributeDefinitions": [
                {"AttributeName": a.name, "AttributeType": a.type} for a in attributes
            ],
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "ItemCount": 0,
            "TableSizeBytes": 0,
        }

    def _with_counts(self, schema: TableSchema) -> TableSchema:
        # DescribeTable's counts are refreshed every ~6 hours by AWS; here they are live.
        items = self.tables[schema.name].items()
        description = copy.deepcopy(schema.description)
        description["ItemCount"] = len(items)
        description["TableSizeBytes"] = sum(item_size(i) for i in items)
        return replace(schema, description=description)


class MemoryStore:
    """A ``Store`` in a dict. ``fail_plan`` raises its next exception on each ``put``."""

    def __init__(self, name: str = "store", *, fail_plan: FaultPlan | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_plan: FaultPlan = fail_plan if fail_plan is not None else []
        self._root = f"memory://{name}"
        self._lock = threading.Lock()

    @property
    def root(self) -> str:
        return self._root

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            _next_fault(self.fail_plan)
            self.objects[key] = bytes(data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with self._lock:
            if key in self.objects:
                return False
            _next_fault(self.fail_plan)
            self.objects[key] = bytes(data)
            return True

    def get(self, key: str) -> bytes:
        with self._lock:
            if key not in self.objects:
                raise NotFoundError(f"{self._root}/{key} does not exist")
            return self.objects[key]

    def open_read(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get(key))

    def open_write(self, key: str) -> StoreWriter:
        return _MemoryWriter(self, key)

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self.objects

    def list(self, prefix: str) -> Iterator[str]:
        with self._lock:
            keys = sorted(k for k in self.objects if k.startswith(prefix))
        return iter(keys)

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(key, None)

    def fingerprints(self, prefix: str) -> dict[str, str]:
        """Size and MD5 of each object below ``prefix`` (S3's ETag of a one-part upload)."""
        with self._lock:
            return {
                key: f"{len(data)}:{hashlib.md5(data, usedforsecurity=False).hexdigest()}"
                for key, data in sorted(self.objects.items())
                if key.startswith(prefix)
            }


class _MemoryWriter:
    """Collects the pieces; ``commit`` is one ``put`` (so ``fail_plan`` applies to it)."""

    def __init__(self, store: MemoryStore, key: str) -> None:
        self._store = store
        self._key = key
        self._buffer = io.BytesIO()

    def write(self, data: bytes) -> None:
        self._buffer.write(data)

    def commit(self) -> None:
        self._store.put(self._key, self._buffer.getvalue())

    def abort(self) -> None:
        self._buffer = io.BytesIO()


class FakeClock:
    """A ``Clock`` whose time moves only when ``sleep`` or ``advance`` is called.

    ``sleeps`` records every requested sleep. Wall time is ``epoch`` plus the elapsed time.
    """

    def __init__(self, *, epoch: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.epoch = epoch
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.elapsed

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        with self._lock:
            self.sleeps.append(seconds)
            self.elapsed += seconds

    def advance(self, seconds: float) -> None:
        """Let time pass without recording a sleep (work that took time)."""
        with self._lock:
            self.elapsed += seconds

    def now_iso(self) -> str:
        now = self._now()
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def now_ms(self) -> int:
        return (self._now() - _UNIX_EPOCH) // timedelta(milliseconds=1)

    def _now(self) -> datetime:
        with self._lock:
            return self.epoch + timedelta(seconds=self.elapsed)
