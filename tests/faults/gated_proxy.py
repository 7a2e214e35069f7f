"""The fault proxy, able to hold one chosen DynamoDB request while a test kills its caller."""

from __future__ import annotations

import threading
from typing import Any

from fault_proxy import FaultProxy

TARGET_PREFIX = "DynamoDB_20120810."
HOLD_SECONDS = 120.0


class GatedProxy(FaultProxy):
    """Holds the request of one operation that comes after ``skip`` others of it, until
    released; the held request is then dropped (never answered). ``forward_first``: moto
    serves it before it is held (the call took effect, its caller never learns it)."""

    def __init__(self, upstream: str, **kwargs: Any) -> None:
        super().__init__(upstream, **kwargs)
        self.gate: str | None = None
        self.forward_first = False
        self.skip = 0
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._gate_lock = threading.Lock()

    def handle(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        if not self._holds(headers):
            return super().handle(method, path, headers, body)
        if self.forward_first:
            super().handle(method, path, headers, body)
        self.arrived.set()
        self.release.wait(HOLD_SECONDS)
        return None  # the connection is closed unanswered

    def _holds(self, headers: list[tuple[str, str]]) -> bool:
        target = next((v for k, v in headers if k.lower() == "x-amz-target"), "")
        with self._gate_lock:
            if self.gate is None or target != TARGET_PREFIX + self.gate or self.arrived.is_set():
                return False
            if self.skip > 0:
                self.skip -= 1
                return False
            return True

    def arm(self, operation: str, *, forward_first: bool = False, skip: int = 0) -> None:
        with self._gate_lock:
            self.gate, self.forward_first, self.skip = operation, forward_first, skip
            self.arrived.clear()
            self.release.clear()

    def disarm(self) -> None:
        with self._gate_lock:
            self.gate = None
        self.release.set()
