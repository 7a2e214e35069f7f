"""Helpers the fault tests share: the embedded AWS's keys for module-scoped setup, a proxy
that knows when a killed client's last request is done, and a filled source table."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from fault_proxy import FaultProxy

from ddbmigrate.local.demo import put_items
from ddbmigrate.local.env import SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from ddbmigrate.model import Item

KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@contextlib.contextmanager
def local_keys() -> Iterator[None]:
    """The embedded AWS's keys in this process's environment, then the old values back
    (function-scoped ``aws_env`` cannot serve a module-scoped table)."""
    saved = {k: os.environ.get(k) for k in KEYS}
    os.environ.update(AWS_ACCESS_KEY_ID=LOCAL_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=LOCAL_SECRET_KEY)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def create_filled_table(aws: LocalAWS, table: str, items: list[Item]) -> None:
    """A source table keyed by ``pk`` (S), on demand, holding ``items`` (wire form, written
    through our own data plane)."""
    with local_keys():
        aws.client(SOURCE_ROLE, "dynamodb").create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        put_items(aws, table, items)


class CountingProxy(FaultProxy):
    """The fault proxy, plus how many requests are inside it right now."""

    def __init__(self, upstream: str, **kwargs: Any) -> None:
        super().__init__(upstream, **kwargs)
        self._busy = 0
        self._busy_lock = threading.Lock()

    def handle(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        with self._busy_lock:
            self._busy += 1
        try:
            return super().handle(method, path, headers, body)
        finally:
            with self._busy_lock:
                self._busy -= 1

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no request is being served (a killed client's last one still counts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._busy_lock:
                if self._busy == 0:
                    return
            time.sleep(0.01)
        raise AssertionError("the proxy is still serving requests of a dead process")
