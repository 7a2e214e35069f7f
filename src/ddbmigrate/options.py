"""The options of the single-step commands, one frozen object per command, beside
``pipeline.MigrateOptions``: what ``ddbmigrate.api.export`` / ``import_`` / ``validate``
take as ``options=`` (their keyword arguments are the older spelling of the same fields).

Not to be confused with the steps' own options (``exporter.ExportOptions`` and the like),
which say how one step runs once the command has chosen its segments and workers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from ddbmigrate.engines.base import DEFAULT_THREADS
from ddbmigrate.errors import ConfigError
from ddbmigrate.formats.compression import Compression
from ddbmigrate.formats.detect import Format
from ddbmigrate.settings import ALL as ALL_SETTINGS

THREADS = DEFAULT_THREADS
"""Units each local worker runs at once: the engine's own default, not a copy of it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportOptions:
    """One table's export (``ddbmigrate export``)."""

    table: str
    segments: int | None = None
    """Parallel Scan segments; None: one per GiB of table, at least one per thread."""
    workers: int | None = None
    """Worker processes of the local engine; None: one per core."""
    threads: int = THREADS
    """Segments each worker scans at once."""
    part_max_items: int = 100_000
    """Items per data file."""
    format: Format = "native-json"
    """native-json, native-ion or datapipeline."""
    compression: Compression = "gzip"
    compression_level: int | None = None
    """None: the codec's default level."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BulkSettings:
    """``--bulk-max-wru`` and ``--bulk-tier`` (checked by ``bulk.BulkOptions``)."""

    max_wru: int | None = None
    """MaxWriteRequestUnits, at least 1,024; None lets AWS decide."""
    tier: str = "STANDARD"
    """PerformanceTier: STANDARD or ACCELERATED."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportOptions:
    """What a SOURCE holds, into one table (``ddbmigrate import``)."""

    source_url: str
    """A native export, the prefix above exports, a Data Pipeline backup, or one file."""
    table: str
    export_id: str | None = None
    """Which export under ``source_url``; None: the newest complete one."""
    format: str | None = None
    """None: detected from what ``source_url`` holds."""
    into_existing: bool = False
    """Write into a table that already holds items."""
    bucket_owner: str | None = None
    """Account id the source bucket must belong to."""
    workers: int | None = None
    """Worker processes of the local engine; None: one per core."""
    threads: int = THREADS
    """Files each worker writes at once."""
    max_rejects: int = 0
    """Items DynamoDB may refuse (recorded in the run's rejects file) before the run stops."""
    allow_unverified_capacity: bool = False
    """Create a table with high provisioned capacity from a table file no checksum covers."""
    settings: frozenset[str] = ALL_SETTINGS
    """The optional settings a created table gets (``settings.ALL``), best effort..."""
    strict_settings: bool = False
    """...unless this: one that cannot be read or copied stops the run (as ``migrate``)."""
    import_method: str = "batch"
    """batch (BatchWriteItem within the write budget) or bulk (StartBulkPutItems)."""
    bulk: BulkSettings | None = None
    """``--bulk-max-wru`` / ``--bulk-tier`` of a bulk import (None: AWS's defaults)."""
    boost: int | None = None
    """``--boost``: the table's write capacity raised to this for the run, then restored."""

    def __post_init__(self) -> None:
        if self.import_method not in ("batch", "bulk"):
            raise ConfigError(
                f"--import-method {self.import_method!r} is not batch or bulk",
                hint="import writes with --import-method batch (BatchWriteItem) or bulk "
                "(StartBulkPutItems); native is migrate's",
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidateOptions:
    """Two tables compared item by item (``ddbmigrate validate``)."""

    source_table: str
    dest_table: str
    segments: int | None = None
    """Parallel Scan segments per table; None: one per worker thread."""
    workers: int | None = None
    """Worker processes of the local engine; None: one per core."""
    threads: int = THREADS
    """Segments each worker scans at once."""
    consistent_read: bool = False
    """Strongly consistent Scans (twice the RCU); use when writes just finished."""


_O = TypeVar("_O", ExportOptions, ImportOptions, ValidateOptions)


def from_keywords(kind: type[_O], options: _O | None, keywords: dict[str, Any]) -> _O:
    """``options=``, or the older keywords that spell its fields; never both, so a keyword
    beside ``options=`` is refused rather than silently dropped."""
    defaults = {f.name: f.default for f in dataclasses.fields(kind)}
    given = sorted(k for k, v in keywords.items() if v is not None and v != defaults[k])
    if options is not None:
        if given:
            raise TypeError(f"pass {', '.join(given)} in options=, not beside it")
        return options
    for name, value in keywords.items():
        if value is None and defaults[name] is dataclasses.MISSING:
            raise TypeError(f"missing keyword argument {name!r} (or pass options=)")
    return kind(**keywords)
