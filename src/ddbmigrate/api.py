"""The library's entry points: wire AWS (or a local directory) into the core steps.

This is the only module above both ``ddbmigrate.aws`` and the core; the CLI calls these
functions and nothing else, and so can any Python program.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ddbmigrate import pipeline
from ddbmigrate.aws import DynamoAdmin, DynamoTableReader, DynamoTableWriter, S3Store
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.errors import ConfigError, NotFoundError, StagingError
from ddbmigrate.exporter import ExportOptions, ExportResult, export_table
from ddbmigrate.importer import (
    ImportOptions,
    ImportResult,
    ensure_empty,
    find_export,
    import_export,
    load_export,
)
from ddbmigrate.model import KeySchema, StoreURL
from ddbmigrate.pipeline import Check, MigrateOptions, MigrateReport, SideHandles
from ddbmigrate.ports import NullObserver, Observer, Store
from ddbmigrate.schema import check_compatible
from ddbmigrate.stores import LocalStore
from ddbmigrate.validator import ValidateOptions, ValidationReport, validate_tables

DEFAULT_ACL = "bucket-owner-full-control"


@dataclass(frozen=True, kw_only=True, slots=True)
class StagingOptions:
    """Where exports go and how S3 objects are written."""

    url: str
    """``s3://bucket/prefix/`` or a local directory."""
    bucket_owner: str | None = None
    """Account id the bucket must belong to (ExpectedBucketOwner); for migrate, defaults to
    the destination account."""
    acl: str | None = DEFAULT_ACL
    """Canned ACL of every object written; None sends none (buckets with ACLs disabled
    and the bucket owner enforced setting ignore it anyway)."""
    sse: str | None = None
    """``AES256`` or ``aws:kms``."""
    sse_kms_key_id: str | None = None

    def __post_init__(self) -> None:
        StoreURL.parse(self.url)  # a malformed URL fails here, before any AWS call
        if self.sse not in (None, "AES256", "aws:kms"):
            raise ConfigError(f"--sse {self.sse!r} is not AES256 or aws:kms")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ConfigError("--sse-kms-key-id needs --sse aws:kms")


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

    def reader(self, table: str) -> DynamoTableReader:
        return DynamoTableReader(self.wire, table)

    def writer(self, table: str) -> DynamoTableWriter:
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


def _store_checks(store: Store, *, role: str, write: bool) -> list[Check]:
    """Preflight checks of a staging store: bucket reachable and owned; write proven."""
    checks: list[Check] = []
    if isinstance(store, S3Store):
        checks.append(
            (f"staging bucket reachable and owned as expected ({role})", store.check_bucket)
        )
        if write:
            checks.append((f"staging writable by the {role} account", store.probe_write))
    elif isinstance(store, LocalStore) and write:
        checks.append(("staging directory writable", lambda: _probe_local(store)))
    return checks


def _probe_local(store: Store) -> None:
    key = "ddbmigrate/preflight/probe"
    try:
        store.put(key, b"{}")
        store.delete(key)
    except OSError as exc:  # pragma: no cover - LocalStore already translates
        raise StagingError(f"cannot write to {store.root}: {exc}") from exc


def _owner_for(staging: StagingOptions, dest: Account | None) -> str | None:
    if staging.bucket_owner or StoreURL.parse(staging.url).scheme == "file" or dest is None:
        return staging.bucket_owner
    return dest.session.account_id()


def migrate(
    *,
    source: Side,
    dest: Side,
    staging: StagingOptions,
    options: MigrateOptions,
    observer: Observer | None = None,
) -> MigrateReport:
    """Move a table from ``source`` to ``dest`` through ``staging``, then validate."""
    src, dst = Account(source, "source"), Account(dest, "destination")
    owner = _owner_for(staging, dst)
    export_store = src.store(staging, owner=owner)
    import_store = dst.store(staging, owner=owner)
    checks = _store_checks(export_store, role="source", write=True)
    checks += _store_checks(import_store, role="destination", write=False)
    return pipeline.migrate(
        source=src.handles(),
        dest=dst.handles(),
        export_store=export_store,
        import_store=import_store,
        checks=checks,
        options=options,
        clock=SystemClock(),
        observer=observer,
    )


def copy_schema(
    *,
    source: Side,
    dest: Side,
    source_table: str,
    dest_table: str,
    dest_kms_key_id: str | None = None,
    observer: Observer | None = None,
) -> str:
    """Create ``dest_table`` like ``source_table`` (or check the existing one)."""
    src, dst = Account(source, "source"), Account(dest, "destination")
    schema = pipeline.read_source(src.admin, source_table, src.label)
    return pipeline.ensure_table(
        dst.admin,
        source=schema,
        existing=dst.admin.read_schema(dest_table),
        table_name=dest_table,
        dest_kms_key_id=dest_kms_key_id,
        observer=observer,
    )


def export(
    *,
    source: Side,
    table: str,
    staging: StagingOptions,
    segments: int | None = None,
    workers: int = 4,
    part_max_items: int = 100_000,
    observer: Observer | None = None,
) -> ExportResult:
    """Export ``table`` to ``staging`` in the native export layout."""
    src = Account(source, "source")
    schema = pipeline.read_source(src.admin, table, src.label)
    store = src.store(staging, owner=staging.bucket_owner)
    pipeline.run_checks(_store_checks(store, role="source", write=True), observer or NullObserver())
    size = int(schema.description.get("TableSizeBytes", 0))
    options = ExportOptions(
        segments=segments or pipeline.default_segments(size, workers),
        workers=workers,
        part_max_items=part_max_items,
    )
    return export_table(
        reader=src.reader(table),
        schema=schema,
        store=store,
        options=options,
        clock=SystemClock(),
        observer=observer,
    )


def import_(
    *,
    dest: Side,
    source_url: str,
    table: str,
    export_id: str | None = None,
    into_existing: bool = False,
    bucket_owner: str | None = None,
    workers: int = 4,
    observer: Observer | None = None,
) -> ImportResult:
    """Import the export at ``source_url`` into ``table`` (created from the export's schema
    when absent and the export carries one)."""
    dst = Account(dest, "destination")
    store = dst.store(StagingOptions(url=source_url, bucket_owner=bucket_owner), owner=bucket_owner)
    export_dir = find_export(store, export_id)
    exported = load_export(store, export_dir)
    existing = dst.admin.read_schema(table)
    if existing is not None:
        ensure_empty(dst.reader(table), into_existing=into_existing, flag="--into-existing")
    if exported.schema is not None:
        action = pipeline.ensure_table(
            dst.admin,
            source=exported.schema,
            existing=existing,
            table_name=table,
            observer=observer,
        )
        (observer or NullObserver()).message(action)
    elif existing is None:
        raise NotFoundError(
            f"destination table {table!r} does not exist and the export carries no table "
            "description to create it from",
            hint="create the table first (ddbmigrate schema, or the AWS console) and run again",
        )
    described = existing or exported.schema
    assert described is not None  # one of the branches above made sure
    return import_export(
        store=store,
        export=exported,
        writer=dst.writer(table),
        key=KeySchema.from_description(described.description),
        options=ImportOptions(workers=workers, into_existing=into_existing),
        clock=SystemClock(),
        observer=observer,
    )


def validate(
    *,
    source: Side,
    dest: Side,
    source_table: str,
    dest_table: str,
    segments: int = 4,
    workers: int = 4,
    consistent_read: bool = False,
    observer: Observer | None = None,
) -> ValidationReport:
    """Compare two tables item by item through digests."""
    src, dst = Account(source, "source"), Account(dest, "destination")
    src_schema = pipeline.read_source(src.admin, source_table, src.label)
    dst_schema = pipeline.read_source(dst.admin, dest_table, dst.label, role="destination")
    check_compatible(source=src_schema, dest=dst_schema, dest_flag="--dest-table")
    return validate_tables(
        source=src.reader(source_table),
        dest=dst.reader(dest_table),
        key=KeySchema.from_description(src_schema.description),
        options=ValidateOptions(
            segments=segments, workers=workers, consistent_read=consistent_read
        ),
        clock=SystemClock(),
        observer=observer,
    )
