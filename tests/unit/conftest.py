"""Unit tests run with sockets disabled: core code must work on the fakes alone (pip's habit)."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class _NoNetwork(socket.socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unit tests must not open sockets; use ddbmigrate.testing fakes")


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "socket", _NoNetwork)
