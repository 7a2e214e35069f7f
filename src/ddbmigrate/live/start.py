"""The start point of a live migration: a stream that is ENABLED before the copy begins.

Every change made after :func:`start_stream` returns is in the stream, so a copy taken after
it plus a replay of the stream from that point is the table as it is now (docs/adr/0031).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ddbmigrate.checkpoint import Ledger
from ddbmigrate.errors import StepTimeoutError, StreamUnusableError
from ddbmigrate.live.ports import USABLE_VIEW_TYPES, ChangeStreams, StreamDescription, TableStream
from ddbmigrate.ports import Clock

VIEW_TYPE = "NEW_AND_OLD_IMAGES"
"""What the tool enables: the new image to apply, the old one for whoever audits the run."""
POLL_SECONDS = 2.0
_RESTART = "start a new live migration (a new stream, then a new copy)"
_FIX_VIEW = (
    "a live migration needs a stream with new images: disable the table's stream, then "
    "enable it with StreamViewType NEW_AND_OLD_IMAGES (console, or the AWS CLI's "
    "update-table with its stream specification), then run again"
)


@dataclass(frozen=True, slots=True)
class StreamStart:
    """What a run records about its stream (in the ledger, under ``live``)."""

    table: str
    arn: str
    view_type: str
    started: str
    """When the stream was seen ENABLED (ISO 8601): every later change is in it."""
    enabled_by_us: bool
    """The tool enabled it, so cutover may disable it again."""
    shards: tuple[str, ...] = field(default_factory=tuple)
    """Shards listed at the start: only their parents may be gone without data loss."""

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "arn": self.arn,
            "view_type": self.view_type,
            "started": self.started,
            "enabled_by_us": self.enabled_by_us,
            "shards": list(self.shards),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> StreamStart:
        return cls(
            table=str(body["table"]),
            arn=str(body["arn"]),
            view_type=str(body["view_type"]),
            started=str(body["started"]),
            enabled_by_us=bool(body["enabled_by_us"]),
            shards=tuple(str(s) for s in body.get("shards", [])),
        )


def start_stream(
    streams: ChangeStreams, table: str, *, clock: Clock, timeout: float = 600.0
) -> StreamStart:
    """Enable ``table``'s stream (NEW_AND_OLD_IMAGES) or accept the one it has (at least
    NEW_IMAGE), wait until it is ENABLED, and say where the replay starts.

    StreamUnusableError for a stream of keys or old images only; StepTimeoutError when the
    stream is not ENABLED within ``timeout`` seconds (the run can be started again)."""
    current = streams.table_stream(table)
    enabled_by_us = not current.enabled
    if current.enabled:
        _check_view(table, current.view_type)
    else:
        streams.enable_stream(table, VIEW_TYPE)
    description = _wait_enabled(streams, table, clock, clock.monotonic() + timeout)
    return StreamStart(
        table=table,
        arn=description.arn,
        view_type=description.view_type,
        started=clock.now_iso(),
        enabled_by_us=enabled_by_us,
        shards=tuple(s.shard_id for s in description.shards),
    )


def epoch_seconds(iso: str) -> float:
    """A ledger time (``2026-01-01T00:00:00.000Z``) in seconds since the epoch."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def record_start(ledger: Ledger, start: StreamStart) -> None:
    """Write the start point into the run's ``run.json`` (under ``live``)."""
    ledger.set(live=start.to_json())


def recorded_start(ledger: Ledger) -> StreamStart | None:
    """The start point a run recorded; None for a run that is not live."""
    body = ledger.run.get("live")
    return StreamStart.from_json(body) if isinstance(body, dict) else None


def check_stream(streams: ChangeStreams, start: StreamStart) -> StreamDescription:
    """The recorded stream, proven to still be the table's stream and ENABLED (a resumed
    replay, a cutover); StreamUnusableError otherwise."""
    current = streams.table_stream(start.table)
    if current.arn != start.arn:
        raise StreamUnusableError(
            f"table {start.table!r} has another stream ({current.arn}) than the one this run "
            f"started on ({start.arn}): the stream was disabled and enabled again, and the "
            "changes in between are lost",
            hint=_RESTART,
        )
    if not current.enabled:
        raise StreamUnusableError(
            f"the stream of table {start.table!r} is disabled: changes made while it is off "
            "are not recorded",
            hint=_RESTART,
        )
    description = streams.describe_stream(start.arn)
    check_description(description, start.table)
    return description


def check_description(description: StreamDescription, table: str) -> None:
    """Refuse a stream that is not ``table``'s, not ENABLED, or without new images."""
    if description.table != table:
        raise StreamUnusableError(
            f"stream {description.arn} belongs to table {description.table!r}, not to {table!r}",
            hint="give the stream of the source table (its LatestStreamArn)",
        )
    if description.status != "ENABLED":
        raise StreamUnusableError(
            f"the stream of table {table!r} is {description.status}, not ENABLED: changes "
            "made while it is off are not recorded",
            hint=_RESTART,
        )
    _check_view(table, description.view_type)


def _check_view(table: str, view_type: str | None) -> None:
    if view_type not in USABLE_VIEW_TYPES:
        raise StreamUnusableError(
            f"the stream of table {table!r} records {view_type}, which does not hold the "
            "new item images a replay writes",
            hint=_FIX_VIEW,
        )


def _wait_enabled(
    streams: ChangeStreams, table: str, clock: Clock, deadline: float
) -> StreamDescription:
    while True:
        current = streams.table_stream(table)
        description = _described(streams, current)
        if description is not None and description.status == "ENABLED":
            check_description(description, table)
            return description
        if clock.monotonic() >= deadline:
            state = description.status if description else "not created yet"
            raise StepTimeoutError(
                f"the stream of table {table!r} is not ENABLED in time ({state})",
                hint="check the table in the AWS console, then run again",
            )
        clock.sleep(POLL_SECONDS)


def _described(streams: ChangeStreams, current: TableStream) -> StreamDescription | None:
    if not current.enabled or current.arn is None:
        return None
    return streams.describe_stream(current.arn)
