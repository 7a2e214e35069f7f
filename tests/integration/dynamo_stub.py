"""A stub DynamoDB on loopback that answers each operation from a script.

Import as ``from dynamo_stub import ...`` (pytest's "prepend" import mode puts this folder on
``sys.path``). It plays the part of DynamoDB for faults moto cannot make: bodies that are
not JSON, a damaged ``x-amz-crc32``, error JSON, a body cut short, a connection reset.
"""

from __future__ import annotations

import socket
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import orjson

Fault = Literal["none", "truncate", "drop"]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    fault: Fault = "none"
    """truncate: promise the whole body, send half, close; drop: close without answering."""


def crc(body: bytes) -> str:
    return str(zlib.crc32(body) & 0xFFFFFFFF)


def raw(body: bytes, *, status: int = 200) -> Reply:
    """``body`` as it is, with a correct CRC32 (so only the body itself is wrong)."""
    return Reply(status, body, {"x-amz-crc32": crc(body)})


def ok(payload: dict[str, Any]) -> Reply:
    return raw(orjson.dumps(payload))


def bad_crc(payload: dict[str, Any]) -> Reply:
    body = orjson.dumps(payload)
    return Reply(200, body, {"x-amz-crc32": str((zlib.crc32(body) + 1) & 0xFFFFFFFF)})


def error(status: int, code: str, message: str) -> Reply:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    return raw(orjson.dumps(body), status=status)


class DynamoStub:
    """Answers each operation with its scripted replies in turn; the last one repeats.

    An operation without a script gets UnknownOperationException and is listed in
    ``unknown``, which is how the tests below found out what ``export`` asks first.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.responders: dict[str, Callable[[Any], Reply]] = {}
        self.operations: list[str] = []
        self.unknown: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, operation: str, *replies: Reply) -> None:
        with self._lock:
            self.scripts[operation] = list(replies)

    def respond(self, operation: str, responder: Callable[[Any], Reply]) -> None:
        """Answer ``operation`` by what it asks: ``responder`` gets the parsed request body
        (how DynamoDB's answer to a batch depends on the items in it)."""
        with self._lock:
            self.responders[operation] = responder

    def count(self, operation: str) -> int:
        with self._lock:
            return self.operations.count(operation)

    def next_reply(self, operation: str, body: bytes = b"{}") -> Reply:
        with self._lock:
            self.operations.append(operation)
            responder = self.responders.get(operation)
        if responder is not None:
            return responder(orjson.loads(body))
        with self._lock:
            queue = self.scripts.get(operation)
            if not queue:
                self.unknown.append(operation)
                return error(400, "UnknownOperationException", f"stub: no script for {operation}")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler_for(stub: DynamoStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB does

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target") or ""
            reply = stub.next_reply(target.rpartition(".")[2], body)
            if reply.fault == "drop":
                # Linger 0 and a close before socketserver's shutdown(SHUT_WR) would send a
                # FIN: the client sees the connection reset, not a polite end.
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
                self.close_connection = True
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.fault == "truncate":
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.close_connection = True
                return
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
