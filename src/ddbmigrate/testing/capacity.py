"""An in-memory ``boost.CapacityPort``: one table's capacity, its GSIs', auto scaling, and
DynamoDB's rule on decreases per day (``boost_limits``), judged against an injected clock."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbmigrate.boost import TABLE, DecreaseRefusedError, ScalingTarget, Units
from ddbmigrate.boost_limits import iso, next_decrease_at, now_of, parse_time
from ddbmigrate.ports import Clock


@dataclass(slots=True)
class FakeCapacityPort:
    """``description`` is DescribeTable's ``Table``; every UpdateTable is applied to it.

    A decrease counts in the resource's ``NumberOfDecreasesToday`` and is refused (as AWS
    answers LimitExceededException) when :func:`boost_limits.next_decrease_at` says so."""

    description: dict[str, Any]
    clock: Clock
    targets: list[ScalingTarget] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def describe(self, table: str) -> dict[str, Any]:
        return copy.deepcopy(self.description)

    def scaling_targets(self, table: str, indexes: Sequence[str]) -> list[ScalingTarget]:
        return list(self.targets)

    def set_scaling(self, target: ScalingTarget) -> None:
        self.calls.append(f"scaling {target.resource_id} {target.min}-{target.max}")
        key = (target.resource_id, target.dimension)
        self.targets = [t for t in self.targets if (t.resource_id, t.dimension) != key]
        self.targets.append(target)

    def set_provisioned(self, table: str, index: str, units: Units) -> None:
        self.calls.append(f"provisioned {index or table} {units.read}/{units.write}")
        block = self._resource(index).setdefault("ProvisionedThroughput", {})
        self._check_decrease(block, units, ("ReadCapacityUnits", "WriteCapacityUnits"))
        block.update(ReadCapacityUnits=units.read, WriteCapacityUnits=units.write)

    def set_on_demand(self, table: str, index: str, units: Units) -> None:
        self.calls.append(f"on-demand {index or table} {units.read}/{units.write}")
        block = self._resource(index).setdefault("OnDemandThroughput", {})
        block.update(MaxReadRequestUnits=units.read, MaxWriteRequestUnits=units.write)

    def _resource(self, index: str) -> dict[str, Any]:
        if index == TABLE:
            return self.description
        indexes = self.description.get("GlobalSecondaryIndexes") or []
        return next(i for i in indexes if i["IndexName"] == index)

    def _check_decrease(self, block: dict[str, Any], units: Units, names: tuple[str, str]) -> None:
        lower = units.read < int(block.get(names[0], 0)) or units.write < int(
            block.get(names[1], 0)
        )
        if not lower:
            return
        now = now_of(self.clock.now_ms())
        if next_decrease_at(block, now) is not None:
            raise DecreaseRefusedError(
                "LimitExceededException: Subscriber limit exceeded: Provisioned throughput "
                "decreases are limited within a given UTC day"
            )
        last = parse_time(block.get("LastDecreaseDateTime"))
        same_day = last is not None and last.date() == now.date()
        today = int(block.get("NumberOfDecreasesToday") or 0) if same_day else 0
        block.update(NumberOfDecreasesToday=today + 1, LastDecreaseDateTime=iso(now))
