"""Integration fixtures: a Side acting as any account of the embedded AWS.

The moto server and the clean AWS environment come from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ddbmigrate.config import Side
from ddbmigrate.local.server import LOCAL_REGION, MotoServer

SOURCE_ACCOUNT = "111111111111"
DEST_ACCOUNT = "222222222222"


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
