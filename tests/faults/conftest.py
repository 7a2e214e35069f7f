"""Fault-test fixtures: the fault proxy in front of moto (or of the implementation under
test), and a Side through it.

The moto server and the clean AWS environment come from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fault_proxy import FaultProxy
from helpers import local_keys

from ddbmigrate.config import Side
from ddbmigrate.local.env import LocalAWS
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from dynamoimpl import DynamoImpl

ACCOUNT = "111111111111"
SEED = 20260101


@pytest.fixture
def fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """A fresh proxy (no faults, no limits, counters at zero, seeded) in front of moto."""
    with FaultProxy(moto_server.endpoint_url, seed=SEED) as proxy:
        yield proxy
        assert proxy.stats().errors == []  # the proxy itself must never fail


@pytest.fixture
def impl_proxy(dynamo_impl: DynamoImpl, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A fresh proxy in front of the DynamoDB under test (moto or dynalite, see
    tests/dynamoimpl.py); ``dynamo_impl.side(role, via=proxy.url)`` reaches it."""
    with FaultProxy(dynamo_impl.dynamodb_url, seed=SEED) as proxy:
        dynamo_impl.use(monkeypatch, via=proxy.url)
        yield proxy
        assert proxy.stats().errors == []


@pytest.fixture
def proxy_side(fault_proxy: FaultProxy, aws_env: None) -> Side:
    """A Side acting as account 111111111111 of the embedded AWS, through the proxy."""
    return Side(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/x",
        endpoint_url=fault_proxy.url,
        region=LOCAL_REGION,
    )


@pytest.fixture(scope="module")
def aws(moto_server: MotoServer) -> Iterator[LocalAWS]:
    """The embedded AWS for a module's tables, with its keys in this process's environment
    for the module (function-scoped ``aws_env`` cannot serve a module-scoped table)."""
    with local_keys():
        yield LocalAWS(endpoint_url=moto_server.endpoint_url)
