"""When DynamoDB will let a table's capacity go down again.

DynamoDB quotas (developer guide, "Quotas in Amazon DynamoDB", provisioned throughput
decreases): per table and per GSI, up to 4 decreases at any time in a UTC day, and one more
in each hour without a decrease, so at most 27 a day; the count starts again at 00:00 UTC.
DescribeTable's ``ProvisionedThroughput`` carries ``NumberOfDecreasesToday`` and
``LastDecreaseDateTime`` for that reason. The rule lives here so the plan can say before
a boost when its restore would have to wait, and a refused restore can say until when.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

FREE_DECREASES = 4
"""Decreases allowed at any time of a UTC day."""
MAX_DECREASES = 27
"""4 free ones + 1 per hour-long window without a decrease (23 more)."""
HOUR = timedelta(hours=1)


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp of a DescribeTable answer (``json_safe``), or None."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def next_decrease_at(throughput: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the resource whose ``ProvisionedThroughput`` this is may be decreased: None
    for now, else the first moment AWS will allow it."""
    last = parse_time(throughput.get("LastDecreaseDateTime"))
    today = int(throughput.get("NumberOfDecreasesToday") or 0)
    if last is None or last.date() != now.date():
        return None  # no decrease yet this UTC day: the count starts from 0
    if today < FREE_DECREASES:
        return None
    if today >= MAX_DECREASES:
        return _next_midnight(now)
    if now - last >= HOUR:
        return None
    return min(last + HOUR, _next_midnight(now))


def _next_midnight(now: datetime) -> datetime:
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return start + timedelta(days=1)


def iso(moment: datetime) -> str:
    """``2026-01-01T00:00:00Z``: how the journal writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_of(now_ms: int) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC)
