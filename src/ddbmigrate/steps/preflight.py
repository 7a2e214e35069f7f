"""Before any data moves: the source table read, named checks run, the plan made."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ddbmigrate.errors import AccessDeniedError, FatalError, NotFoundError
from ddbmigrate.model import Segment
from ddbmigrate.ports import Observer, TableAdmin, TableReader, TableSchema
from ddbmigrate.schema import billing_mode
from ddbmigrate.sizing import DESCRIBED, TableSize

GIB = 1024**3


MAX_SEGMENTS = 1_000_000


Check = tuple[str, Callable[[], None]]
"""A named preflight check: raises a DdbMigrateError saying what is wrong and how to fix it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What preflight found and what the run will do."""

    source_table: str
    dest_table: str
    approx_items: int
    approx_bytes: int
    billing_mode: str
    segments: int
    dest_exists: bool
    size_basis: str = DESCRIBED
    """Where approx_items/approx_bytes come from (``sizing``)."""

    def lines(self) -> list[str]:
        action = "exists: write into it" if self.dest_exists else "absent: create it"
        return [
            f"source table   {self.source_table}: ~{self.approx_items:,} items, "
            f"~{self.approx_bytes:,} bytes ({self.size_basis}), {self.billing_mode}",
            f"destination    {self.dest_table}: {action}",
            f"scan segments  {self.segments}",
        ]

    @classmethod
    def of(
        cls,
        source: TableSchema,
        *,
        source_table: str,
        dest_table: str,
        segments: int | None,
        parallel: int,
        dest_exists: bool,
        size: TableSize | None = None,
    ) -> Plan:
        """The plan of moving ``source`` into ``dest_table``; ``segments`` None picks one
        per GiB of table, at least one per unit run at once (``parallel``). ``size`` replaces
        DescribeTable's figures when the caller measured the table (``sizing.table_size``)."""
        desc = source.description
        size = size or TableSize(
            items=int(desc.get("ItemCount", 0)),
            bytes=int(desc.get("TableSizeBytes", 0)),
            basis=DESCRIBED,
        )
        return cls(
            source_table=source_table,
            dest_table=dest_table,
            approx_items=size.items,
            approx_bytes=size.bytes,
            billing_mode=billing_mode(desc),
            segments=segments or default_segments(size.bytes, parallel),
            dest_exists=dest_exists,
            size_basis=size.basis,
        )


def default_segments(table_bytes: int, workers: int) -> int:
    """One Scan segment per GiB of table, at least one per worker."""
    return max(workers, min(MAX_SEGMENTS, math.ceil(table_bytes / GIB)))


def read_source(admin: TableAdmin, table: str, label: str, *, role: str = "source") -> TableSchema:
    """A table's schema; it must exist and be ACTIVE. ``role`` is source or dest(ination)."""
    found = admin.read_schema(table)
    if found is None:
        flag = "source" if role == "source" else "dest"
        raise NotFoundError(
            f"{role} table {table!r} does not exist in {label}",
            hint=f"check --{flag}-table, --{flag}-region and the {role} credentials",
        )
    status = found.description.get("TableStatus", "ACTIVE")
    if status != "ACTIVE":
        raise FatalError(
            f"{role} table {table!r} is {status}, not ACTIVE",
            hint="wait until it is ACTIVE and run again",
        )
    return found


def probe_scan(reader: TableReader) -> None:
    """A one-item Scan: proves dynamodb:Scan on the table, costs at most 0.5 RCU."""
    reader.scan(segment=Segment(0, 1), limit=1)


def run_checks(checks: list[Check], observer: Observer) -> None:
    """Run named preflight checks in order. Missing permissions are collected and reported
    together (each with the statement that grants it); any other failure stops at once."""
    denied: list[AccessDeniedError] = []
    for name, check in checks:
        try:
            check()
        except AccessDeniedError as exc:
            denied.append(exc)
            observer.message(f"preflight FAILED: {name}: {exc.message}")
            continue
        observer.message(f"preflight ok: {name}")
    if len(denied) == 1:
        raise denied[0]
    if denied:
        raise AccessDeniedError(
            f"{len(denied)} permissions are missing: " + "; ".join(exc.message for exc in denied),
            hint=" | ".join(exc.hint or "" for exc in denied),
        )
