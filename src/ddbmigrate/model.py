"""Frozen value objects shared by every layer. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ddbmigrate.errors import ConfigError

# An item in DynamoDB wire form: {"name": {"S": "x"}, "n": {"N": "1.5"}, "b": {"B": "AAE="}}.
# Numbers stay strings and binary stays base64 from the first byte read to the last written.
Item = dict[str, Any]

KeyType = Literal["S", "N", "B"]


@dataclass(frozen=True, slots=True)
class KeyAttribute:
    """One key attribute: its name and scalar type."""

    name: str
    type: KeyType

    def __str__(self) -> str:
        return f"{self.name}:{self.type}"


@dataclass(frozen=True, slots=True)
class KeySchema:
    """A table's primary key: a partition key and an optional sort key."""

    partition: KeyAttribute
    sort: KeyAttribute | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Attribute names of the key, partition key first."""
        return (
            (self.partition.name,) if self.sort is None else (self.partition.name, self.sort.name)
        )

    def __str__(self) -> str:
        parts = [str(self.partition)] + ([str(self.sort)] if self.sort else [])
        return "(" + ", ".join(parts) + ")"

    @classmethod
    def from_description(cls, table: dict[str, Any]) -> KeySchema:
        """Build from a DescribeTable ``Table`` (its KeySchema and AttributeDefinitions)."""
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        by_role = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        part = KeyAttribute(by_role["HASH"], types[by_role["HASH"]])
        sort_name = by_role.get("RANGE")
        sort = KeyAttribute(sort_name, types[sort_name]) if sort_name else None
        return cls(partition=part, sort=sort)


_S3_URL = re.compile(r"^s3://(?P<bucket>[^/]+)/?(?P<prefix>.*)$")


@dataclass(frozen=True, slots=True)
class StoreURL:
    """Where staging data lives: ``s3://bucket/prefix`` or a local directory."""

    scheme: Literal["s3", "file"]
    bucket: str
    """S3 bucket name; empty for a local directory."""
    prefix: str
    """Key prefix without leading or trailing slash (S3), or an absolute directory (file)."""

    @classmethod
    def parse(cls, text: str) -> StoreURL:
        """Parse ``s3://bucket/prefix``, ``file:///dir`` or an explicit local path
        (absolute, ``./…``, ``../…``, ``~/…``); a bare ``name/…`` is refused."""
        if text.startswith("s3://"):
            match = _S3_URL.match(text)
            if not match or not match.group("bucket"):
                raise ConfigError(
                    f"staging URL {text!r} has no bucket", hint="write it as s3://BUCKET/PREFIX/"
                )
            return cls("s3", match.group("bucket"), match.group("prefix").strip("/"))
        if "://" in text and not text.startswith("file://"):
            raise ConfigError(
                f"staging URL {text!r} uses a scheme ddbmigrate does not know",
                hint="use s3://BUCKET/PREFIX/ or a local directory",
            )
        if not text.startswith("file://") and not _explicit_local_path(text):
            # ``bucket/prefix/`` without s3:// would silently stage on this machine's disk.
            raise ConfigError(
                f"staging URL {text!r} is neither s3://BUCKET/PREFIX/ nor an explicit local path",
                hint=f"did you mean s3://{text} ? For a local directory write ./{text} "
                "(or an absolute path, or file:///abs/path)",
            )
        path = text.removeprefix("file://")
        return cls("file", "", str(Path(path).expanduser().resolve()))

    def describe(self) -> str:
        """For preflight and plan lines: the URL, or "local directory /abs/path"."""
        return str(self) if self.scheme == "s3" else f"local directory {self.prefix}"

    def join(self, *parts: str) -> StoreURL:
        """A URL below this one."""
        extra = "/".join(p.strip("/") for p in parts if p.strip("/"))
        prefix = f"{self.prefix.rstrip('/')}/{extra}" if self.prefix else extra
        if self.scheme == "file":
            prefix = str(Path(self.prefix, *[p.strip("/") for p in parts if p.strip("/")]))
        return StoreURL(self.scheme, self.bucket, prefix)

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return self.prefix


def _explicit_local_path(text: str) -> bool:
    """Absolute, home-relative, or starting at ``.``/``..``: a path nobody takes for a bucket."""
    return (
        text in (".", "..")
        or text.startswith(("/", "./", "../", "~"))
        or Path(text).is_absolute()  # a Windows drive path
    )


@dataclass(frozen=True, slots=True)
class Segment:
    """One slice of a parallel Scan."""

    index: int
    total: int


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One data file of an export, as manifest-files.json lists it."""

    key: str
    """Path of the file relative to the export folder, e.g. ``data/seg-00000-00000.json.gz``."""
    item_count: int
    md5_b64: str
    """Base64 MD5 of the stored (compressed) bytes, as AWS writes ``md5Checksum``."""
    size: int
    """Stored size in bytes."""
