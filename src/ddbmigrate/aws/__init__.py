"""The AWS boundary: the only package that imports boto3, botocore and urllib3."""

from __future__ import annotations

from ddbmigrate.aws.dynamodb import DynamoAdmin, DynamoTableReader, DynamoTableWriter
from ddbmigrate.aws.s3 import S3Store
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.config import Side

__all__ = [
    "DynamoAdmin",
    "DynamoTableReader",
    "DynamoTableWriter",
    "S3Store",
    "SideSession",
    "WireClient",
    "open_side",
]


def open_side(side: Side) -> SideSession:
    """A session for one side; no AWS call happens until a client is used."""
    return SideSession(side)
