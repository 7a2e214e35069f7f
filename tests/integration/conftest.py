"""Shared fixtures for integration tests: one moto server per session, two accounts.

Each test gets a clean AWS environment (no real ~/.aws files, no ambient profile, region or
endpoint variables) with the embedded server's base credentials, so AssumeRole into
``arn:aws:iam::<account>:role/<name>`` picks the account the test acts as.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ddbmigrate.config import Side
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY, MotoServer

SOURCE_ACCOUNT = "111111111111"
DEST_ACCOUNT = "222222222222"

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
def side_for(moto_server: MotoServer, aws_env: None) -> Callable[[str], Side]:
    """A Side acting as the given account of the embedded AWS (via AssumeRole)."""

    def make(account: str) -> Side:
        return Side(
            role_arn=f"arn:aws:iam::{account}:role/ddbmigrate-test",
            endpoint_url=moto_server.endpoint_url,
            region=LOCAL_REGION,
        )

    return make
