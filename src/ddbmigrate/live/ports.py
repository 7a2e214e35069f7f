"""The seam between the live replay and DynamoDB Streams.

``ddbmigrate.aws.streams`` implements :class:`ChangeStreams` on boto3; ``ddbmigrate.testing
.streams`` in memory, with split, closed and trimmed shards and iterators that expire.
Records keep DynamoDB's wire form: their images go to the destination exactly as they came.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ddbmigrate.model import Item

USABLE_VIEW_TYPES = frozenset({"NEW_IMAGE", "NEW_AND_OLD_IMAGES"})
"""Stream views whose records carry the new image a put needs."""


@dataclass(frozen=True, slots=True)
class TableStream:
    """What DescribeTable says about a table's stream."""

    table: str
    enabled: bool
    view_type: str | None = None
    arn: str | None = None
    """``LatestStreamArn``: the newest stream, also once it is disabled."""


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of a stream, as DescribeStream lists it."""

    shard_id: str
    parent_id: str | None = None
    starting_sequence: str = "0"
    ending_sequence: str | None = None
    """Set once the shard is closed: no record follows it."""

    @property
    def closed(self) -> bool:
        return self.ending_sequence is not None


@dataclass(frozen=True, slots=True)
class StreamDescription:
    """DescribeStream, every page of its shards."""

    arn: str
    table: str
    status: str
    """ENABLING, ENABLED, DISABLING or DISABLED."""
    view_type: str
    shards: list[Shard] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One stream record, reduced to what applying it needs."""

    event: str
    """INSERT, MODIFY or REMOVE (DynamoDB's names)."""
    sequence: str
    """``SequenceNumber``: digits, ordered within a shard (compare as integers)."""
    created: float
    """``ApproximateCreationDateTime`` in seconds since the epoch (one-second resolution on
    AWS: never used to order records, only to report lag)."""
    keys: Item
    new_image: Item | None = None


@dataclass(frozen=True, slots=True)
class RecordsPage:
    """One GetRecords response."""

    records: list[ChangeRecord]
    next_iterator: str | None
    """None when the shard is closed and read to its end."""


class ChangeStreams(Protocol):
    """DynamoDB Streams of one account and region, plus the table calls a stream needs."""

    def table_stream(self, table: str) -> TableStream:
        """The table's stream settings (DescribeTable); NotFoundError without the table."""
        ...

    def enable_stream(self, table: str, view_type: str) -> None:
        """UpdateTable StreamSpecification (the stream is ENABLING for a while)."""
        ...

    def disable_stream(self, table: str) -> None:
        """UpdateTable StreamEnabled false (after a cutover, when the tool enabled it)."""
        ...

    def describe_stream(self, arn: str) -> StreamDescription:
        """DescribeStream with every page of shards."""
        ...

    def shard_iterator(self, arn: str, shard_id: str, *, after: str | None) -> str:
        """An iterator at TRIM_HORIZON (``after`` None) or AFTER_SEQUENCE_NUMBER ``after``.
        StreamTrimmedError when ``after`` is older than the trim horizon."""
        ...

    def get_records(self, iterator: str, *, limit: int) -> RecordsPage:
        """Up to ``limit`` records (at most 1,000 and 1 MB). ExpiredIteratorError after
        15 minutes; StreamTrimmedError when the iterator points at trimmed records."""
        ...


class ChangeExports(Protocol):
    """The source table's change history past the stream: ExportTableToPointInTime with
    ``ExportType=INCREMENTAL_EXPORT`` (point-in-time recovery keeps it up to 35 days), into
    the run's staging store (``ddbmigrate.live.bridge``)."""

    def check_history(self, since: float, gap: Exception) -> None:
        """Nothing when point-in-time recovery holds every change since ``since`` (epoch
        seconds); else StreamTrimmedError that says the changes of ``gap`` are gone."""
        ...

    def start_export(self, start: float, end: float, *, slot: str) -> str:
        """Start exporting the newest change per key made in ``[start, end)`` into a folder
        of its own (``slot`` names it and makes a repeated start the same export); its id."""
        ...

    def wait_export(self, export_id: str) -> str:
        """Wait until the export is written; its folder, relative to the staging root."""
        ...
