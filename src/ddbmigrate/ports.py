"""The seams between core logic and the outside world.

Core modules (exporter, importer, validator, schema, pipeline) talk only to these Protocols.
``ddbmigrate.aws`` implements them against AWS; ``ddbmigrate.stores`` against a local
directory; ``ddbmigrate.testing`` in memory for tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from ddbmigrate.model import Item, Segment

# A BatchWriteItem request entry: {"PutRequest": {"Item": item}} or {"DeleteRequest": {"Key": key}}.
WriteRequest = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScanPage:
    """One Scan response."""

    items: list[Item]
    last_key: Item | None
    """``LastEvaluatedKey``; None when the segment is finished."""
    consumed: float = 0.0
    """Capacity units the page consumed (``ConsumedCapacity.CapacityUnits``)."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One BatchWriteItem response."""

    unprocessed: list[WriteRequest] = field(default_factory=list)
    """Requests DynamoDB did not apply; the caller must send them again."""
    consumed: float = 0.0


class TableReader(Protocol):
    """Reads one table (data plane)."""

    @property
    def table_name(self) -> str: ...

    def scan(
        self,
        *,
        segment: Segment,
        start_key: Item | None = None,
        limit: int | None = None,
        consistent: bool = False,
    ) -> ScanPage:
        """One page of a (parallel) Scan. Transient faults raise TransientError."""
        ...


class TableWriter(Protocol):
    """Writes one table (data plane)."""

    @property
    def table_name(self) -> str: ...

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        """One BatchWriteItem call of at most 25 requests and 16 MB."""
        ...


@dataclass(frozen=True, slots=True)
class TableSchema:
    """Everything needed to recreate a table, as AWS reports it.

    ``description`` is DescribeTable's ``Table`` (JSON-safe: timestamps as ISO strings).
    The other fields come from the sibling calls DescribeTable does not cover.
    """

    description: dict[str, Any]
    ttl_attribute: str | None = None
    """DescribeTimeToLive: the attribute name when TTL is ENABLED (or ENABLING)."""
    tags: list[dict[str, str]] = field(default_factory=list)
    """ListTagsOfResource: ``[{"Key": ..., "Value": ...}]``."""
    pitr_enabled: bool = False
    """DescribeContinuousBackups: point-in-time recovery status."""
    unread: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Optional settings (``ttl``, ``tags``, ``pitr``) that could not be read: setting ->
    (``unsupported`` or ``denied``, the operation). Their fields above are the defaults."""

    @property
    def name(self) -> str:
        return str(self.description["TableName"])


class TableAdmin(Protocol):
    """Control plane of one account/region: describe and create tables."""

    def list_tables(self) -> list[str]:
        """Every table name of the account and region."""
        ...

    def read_schema(self, table: str) -> TableSchema | None:
        """DescribeTable and siblings; None when the table does not exist."""
        ...

    def create_table(self, request: dict[str, Any]) -> None:
        """CreateTable with a ready request (see ``ddbmigrate.schema``)."""
        ...

    def wait_active(self, table: str, *, timeout: float) -> dict[str, Any]:
        """Wait until the table and all its GSIs are ACTIVE; return the description."""
        ...

    def enable_ttl(self, table: str, attribute: str) -> None: ...

    def tag_table(self, table: str, tags: list[dict[str, str]]) -> None: ...

    def enable_pitr(self, table: str) -> None: ...

    def enable_stream(self, table: str, view_type: str) -> None: ...

    def set_deletion_protection(self, table: str, *, on: bool) -> None: ...

    def set_table_class(self, table: str, table_class: str) -> None: ...

    def add_gsi(self, table: str, index: dict[str, Any], attributes: list[dict[str, str]]) -> None:
        """UpdateTable creating one GSI (as CreateTable would have it), with the attribute
        definitions its keys need."""
        ...


class StoreWriter(Protocol):
    """One object being written in pieces: nothing is visible until ``commit``."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None:
        """Make the object visible, whole (the same promise as ``Store.put``)."""
        ...

    def abort(self) -> None:
        """Drop what was written; safe to call after a failed ``write`` or ``commit``."""
        ...


class Store(Protocol):
    """A place for staging files, addressed by keys relative to its root (``a/b/c.json``)."""

    @property
    def root(self) -> str:
        """Human-readable URL of the root, for messages (``s3://bucket/prefix``)."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write a whole object atomically: readers see the old state or the new, never half."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create a whole object only if ``key`` does not exist; True when this call made it.

        Atomic: of many callers racing for one absent key, exactly one gets True (``O_EXCL``
        semantics on disk, ``If-None-Match: *`` on S3). What makes run locks safe."""
        ...

    def get(self, key: str) -> bytes:
        """Read a whole object; NotFoundError when it is absent."""
        ...

    def open_read(self, key: str) -> BinaryIO:
        """An object as a file to read in chunks, seekable (the caller closes it);
        NotFoundError when it is absent. Large objects never need to fit in memory."""
        ...

    def open_write(self, key: str) -> StoreWriter:
        """Write an object in pieces (a data file while it is produced)."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys below ``prefix`` (relative to the root), in lexical order."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; absent objects are not an error."""
        ...

    def fingerprints(self, prefix: str) -> dict[str, str]:
        """Keys below ``prefix`` with a text that changes when the object changes (its size
        and ETag on S3, size and modification time on disk): a resume compares them."""
        ...


class Clock(Protocol):
    """Time, injected so throttling and backoff are tested without sleeping."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def now_iso(self) -> str:
        """Wall-clock time as ``2026-01-01T00:00:00.000Z``."""
        ...

    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the epoch."""
        ...


class Budget(Protocol):
    """Capacity a worker may use (``ddbmigrate.throttle.CapacityBudget``). Thread-safe."""

    @property
    def rate(self) -> float:
        """Units per second allowed now."""
        ...

    @property
    def target(self) -> float:
        """Units per second aimed at (``rate`` is lower while backing off)."""
        ...

    def acquire(self, expected: float = 1.0) -> None:
        """Wait until ``expected`` capacity units may be spent."""
        ...

    def reserve(self, expected: float = 1.0) -> float:
        """Reserve ``expected`` units; return the seconds to wait before spending them."""
        ...

    def settle(self, expected: float, consumed: float) -> None:
        """Correct the bucket by what the response says the request really consumed."""
        ...

    def on_throttled(self) -> None:
        """AWS throttled a request: slow down (multiplicative decrease)."""
        ...

    def on_success(self) -> None:
        """A request went through (``CapacityBudget`` grows back on time and ignores it)."""
        ...

    def set_target(self, rate: float) -> None:
        """The table's capacity changed (auto scaling): aim at ``rate`` units/s now."""
        ...

    def share(self, parts: int) -> Budget:
        """An independent, picklable budget of ``1/parts`` of this one, for one of ``parts``
        worker processes or tasks."""
        ...


class Unlimited:
    """No capacity limit: the default for library calls and tests that do not test it."""

    @property
    def rate(self) -> float:
        return float("inf")

    @property
    def target(self) -> float:
        return float("inf")

    def acquire(self, expected: float = 1.0) -> None:
        return None

    def reserve(self, expected: float = 1.0) -> float:
        return 0.0

    def settle(self, expected: float, consumed: float) -> None:
        return None

    def on_throttled(self) -> None:
        return None

    def on_success(self) -> None:
        return None

    def set_target(self, rate: float) -> None:
        return None

    def share(self, parts: int) -> Unlimited:
        return self


class Observer(Protocol):
    """Receives progress; the CLI renders it, the library ignores it by default.

    Called from worker threads: implementations must be thread-safe.
    """

    def step_started(self, step: str, *, total: int | None) -> None:
        """A step began; ``total`` is the expected item count when known."""
        ...

    def advanced(self, step: str, items: int) -> None:
        """``items`` more items were done in ``step``."""
        ...

    def message(self, text: str) -> None:
        """A line for the human log (stderr)."""
        ...

    def step_finished(self, step: str, *, summary: str) -> None: ...


class NullObserver:
    """Ignores everything: the default for library calls."""

    def step_started(self, step: str, *, total: int | None) -> None:
        return None

    def advanced(self, step: str, items: int) -> None:
        return None

    def message(self, text: str) -> None:
        return None

    def step_finished(self, step: str, *, summary: str) -> None:
        return None
