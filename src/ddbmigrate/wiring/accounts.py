"""One side of a migration, opened lazily, and the staging stores it reads and writes.

The data-plane choice (``DDBMIGRATE_DATA_PLANE``) and the bucket-owner / ACL rules of
ADR 0017 live here, so every command opens stores the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from ddbmigrate.aws import DynamoAdmin, DynamoTableReader, DynamoTableWriter, S3Store
from ddbmigrate.aws.boto3_plane import Boto3TableReader, Boto3TableWriter
from ddbmigrate.aws.s3 import acl_needed
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.config import Side
from ddbmigrate.errors import ConfigError, StagingError
from ddbmigrate.model import StoreURL
from ddbmigrate.pipeline import Check, SideHandles
from ddbmigrate.ports import Store, TableReader, TableWriter
from ddbmigrate.stores import LocalStore

DEFAULT_ACL = "bucket-owner-full-control"


@dataclass(frozen=True, kw_only=True, slots=True)
class StagingOptions:
    """Where exports go and how S3 objects are written."""

    url: str
    """``s3://bucket/prefix/`` or a local directory."""
    bucket_owner: str | None = None
    """Account id the bucket must belong to (ExpectedBucketOwner on every S3 request);
    default: the destination account, and for ``export`` the caller's account (STS)."""
    acl: str | None = DEFAULT_ACL
    """Canned ACL of objects written into a bucket another account owns; not sent where the
    writer owns the bucket or the bucket's Object Ownership is BucketOwnerEnforced; None
    sends none."""
    sse: str | None = None
    """``AES256`` or ``aws:kms``."""
    sse_kms_key_id: str | None = None

    def __post_init__(self) -> None:
        StoreURL.parse(self.url)  # a malformed URL fails here, before any AWS call
        if self.sse not in (None, "AES256", "aws:kms"):
            raise ConfigError(f"--sse {self.sse!r} is not AES256 or aws:kms")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ConfigError("--sse-kms-key-id needs --sse aws:kms")


DATA_PLANE_ENV = "DDBMIGRATE_DATA_PLANE"


def data_plane() -> str:
    """``lean`` (the signed urllib3 client, the default) or ``boto3`` (boto3's own client,
    kept as the reference the benchmark compares against)."""
    chosen = os.environ.get(DATA_PLANE_ENV, "lean").strip().lower() or "lean"
    if chosen not in ("lean", "boto3"):
        raise ConfigError(f"{DATA_PLANE_ENV}={chosen!r} is not lean or boto3")
    return chosen


class Account:
    """One side, opened lazily: no AWS call until something needs one."""

    def __init__(self, side: Side, role: str) -> None:
        self.side = side
        self.role = role

    @cached_property
    def session(self) -> SideSession:
        return SideSession(self.side)

    @cached_property
    def wire(self) -> WireClient:
        return WireClient(self.session)

    @cached_property
    def admin(self) -> DynamoAdmin:
        return DynamoAdmin(self.session)

    def reader(self, table: str) -> TableReader:
        if data_plane() == "boto3":
            return Boto3TableReader(self.session, table)
        return DynamoTableReader(self.wire, table)

    def writer(self, table: str) -> TableWriter:
        if data_plane() == "boto3":
            return Boto3TableWriter(self.session, table)
        return DynamoTableWriter(self.wire, table)

    @property
    def label(self) -> str:
        return f"the {self.role} account ({self.side.describe()})"

    def handles(self) -> SideHandles:
        return SideHandles(
            admin=self.admin, reader=self.reader, writer=self.writer, label=self.label
        )

    def store(self, staging: StagingOptions, *, owner: str | None) -> Store:
        url = StoreURL.parse(staging.url)
        if url.scheme == "file":
            return LocalStore(url.prefix)
        return S3Store(
            self.session,
            url,
            expected_owner=owner,
            acl=staging.acl,
            sse=staging.sse,
            sse_kms_key_id=staging.sse_kms_key_id,
        )


def store_checks(store: Store, *, role: str, write: bool) -> list[Check]:
    """Preflight checks of a staging store: bucket reachable and owned; write proven."""
    checks: list[Check] = []
    if isinstance(store, S3Store):
        checks.append(
            (f"staging bucket reachable and owned as expected ({role})", store.check_bucket)
        )
        if write:
            checks.append((f"staging writable by the {role} account", store.probe_write))
    elif isinstance(store, LocalStore) and write:
        where = StoreURL.parse(store.root).describe()
        checks.append((f"staging: {where} writable", lambda: _probe_local(store)))
    return checks


def _probe_local(store: Store) -> None:
    key = "ddbmigrate/preflight/probe"
    try:
        store.put(key, b"{}")
        store.delete(key)
    except OSError as exc:  # pragma: no cover - LocalStore already translates
        raise StagingError(f"cannot write to {store.root}: {exc}") from exc


def owner_for(staging: StagingOptions, account: Account) -> str | None:
    """The account an s3:// staging must belong to: --bucket-owner, else ``account``'s own
    (STS GetCallerIdentity, asked once per session); None for a local directory."""
    if staging.bucket_owner or StoreURL.parse(staging.url).scheme == "file":
        return staging.bucket_owner
    return account.session.account_id()


def with_acl(
    staging: StagingOptions, owner: str | None, *, asker: Account | None
) -> StagingOptions:
    """``staging`` with its ACL kept only where objects need one (ADR 0017): ``asker`` is None
    when the writer owns the bucket; else it reads the bucket's Object Ownership."""
    url = StoreURL.parse(staging.url)
    if staging.acl is None or url.scheme != "s3":
        return staging
    if asker is None or not acl_needed(asker.session, url.bucket, owner=owner):
        return replace(staging, acl=None)
    return staging


def run_store(staging: StagingOptions, side: Side) -> Store:
    """The store holding the runs of ``staging`` (read with ``side``'s credentials), owned
    by ``side``'s account unless --bucket-owner names another."""
    account = Account(side, "staging")
    owner = owner_for(staging, account)
    return account.store(with_acl(staging, owner, asker=foreign(staging, account)), owner=owner)


def foreign(staging: StagingOptions, writer: Account) -> Account | None:
    """Who reads the bucket's Object Ownership when ``writer`` may not own the bucket: the
    writer itself when --bucket-owner names an account; None (no ACL) when the bucket is the
    writer's own by default."""
    return writer if staging.bucket_owner else None


def read_object(url: str, side: Side | None = None) -> bytes:
    """One object, ``s3://bucket/key`` or a local path, read with ``side``'s credentials
    (default: the standard chain, e.g. a cluster's role)."""
    parent, _, name = url.rstrip("/").rpartition("/")
    if not name or not parent or parent in ("s3:", "s3:/"):
        raise ConfigError(f"{url!r} does not name an object")
    account = Account(side or Side(), "the default credentials")
    staging = StagingOptions(url=parent + "/")
    return account.store(staging, owner=owner_for(staging, account)).get(name)


def source_store(account: Account, url: str, flag: str | None) -> tuple[Store, str | None]:
    """The store to read SOURCE from, and the file name when SOURCE is one data file."""
    staging = StagingOptions(url=url, bucket_owner=flag)
    owner = owner_for(staging, account)
    staging = with_acl(staging, owner, asker=foreign(staging, account))
    parsed = StoreURL.parse(url)
    parent, _, name = url.rstrip("/").rpartition("/")
    if url.endswith("/") or not name or not parent or parent in ("s3:", "s3:/"):
        return account.store(staging, owner=owner), None
    if parsed.scheme == "file":
        if Path(parsed.prefix).is_file():
            return LocalStore(str(Path(parsed.prefix).parent)), name
        return account.store(staging, owner=owner), None
    parent_store = account.store(replace(staging, url=parent), owner=owner)
    if parent_store.exists(name):
        return parent_store, name
    return account.store(staging, owner=owner), None
