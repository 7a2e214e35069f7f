"""A fault-injecting HTTP proxy in front of moto server, owned by the test suite.

moto never throttles, never returns UnprocessedItems and reports every request as 1.0
capacity unit (DESIGN.md, "Real components"). This proxy sits between the tool and moto on a
loopback port and, configured at run time through a thread-safe Python API with a seeded RNG:

- injects faults into DynamoDB JSON calls (``X-Amz-Target: DynamoDB_20120810.<Op>``):
  ProvisionedThroughputExceededException, ThrottlingException, HTTP 500 and 503, dropped
  connections (before or after forwarding) and slow responses;
- turns a random part of each BatchWriteItem into ``UnprocessedItems`` (only the rest is
  forwarded to moto, so the answer is true);
- accounts capacity the way DynamoDB does, from item sizes computed by dynamodb_sizes.py from
  DynamoDB's published rules, never by ddbmigrate's code (writes: ceil(size / 1 KB) per
  item; reads: ceil(sum of sizes / 4 KB), halved when eventually consistent), rewrites
  ``ConsumedCapacity`` to that value, records it as a time series, and, when a table has a
  limit, enforces it with a token bucket per table and direction.

Enforcement follows DynamoDB's observable behaviour. A bucket may go into debt; a request
arriving while its bucket is in debt is refused with ProvisionedThroughputExceededException
and not forwarded. Reads are admitted while the bucket is not in debt and charged after the
response (their cost is only known then), so one large page can overdraw the bucket.
BatchWriteItem admits its requests one by one while the bucket lasts and returns the rest as
UnprocessedItems; it is refused outright only when none fit. Known simplifications: tables
are keyed by the name in the request (two accounts' tables with one name share a limit);
UpdateItem and DeleteItem cost 1 WCU (the stored item's size is not known here); a Scan's
cost counts the returned items, so a FilterExpression makes it look cheaper than it is.

Everything else (S3, STS, moto's own API) is forwarded unchanged.
"""

from __future__ import annotations

import bisect
import contextlib
import enum
import http.client
import json
import random
import socket
import sys
import threading
import time
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from dynamodb_sizes import item_size, read_units, write_units

TARGET_PREFIX = "DynamoDB_20120810."
Direction = Literal["read", "write"]

READ_OPERATIONS = frozenset({"Scan", "Query", "GetItem"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
# Headers that describe one hop, not the message; the proxy sets its own framing.
_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
_DYNAMODB_NS = "com.amazonaws.dynamodb.v20120810#"
_CORAL_NS = "com.amazon.coral.availability#"


class FaultKind(enum.Enum):
    """What an injected fault does to one DynamoDB request."""

    THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
    THROTTLING = "ThrottlingException"
    INTERNAL_ERROR = "InternalServerError"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    DROP_BEFORE = "drop-before"
    """Close the connection without forwarding: moto never sees the request."""
    DROP_AFTER = "drop-after"
    """Forward, then close without answering: the request took effect, the client cannot know."""
    SLOW = "slow"
    """Wait ``delay`` seconds, then serve the request normally."""


# status, __type and message of each error fault, as DynamoDB sends them.
_ERRORS: dict[FaultKind, tuple[int, str, str]] = {
    FaultKind.THROUGHPUT_EXCEEDED: (
        400,
        _DYNAMODB_NS + "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    FaultKind.THROTTLING: (
        400,
        _CORAL_NS + "ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    FaultKind.INTERNAL_ERROR: (500, _DYNAMODB_NS + "InternalServerError", "Internal server error"),
    FaultKind.SERVICE_UNAVAILABLE: (
        503,
        _DYNAMODB_NS + "ServiceUnavailable",
        "The service is currently unavailable or busy.",
    ),
}


@dataclass(slots=True)
class _Rule:
    operations: frozenset[str] | None  # None: every DynamoDB operation
    kind: FaultKind
    rate: float
    delay: float
    remaining: int | None  # injections left; None: unlimited
    tables: frozenset[str] | None = None  # None: requests for any table

    def applies(self, operation: str, tables: frozenset[str] = frozenset()) -> bool:
        if self.remaining == 0:
            return False
        if self.operations is not None and operation not in self.operations:
            return False
        return self.tables is None or bool(self.tables & tables)


@dataclass(slots=True)
class _Reply:
    """One HTTP response to send back; ``None`` in its place means: drop the connection."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reason: str = ""
    keep_length: bool = False  # a HEAD answer: keep upstream's Content-Length, send no body


class _Bucket:
    """DynamoDB-side token bucket of one table and direction, in real time; may go into debt."""

    def __init__(self, rate: float, burst_seconds: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.size = rate * burst_seconds
        self.tokens = self.size
        self._clock = clock
        self._stamp = clock()

    def admits(self) -> bool:
        self._refill()
        return self.tokens > 0

    def take(self, units: float) -> None:
        self._refill()
        self.tokens -= units

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.size, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now


@dataclass(frozen=True, slots=True)
class ProxyStats:
    """A snapshot of the proxy's counters."""

    requests: dict[str, int]
    """Requests per DynamoDB operation; everything else counts under ``"other"``."""
    faults: dict[str, int]
    """Injected faults per ``FaultKind.value``."""
    throttled: int
    """Requests refused by a capacity limit (ProvisionedThroughputExceededException)."""
    capacity_unprocessed: int
    """BatchWriteItem requests returned unprocessed because a capacity limit was reached."""
    injected_unprocessed: int
    """BatchWriteItem requests returned unprocessed by ``unprocessed(fraction)``."""
    errors: list[str] = field(default_factory=list)
    """Unexpected exceptions inside the proxy (a test should expect none)."""
    peak_in_flight: dict[str, int] = field(default_factory=dict)
    """The most requests of each DynamoDB operation the proxy was serving at once (a
    request counts from its arrival to its answer, injected delay included)."""


class FaultProxy:
    """The proxy: ``with FaultProxy(moto.endpoint_url, seed=1) as proxy: ... proxy.url``."""

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        max_connections: int = 64,
        upstream_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the fault proxy only forwards to loopback, not {upstream!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self._upstream_timeout = upstream_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._server = _Server(self, max_connections)
        self._thread: threading.Thread | None = None
        self._reset_state(seed)

    # --- lifecycle ---

    @property
    def url(self) -> str:
        """The proxy's endpoint, to pass as ``endpoint_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, drop open connections and wait (briefly) for handlers to end."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.drop_connections(wait=5.0)
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- configuration (thread-safe; takes effect on the next request) ---

    def inject(
        self,
        kind: FaultKind,
        *,
        operations: str | Iterable[str] = "*",
        rate: float = 1.0,
        times: int | None = None,
        delay: float = 0.0,
        tables: Iterable[str] | None = None,
    ) -> None:
        """Give each matching request a ``rate`` chance of ``kind``, at most ``times`` times.

        ``operations``: ``"Scan"``, ``["Scan", "Query"]`` or ``"*"`` for every DynamoDB
        operation (non-DynamoDB requests are never touched). ``tables``: only requests that
        name one of these tables (None: any). Rules are tried in the order they were added;
        the first that fires wins. ``delay`` is for ``FaultKind.SLOW``.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {rate}")
        names = (
            None
            if operations == "*"
            else frozenset([operations] if isinstance(operations, str) else operations)
        )
        only = None if tables is None else frozenset(tables)
        with self._lock:
            self._rules.append(_Rule(names, kind, rate, delay, times, only))

    def unprocessed(self, fraction: float) -> None:
        """Return each BatchWriteItem request as unprocessed with probability ``fraction``."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within 0..1, not {fraction}")
        with self._lock:
            self._unprocessed_fraction = fraction

    def limit(
        self,
        table: str,
        *,
        rcu: float | None = None,
        wcu: float | None = None,
        burst_seconds: float = 1.0,
    ) -> None:
        """Enforce ``rcu``/``wcu`` units per second on ``table`` (None: no limit that way)."""
        with self._lock:
            limits: list[tuple[Direction, float | None]] = [("read", rcu), ("write", wcu)]
            for direction, rate in limits:
                if rate is not None:
                    self._buckets[(table, direction)] = _Bucket(rate, burst_seconds, self._clock)

    def clear_faults(self) -> None:
        """Remove every fault rule and the unprocessed fraction; limits and counters stay."""
        with self._lock:
            self._rules.clear()
            self._unprocessed_fraction = 0.0

    def reset(self, *, seed: int | None = None) -> None:
        """Back to a plain forwarding proxy: no faults, no limits, counters and time axis at 0."""
        with self._lock:
            self._reset_state(self._seed if seed is None else seed)

    # --- counters ---

    def stats(self) -> ProxyStats:
        """The counters so far."""
        with self._lock:
            return ProxyStats(
                requests=dict(self._requests),
                faults=dict(self._faults),
                throttled=self._throttled,
                capacity_unprocessed=self._capacity_unprocessed,
                injected_unprocessed=self._injected_unprocessed,
                errors=list(self._errors),
                peak_in_flight=dict(self._peak_in_flight),
            )

    def consumed(self, table: str, direction: Direction) -> list[tuple[float, float]]:
        """``(seconds since the proxy started, units)`` of every charge to ``table``."""
        with self._lock:
            return list(self._series[(table, direction)])

    def per_second(self, table: str, direction: Direction) -> list[float]:
        """Units consumed by ``table`` in each whole second since the proxy started."""
        seconds: list[float] = []
        for at, units in self.consumed(table, direction):
            index = int(at)
            seconds.extend([0.0] * (index + 1 - len(seconds)))
            seconds[index] += units
        return seconds

    def held_rate(self, table: str, direction: Direction, *, start: float, end: float) -> float:
        """Mean units per second consumed by ``table`` between ``start`` and ``end``."""
        total = sum(u for at, u in self.consumed(table, direction) if start <= at < end)
        return total / (end - start)

    def elapsed(self) -> float:
        """Seconds since the proxy started (the time axis of ``consumed``)."""
        return self._clock() - self._started

    # --- request handling (called by handler threads) ---

    def handle(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Reply | None:
        """Serve one request: a reply to send, or None to drop the connection."""
        target = _header(headers, "x-amz-target")
        if target is None or not target.startswith(TARGET_PREFIX):
            self._count("other")
            return self.forward(method, path, headers, body)
        operation = target.removeprefix(TARGET_PREFIX)
        self._count(operation)
        with self._serving(operation):
            return self._dynamodb(operation, path, headers, body)

    @contextlib.contextmanager
    def _serving(self, operation: str) -> Iterator[None]:
        with self._lock:
            self._in_flight[operation] += 1
            peak = max(self._peak_in_flight[operation], self._in_flight[operation])
            self._peak_in_flight[operation] = peak
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[operation] -= 1

    def record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _dynamodb(
        self, operation: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Reply | None:
        rule = self._fault_for(operation, _tables_named(body))
        kind = rule.kind if rule is not None else None
        if kind in _ERRORS:
            return _error_reply(*_ERRORS[kind])
        if kind is FaultKind.DROP_BEFORE:
            return None
        if kind is FaultKind.SLOW and rule is not None:
            time.sleep(rule.delay)
        reply = self._serve(operation, path, headers, body)
        return None if kind is FaultKind.DROP_AFTER else reply

    def _serve(
        self, operation: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Reply:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            return self.forward("POST", path, headers, body)  # let moto say what is wrong
        exchange = _Exchange(self, path, headers, request)
        if operation == "BatchWriteItem":
            return self._batch_write(exchange)
        if operation in WRITE_OPERATIONS:
            return self._single_write(exchange, operation)
        if operation in READ_OPERATIONS:
            return self._read(exchange, operation)
        if operation == "BatchGetItem":
            return self._batch_get(exchange)
        return self.forward("POST", path, headers, body)

    # --- writes ---

    def _single_write(self, exchange: _Exchange, operation: str) -> _Reply:
        table = str(exchange.request.get("TableName", ""))
        item = exchange.request.get("Item") if operation == "PutItem" else None
        units = _write_units(item)
        with self._lock:
            bucket = self._buckets.get((table, "write"))
            if bucket is not None and not bucket.admits():
                self._throttled += 1
                return _error_reply(*_ERRORS[FaultKind.THROUGHPUT_EXCEEDED])
            self._charge(table, "write", units)
        reply = exchange.forward(exchange.request)
        return exchange.with_capacity(reply, {table: units})

    def _batch_write(self, exchange: _Exchange) -> _Reply:
        requests = exchange.request.get("RequestItems") or {}
        with self._lock:
            admitted, unprocessed, refused, consumed = self._split_batch(requests)
        if not admitted:
            if refused:
                return _error_reply(*_ERRORS[FaultKind.THROUGHPUT_EXCEEDED])
            return exchange.synthetic({"UnprocessedItems": unprocessed}, consumed)
        reply = exchange.forward({**exchange.request, "RequestItems": admitted})
        if reply.status != 200 or not unprocessed:
            return exchange.with_capacity(reply, consumed)
        answer = orjson.loads(reply.body)
        merged = answer.get("UnprocessedItems") or {}
        for table, entries in unprocessed.items():
            merged.setdefault(table, []).extend(entries)
        answer["UnprocessedItems"] = merged
        return exchange.with_capacity(_rewrite(reply, answer), consumed, answer=answer)

    def _split_batch(
        self, requests: dict[str, list[dict[str, Any]]]
    ) -> tuple[dict[str, Any], dict[str, Any], bool, dict[str, float]]:
        """Decide, under the lock, which batch entries go to moto and which come back."""
        admitted: dict[str, list[Any]] = defaultdict(list)
        unprocessed: dict[str, list[Any]] = defaultdict(list)
        consumed: dict[str, float] = defaultdict(float)
        injected = refused = 0
        for table, entries in requests.items():
            bucket = self._buckets.get((table, "write"))
            for entry in entries:
                if self._unprocessed_fraction and self._rng.random() < self._unprocessed_fraction:
                    injected += 1
                    unprocessed[table].append(entry)
                elif bucket is not None and not bucket.admits():
                    refused += 1
                    unprocessed[table].append(entry)
                else:
                    units = _write_units((entry.get("PutRequest") or {}).get("Item"))
                    self._charge(table, "write", units)
                    consumed[table] += units
                    admitted[table].append(entry)
        if refused and not admitted:
            self._throttled += 1  # the whole call fails; nothing comes back as unprocessed
        else:
            self._injected_unprocessed += injected
            self._capacity_unprocessed += refused
        return dict(admitted), dict(unprocessed), refused > 0, dict(consumed)

    # --- reads ---

    def _read(self, exchange: _Exchange, operation: str) -> _Reply:
        # A read's cost is known only from moto's answer, but it is charged at the time the
        # request arrived: that is when the tool chose to spend it. moto answers a 1 MB Scan
        # page in about a second (slower on a loaded machine) and serially, so stamping the
        # answer would bunch pages the tool sent a second apart into one second.
        arrived = self._now()
        table = str(exchange.request.get("TableName", ""))
        if self._refuse_reads([table]):
            return _error_reply(*_ERRORS[FaultKind.THROUGHPUT_EXCEEDED])
        reply = exchange.forward(exchange.request)
        if reply.status != 200:
            return reply
        answer = orjson.loads(reply.body)
        found = (
            [answer["Item"]]
            if operation == "GetItem" and "Item" in answer
            else answer.get("Items", [])
        )
        sizes = [sum(item_size(item) for item in found)]
        units = read_units(sizes, consistent=bool(exchange.request.get("ConsistentRead")))
        with self._lock:
            self._charge(table, "read", units, at=arrived)
        return exchange.with_capacity(reply, {table: units}, answer=answer)

    def _batch_get(self, exchange: _Exchange) -> _Reply:
        arrived = self._now()
        wanted: dict[str, Any] = exchange.request.get("RequestItems") or {}
        if self._refuse_reads(list(wanted)):
            return _error_reply(*_ERRORS[FaultKind.THROUGHPUT_EXCEEDED])
        reply = exchange.forward(exchange.request)
        if reply.status != 200:
            return reply
        answer = orjson.loads(reply.body)
        consumed: dict[str, float] = {}
        for table, items in (answer.get("Responses") or {}).items():
            consistent = bool((wanted.get(table) or {}).get("ConsistentRead"))
            # BatchGetItem rounds each item up on its own, unlike Scan and Query.
            consumed[table] = read_units([item_size(i) for i in items], consistent=consistent)
        with self._lock:
            for table, units in consumed.items():
                self._charge(table, "read", units, at=arrived)
        return exchange.with_capacity(reply, consumed, answer=answer)

    def _refuse_reads(self, tables: list[str]) -> bool:
        with self._lock:
            for table in tables:
                bucket = self._buckets.get((table, "read"))
                if bucket is not None and not bucket.admits():
                    self._throttled += 1
                    return True
        return False

    # --- helpers ---

    def _fault_for(self, operation: str, tables: frozenset[str]) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.applies(operation, tables) and self._rng.random() < rule.rate:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    self._faults[rule.kind.value] += 1
                    return rule
        return None

    def _now(self) -> float:
        """Seconds since the proxy started (the time axis of ``consumed``)."""
        return self._clock() - self._started

    def _charge(
        self, table: str, direction: Direction, units: float, *, at: float | None = None
    ) -> None:
        # Called with the lock held.
        bucket = self._buckets.get((table, direction))
        if bucket is not None:
            bucket.take(units)
        # Reads stamped at arrival finish out of order: keep the series in time order.
        bisect.insort(self._series[(table, direction)], (self._now() if at is None else at, units))

    def _count(self, name: str) -> None:
        with self._lock:
            self._requests[name] += 1

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Reply:
        """Send one request to moto as it is (less hop-by-hop headers); return the answer."""
        host, port = self._upstream
        connection = http.client.HTTPConnection(str(host), port, timeout=self._upstream_timeout)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_HEADERS:
                    connection.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS]
            if method == "HEAD":
                length = response.getheader("Content-Length")
                kept += [("Content-Length", length)] if length is not None else []
            return _Reply(
                response.status, kept, data, response.reason, keep_length=method == "HEAD"
            )
        finally:
            connection.close()

    def _reset_state(self, seed: int) -> None:
        # Called from __init__ or with the lock held.
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[_Rule] = []
        self._unprocessed_fraction = 0.0
        self._buckets: dict[tuple[str, Direction], _Bucket] = {}
        self._requests: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._peak_in_flight: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._throttled = 0
        self._capacity_unprocessed = 0
        self._injected_unprocessed = 0
        self._errors: list[str] = []
        self._series: defaultdict[tuple[str, Direction], list[tuple[float, float]]] = defaultdict(
            list
        )
        self._started = self._clock()


@dataclass(slots=True)
class _Exchange:
    """One DynamoDB request being served: forwards (possibly rewritten) and fixes the answer."""

    proxy: FaultProxy
    path: str
    headers: list[tuple[str, str]]
    request: dict[str, Any]

    def forward(self, request: dict[str, Any]) -> _Reply:
        # moto does not check signatures, so a rewritten body can keep the original ones.
        return self.proxy.forward("POST", self.path, self.headers, orjson.dumps(request))

    def synthetic(self, answer: dict[str, Any], consumed: dict[str, float]) -> _Reply:
        """A 200 answer made here, without asking moto."""
        content_type = ("Content-Type", "application/x-amz-json-1.0")
        reply = _rewrite(_Reply(200, [content_type], b""), answer)
        return self.with_capacity(reply, consumed, answer=answer)

    def with_capacity(
        self, reply: _Reply, consumed: dict[str, float], *, answer: dict[str, Any] | None = None
    ) -> _Reply:
        """Put the realistic ``ConsumedCapacity`` into a 200 answer when the client asked."""
        mode = self.request.get("ReturnConsumedCapacity", "NONE")
        if reply.status != 200 or mode not in ("TOTAL", "INDEXES"):
            return reply
        answer = answer if answer is not None else orjson.loads(reply.body)
        if "TableName" in self.request:  # one-table operations answer with one entry
            table = str(self.request["TableName"])
            answer["ConsumedCapacity"] = _capacity_entry(table, consumed.get(table, 0.0), mode)
        else:
            entries = [_capacity_entry(table, units, mode) for table, units in consumed.items()]
            answer["ConsumedCapacity"] = entries
        return _rewrite(reply, answer)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a bound on connections and a way to drop them all."""

    daemon_threads = True

    def __init__(self, proxy: FaultProxy, max_connections: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy
        self._slots = threading.BoundedSemaphore(max_connections)
        self._open: set[socket.socket] = set()
        self._cond = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(timeout=5.0):
            self.shutdown_request(request)  # over the bound: refuse rather than queue forever
            return
        with self._cond:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # A client that hangs up, or close() dropping a connection, is not a proxy bug.
        if not isinstance(exc, OSError):
            self.proxy.record_error(f"{type(exc).__name__}: {exc}")

    def drop_connections(self, *, wait: float) -> None:
        """Shut every open client connection, then wait for their handler threads."""
        with self._cond:
            for sock in list(self._open):
                with contextlib.suppress(OSError):  # already closed by the client
                    sock.shutdown(socket.SHUT_RDWR)
            self._cond.wait_for(lambda: not self._open, timeout=wait)

    def _release(self, request: Any) -> None:
        with self._cond:
            self._open.discard(request)
            self._cond.notify_all()
        self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, asks the proxy what to do, writes the reply or drops the socket."""

    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 and botocore pools expect
    timeout = 30  # idle keep-alive connections end instead of holding a thread forever
    server: _Server

    def _relay(self) -> None:
        body = self._read_body()
        headers = list(self.headers.items())
        reply = self.server.proxy.handle(self.command, self.path, headers, body)
        if reply is None:
            self.close_connection = True  # the handler returns; socketserver closes the socket
            return
        self._send(reply)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _relay  # noqa: N815

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, up to the empty line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _send(self, reply: _Reply) -> None:
        self.send_response_only(reply.status, reply.reason or None)
        for name, value in reply.headers:
            self.send_header(name, value)
        if not reply.keep_length:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not reply.keep_length:
            self.wfile.write(reply.body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: pytest shows stderr of failing tests, and every request would be there


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _error_reply(status: int, error_type: str, message: str) -> _Reply:
    body = orjson.dumps({"__type": error_type, "message": message})
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", uuid.uuid4().hex),
        ("x-amz-crc32", str(zlib.crc32(body))),
    ]
    return _Reply(status, headers, body)


def _rewrite(reply: _Reply, answer: dict[str, Any]) -> _Reply:
    """The reply with a new JSON body, and the CRC32 header DynamoDB clients check to match."""
    body = orjson.dumps(answer)
    headers = [(k, v) for k, v in reply.headers if k.lower() != "x-amz-crc32"]
    headers.append(("x-amz-crc32", str(zlib.crc32(body))))
    return _Reply(reply.status, headers, body, reply.reason)


def _capacity_entry(table: str, units: float, mode: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"TableName": table, "CapacityUnits": units}
    if mode == "INDEXES":
        entry["Table"] = {"CapacityUnits": units}
    return entry


def _write_units(item: dict[str, Any] | None) -> float:
    if not item:
        return 1.0  # a delete, or an update: the stored item's size is not known here
    try:
        return write_units(item_size(item))
    except ValueError:
        return 1.0  # not wire form: DynamoDB refuses the request, what it costs does not matter


def _tables_named(body: bytes) -> frozenset[str]:
    """The tables a DynamoDB request names (TableName, or the keys of RequestItems)."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return frozenset()
    if not isinstance(request, dict):
        return frozenset()
    names = set(request.get("RequestItems") or {})
    if request.get("TableName"):
        names.add(str(request["TableName"]))
    return frozenset(names)
