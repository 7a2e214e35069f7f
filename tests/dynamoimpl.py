"""The DynamoDB implementation an end-to-end test runs on: moto server or dynalite.

The ``dynamo_impl`` fixture (tests/conftest.py) runs a test once on each, so every path it
takes is proven on two independent implementations. Only DynamoDB changes: STS (the two
accounts' roles) and S3 (the staging bucket) stay on moto, since dynalite has neither.

- moto: each side is one account of the moto server, one endpoint for every service (as
  ``ddbmigrate demo`` runs).
- dynalite: each side names no endpoint; ``AWS_ENDPOINT_URL_DYNAMODB`` sends the tool's
  DynamoDB calls to dynalite (or to a proxy in front of it) and ``AWS_ENDPOINT_URL_STS`` /
  ``_S3`` the rest to moto, as botocore's service-specific endpoints do for a user. dynalite
  has one account, so a destination table needs another name than its source
  (``dest_name``).

A test reads the same for both: ``impl.side(SOURCE_ROLE)`` for the tool, ``impl.client(ROLE)``
for its own setup and checks (tests/itemcompare.py's boto3 client, never the tool's code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ddbmigrate.config import Side
from ddbmigrate.local.server import LOCAL_REGION
from itemcompare import dynamodb_client

IMPLEMENTATIONS = ("moto", "dynalite")


@dataclass(frozen=True)
class DynamoImpl:
    """One implementation under test, with the moto server that serves STS and S3."""

    name: str
    """``moto`` or ``dynalite``."""
    dynamodb_url: str
    """Where its DynamoDB listens (for a proxy's upstream)."""
    moto_url: str
    """The moto server: STS and S3 (and DynamoDB when ``name`` is ``moto``)."""

    @property
    def two_accounts(self) -> bool:
        """Whether source and destination are two accounts (moto) or one (dynalite)."""
        return self.name == "moto"

    def dest_name(self, table: str) -> str:
        """A destination table for ``table``: the same name in the other account on moto,
        another name in dynalite's only account."""
        return table if self.two_accounts else f"{table}-copy"

    def environ(self, *, via: str | None = None) -> dict[str, str]:
        """Variables that point the tool's DynamoDB at this implementation (or at ``via``, a
        proxy in front of it) and everything else at moto; none for moto (the sides say)."""
        if self.two_accounts:
            return {}
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": via or self.dynamodb_url,
            "AWS_ENDPOINT_URL_STS": self.moto_url,
            "AWS_ENDPOINT_URL_S3": self.moto_url,
        }

    def use(self, monkeypatch: pytest.MonkeyPatch, *, via: str | None = None) -> None:
        """Set ``environ(via=via)`` in this process (worker processes inherit it)."""
        for name, value in self.environ(via=via).items():
            monkeypatch.setenv(name, value)

    def side(self, role_arn: str, *, via: str | None = None) -> Side:
        """The tool's side acting as ``role_arn``'s account; DynamoDB through ``via`` if
        given (on dynalite ``use(monkeypatch, via=...)`` must say so too)."""
        if self.two_accounts:
            return Side(role_arn=role_arn, endpoint_url=via or self.moto_url, region=LOCAL_REGION)
        return Side(role_arn=role_arn, region=LOCAL_REGION)

    def direct(self, role_arn: str) -> Side:
        """A side straight to the implementation whatever the environment says (never
        through a proxy), for a test's setup with the tool's data plane; on dynalite no
        role (it has no STS, and one account)."""
        if self.two_accounts:
            return Side(role_arn=role_arn, endpoint_url=self.moto_url, region=LOCAL_REGION)
        return Side(endpoint_url=self.dynamodb_url, region=LOCAL_REGION)

    def flags(self, prefix: str, role_arn: str) -> list[str]:
        """The command's flags for one side (``prefix``: ``source`` or ``dest``); run it with
        ``environ()`` on top of tests/cliprocess.py's environment."""
        flags = [f"--{prefix}-role-arn", role_arn, f"--{prefix}-region", LOCAL_REGION]
        if self.two_accounts:
            return [*flags, f"--{prefix}-endpoint-url", self.moto_url]
        return flags

    def client(self, role_arn: str) -> Any:
        """The test's own boto3 DynamoDB client: ``role_arn``'s account on moto, dynalite's
        only account on dynalite."""
        if self.two_accounts:
            return dynamodb_client(self.moto_url, role_arn)
        return dynamodb_client(self.dynamodb_url, None)
