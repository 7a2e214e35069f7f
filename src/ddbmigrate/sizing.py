"""A table's size when DescribeTable does not know it: measured from a bounded sample.

DescribeTable's ItemCount and TableSizeBytes are refreshed about every six hours, so a table
filled in the last hours (and every table of moto, which keeps both at 0) reports 0 bytes
and a plan of "~0 bytes, ~0 s". Then the plan reads a little of the table itself: a Scan of
``SAMPLE_ITEMS`` items, and when there is more, the items of one parallel-scan segment out of
ever more segments until one segment is read within ``PAGE_BUDGET`` pages; that segment's
items and bytes times the segment count estimate the table (DynamoDB spreads items across
segments by key hash, evenly for any table big enough to need the estimate). Every read is
bounded: at most a few pages per step, a handful of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ddbmigrate.items import item_size
from ddbmigrate.model import Segment
from ddbmigrate.ports import TableReader

SAMPLE_ITEMS = 100
PAGE_BUDGET = 8
"""Scan pages (1 MB each at most) read per segment count tried."""
SEGMENT_STEPS = (1, 16, 256, 4096, 65536, 1_000_000)
"""Segment counts tried in turn; 1,000,000 is DynamoDB's most TotalSegments."""
DESCRIBED = "DescribeTable's estimate"
MEASURED = "estimated from a Scan of every item: DescribeTable reports 0"
SAMPLED = "estimated from a sample: DescribeTable reports 0"


@dataclass(frozen=True, slots=True)
class TableSize:
    """Items and bytes of a table, and how they were found (words for the plan)."""

    items: int
    bytes: int
    basis: str


def table_size(description: dict[str, Any], reader: TableReader) -> TableSize:
    """DescribeTable's figures, unless they say 0 bytes: then figures read from the table."""
    described = TableSize(
        items=int(description.get("ItemCount", 0)),
        bytes=int(description.get("TableSizeBytes", 0)),
        basis=DESCRIBED,
    )
    if described.bytes > 0:
        return described
    return sample_size(reader) or described


def sample_size(reader: TableReader) -> TableSize | None:
    """The table's size from a bounded sample; None when the table is empty."""
    first = reader.scan(segment=Segment(0, 1), limit=SAMPLE_ITEMS)
    if not first.items and first.last_key is None:
        return None
    sample = (len(first.items), sum(item_size(item) for item in first.items))
    if first.last_key is None:
        return TableSize(items=sample[0], bytes=sample[1], basis=MEASURED)
    for total in SEGMENT_STEPS:
        counted = _read_segment(reader, Segment(0, total))
        if counted is not None and counted[0] > 0:
            basis = MEASURED if total == 1 else SAMPLED
            return TableSize(items=counted[0] * total, bytes=counted[1] * total, basis=basis)
    return None  # pragma: no cover - only a table over PAGE_BUDGET MB x 1,000,000


def _read_segment(reader: TableReader, segment: Segment) -> tuple[int, int] | None:
    """Items and bytes of ``segment``, or None when it has more than ``PAGE_BUDGET`` pages."""
    items = size = 0
    start: dict[str, Any] | None = None
    for _ in range(PAGE_BUDGET):
        page = reader.scan(segment=segment, start_key=start)
        items += len(page.items)
        size += sum(item_size(item) for item in page.items)
        start = page.last_key
        if start is None:
            return items, size
    return None
