"""Scan pages sized to the capacity budget: a page costs about one second of its segment's share.

DynamoDB fills a Scan page up to 1 MB unless ``Limit`` says fewer items: 128 RCU eventually
consistent, 256 consistent. On a table read at 48 RCU/s that is almost three seconds of the
whole budget in one request, and the table (which banks little unused capacity when busy)
refuses it. So each segment asks for ``Limit = share / units per item`` items, ``share`` being
its part of the budget's current rate (``rate / TotalSegments``: no more than that many
segments read at once) over ``PAGE_SECONDS``. The units per item are learned from the pages
already read (their ``ConsumedCapacity`` over their item count); before the first page
answers, an item is assumed to cost ``ASSUMED_ITEM_UNITS``, an 8 KB item eventually consistent,
so the first page of a small budget is small and the next ones grow to fit. The EMR DynamoDB
connector sizes its pages the same way.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from ddbmigrate.ports import Budget

FULL_PAGE_RCU = 128.0
"""What a 1 MB Scan page costs eventually consistent (twice that consistent)."""
PAGE_SECONDS = 1.0
"""A page costs at most this many seconds of its segment's share of the budget."""
ASSUMED_ITEM_UNITS = 1.0
"""Units per item before any page has answered (8 KB eventually consistent, 4 KB consistent)."""
MIN_ITEM_UNITS = 1.0 / 128
"""Floor of the learned units per item: an endpoint that reports no consumed capacity (0)
would otherwise make every page unlimited."""


@dataclass(frozen=True, slots=True)
class PagePlan:
    """The next page of one segment: its ``Limit`` (None: DynamoDB's 1 MB) and the units to
    reserve for it."""

    limit: int | None
    expected: float


@dataclass(slots=True)
class PageSizer:
    """Chooses the ``Limit`` of one segment's pages from the budget and what pages cost.

    One per segment scan (a thread's own; the lock only guards a shared use).
    """

    total_segments: int
    consistent: bool = False
    ceiling: int | None = None
    """The user's ``Limit``, if any: pages never ask for more."""
    _items: int = 0
    _units: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def item_units(self) -> float:
        """Units one item costs, as learned so far (``ASSUMED_ITEM_UNITS`` before any page)."""
        with self._lock:
            if self._items == 0:
                return ASSUMED_ITEM_UNITS
            return max(MIN_ITEM_UNITS, self._units / self._items)

    def observe(self, items: int, consumed: float) -> None:
        """A page of ``items`` items consumed ``consumed`` units."""
        if items <= 0:
            return  # an empty page says nothing about item size
        with self._lock:
            self._items += items
            self._units += consumed

    def plan(self, budget: Budget, readers: int | None = None) -> PagePlan:
        """The next page's ``Limit`` and reservation under ``budget``'s current rate.

        ``readers``: the most pages the run has in flight now (ADR 22), when fewer than the
        segments; the budget is shared by the pages in flight, not by every segment."""
        full = FULL_PAGE_RCU * (2 if self.consistent else 1)
        rate = budget.rate
        if not math.isfinite(rate):  # no budget: DynamoDB's full pages (or the user's Limit)
            return PagePlan(self.ceiling, full)
        sharing = min(self.total_segments, readers or self.total_segments)
        share = rate / max(1, sharing) * PAGE_SECONDS
        per_item = self.item_units()
        limit = max(1, int(share / per_item))
        if self.ceiling is not None:
            limit = min(limit, self.ceiling)
        # Reserve what the page should cost, never more than a full page: the 1 MB cap wins.
        return PagePlan(limit, min(full, max(0.5, limit * per_item)))
