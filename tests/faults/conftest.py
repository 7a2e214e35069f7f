"""Fixtures for fault tests: moto server, the fault proxy in front of it, a clean AWS env.

The moto fixtures repeat tests/integration/conftest.py's few lines on purpose: test folders
have no ``__init__.py``, so one conftest cannot import another by module name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_proxy import FaultProxy

from ddbmigrate.config import Side
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY, MotoServer

ACCOUNT = "111111111111"
SEED = 20260101

# Variables that would make a test depend on the machine it runs on.
_AMBIENT_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CA_BUNDLE",
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """The embedded AWS, started once for the whole session."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Base credentials of the embedded AWS and nothing from the host's AWS setup."""
    for name in _AMBIENT_AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)


@pytest.fixture
def fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """A fresh proxy (no faults, no limits, counters at zero, seeded) in front of moto."""
    with FaultProxy(moto_server.endpoint_url, seed=SEED) as proxy:
        yield proxy
        assert proxy.stats().errors == []  # the proxy itself must never fail


@pytest.fixture
def proxy_side(fault_proxy: FaultProxy, aws_env: None) -> Side:
    """A Side acting as account 111111111111 of the embedded AWS, through the proxy."""
    return Side(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/x",
        endpoint_url=fault_proxy.url,
        region=LOCAL_REGION,
    )
