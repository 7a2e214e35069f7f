"""What a migration will take: capacity units, time at the budgeted rates, and cost.

Unit prices are AWS's us-east-1 list prices (on-demand since the November 2024 cut); a
user in another region or with a discount overrides them (``--price-*``). The plan states
the prices it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

EVENTUAL_READ_BYTES = 8192  # an eventually consistent read unit covers 2 x 4 KB
WRITE_BYTES = 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class Prices:
    """USD unit prices."""

    on_demand_read_per_million: float = 0.125
    """Per million read request units."""
    on_demand_write_per_million: float = 0.625
    """Per million write request units."""
    provisioned_rcu_hour: float = 0.00013
    """Per RCU-hour."""
    provisioned_wcu_hour: float = 0.00065
    """Per WCU-hour."""

    def line(self) -> str:
        return (
            f"prices (USD): on-demand ${self.on_demand_read_per_million}/M reads, "
            f"${self.on_demand_write_per_million}/M writes; provisioned "
            f"${self.provisioned_rcu_hour}/RCU-h, ${self.provisioned_wcu_hour}/WCU-h"
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """One table's migration in numbers."""

    items: int
    bytes: int
    read_units: float
    """Export scan plus, when validating, one scan of each table."""
    write_units: float
    read_rate: float
    write_rate: float
    seconds: float
    on_demand_usd: float
    provisioned_usd: float

    def lines(self, prices: Prices) -> list[str]:
        return [
            f"capacity       ~{self.read_units:,.0f} read units at {self.read_rate:,.0f}/s, "
            f"~{self.write_units:,.0f} write units at {self.write_rate:,.0f}/s",
            f"duration       ~{_duration(self.seconds)} (DynamoDB's limit at these shares)",
            f"request cost   ~${self.on_demand_usd:,.2f} on-demand, "
            f"~${self.provisioned_usd:,.2f} provisioned capacity used",
            prices.line(),
        ]


def estimate(
    description: dict[str, Any],
    *,
    read_rate: float,
    write_rate: float,
    validate: bool,
    prices: Prices,
) -> Estimate:
    """From DescribeTable's (6-hourly) ItemCount and TableSizeBytes and the budgeted rates."""
    items = int(description.get("ItemCount", 0))
    size = int(description.get("TableSizeBytes", 0))
    scan_units = size / EVENTUAL_READ_BYTES
    read_units = scan_units * (3 if validate else 1)
    average = size / items if items else 0
    write_units = items * max(1, math.ceil(average / WRITE_BYTES)) if items else 0.0
    seconds = scan_units / read_rate + write_units / write_rate
    if validate:
        seconds += 2 * scan_units / read_rate
    on_demand = (
        read_units / 1e6 * prices.on_demand_read_per_million
        + write_units / 1e6 * prices.on_demand_write_per_million
    )
    provisioned = (
        read_units / 3600 * prices.provisioned_rcu_hour
        + write_units / 3600 * prices.provisioned_wcu_hour
    )
    return Estimate(
        items=items,
        bytes=size,
        read_units=read_units,
        write_units=float(write_units),
        read_rate=read_rate,
        write_rate=write_rate,
        seconds=seconds,
        on_demand_usd=on_demand,
        provisioned_usd=provisioned,
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
