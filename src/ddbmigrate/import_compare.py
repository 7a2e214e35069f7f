"""``plan``'s comparison of the three import methods, and what a capacity boost changes.

Figures come from the table's size (DescribeTable, or the plan's measured size) and the
write rate the run would have; prices are :class:`ImportPrices` (README, "Import methods
compared", says which are AWS's list prices and which are assumed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ddbmigrate.estimate import WRITE_BYTES

GB = 1024**3
HOUR = 3600.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportPrices:
    """USD prices of the three methods (us-east-1 list prices where AWS publishes one)."""

    write_per_million: float = 0.625
    """On-demand write request units, per million (BatchWriteItem on an on-demand table)."""
    wcu_hour: float = 0.00065
    """Provisioned WCU-hour (BatchWriteItem on a provisioned table; a boost's extra units)."""
    bulk_write_per_million: float = 0.625
    """StartBulkPutItems, per million write request units: ASSUMED equal to on-demand writes
    (AWS publishes no separate price in the API model; check the pricing page)."""
    native_per_gb: float = 0.15
    """ImportTable, per GB of uncompressed source data (AWS's list price)."""
    bulk_rate: int = 1024
    """Write request units per second assumed for a bulk operation without --bulk-max-wru
    (the least MaxWriteRequestUnits AWS accepts; AWS may go faster)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TableFigures:
    """What the comparison needs to know of the table and the run."""

    items: int
    bytes: int
    batch_rate: float
    """Write units per second BatchWriteItem would get (the run's write budget)."""
    provisioned: bool
    """Whether the destination bills by provisioned capacity."""
    bulk_max_wru: int | None = None

    @classmethod
    def of(
        cls,
        description: Mapping[str, Any],
        *,
        batch_rate: float,
        bulk_max_wru: int | None = None,
    ) -> TableFigures:
        mode = (description.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
        return cls(
            items=int(description.get("ItemCount") or 0),
            bytes=int(description.get("TableSizeBytes") or 0),
            batch_rate=batch_rate,
            provisioned=mode == "PROVISIONED",
            bulk_max_wru=bulk_max_wru,
        )

    @property
    def write_units(self) -> int:
        """One write unit per started KB of each item (the average item, as estimate.py)."""
        if not self.items:
            return 0
        return self.items * max(1, math.ceil(self.bytes / self.items / WRITE_BYTES))


def method_lines(figures: TableFigures, prices: ImportPrices) -> list[str]:
    """One line per method: how long the writes take and what they cost."""
    units = figures.write_units
    batch_seconds = units / figures.batch_rate if figures.batch_rate > 0 else math.inf
    if figures.provisioned:
        batch_cost = batch_seconds / HOUR * figures.batch_rate * prices.wcu_hour
        batch_basis = "provisioned WCU-hours at that rate"
    else:
        batch_cost = units / 1e6 * prices.write_per_million
        batch_basis = "on-demand write units"
    bulk_rate = figures.bulk_max_wru or prices.bulk_rate
    bulk_cost = units / 1e6 * prices.bulk_write_per_million
    native_cost = figures.bytes / GB * prices.native_per_gb
    return [
        f"import batch   ~{_duration(batch_seconds)} at {figures.batch_rate:,.0f} WCU/s, "
        f"~${batch_cost:,.2f} ({batch_basis})",
        f"import bulk    ~{_duration(units / bulk_rate)} at {bulk_rate:,} WRU/s"
        f"{'' if figures.bulk_max_wru else ' (assumed; --bulk-max-wru sets it)'}, "
        f"~${bulk_cost:,.2f} (assumed ${prices.bulk_write_per_million}/M write request units)",
        f"import native  new table only, AWS's own pace, ~${native_cost:,.2f} "
        f"(${prices.native_per_gb}/GB of uncompressed data)",
    ]


def boost_lines(
    figures: TableFigures, *, current_wcu: int | None, boost_to: int, prices: ImportPrices
) -> list[str]:
    """What ``--boost boost_to`` changes: the batch import's duration at the raised rate and
    the extra provisioned units paid while it runs (on-demand: only the maximum is raised)."""
    units = figures.write_units
    if not figures.provisioned or current_wcu is None:
        return [
            f"boost          on-demand maximum raised to {boost_to:,} WRU/s for the run "
            "(no charge for the maximum itself; writes cost as above)"
        ]
    if boost_to <= current_wcu:
        return [f"boost          the table has {current_wcu:,} WCU already: nothing to raise"]
    seconds = units / boost_to
    extra = (boost_to - current_wcu) * max(seconds, HOUR) / HOUR * prices.wcu_hour
    return [
        f"boost          {current_wcu:,} -> {boost_to:,} WCU for the run: batch import "
        f"~{_duration(seconds)}, ~${extra:,.2f} for the extra units "
        "(at least one hour billed), restored afterwards"
    ]


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "unbounded"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
