"""The capacity boost: a table's capacity raised for a run and restored exactly afterwards.

Before anything changes, what the table has is recorded in the run's folder
(``ddbmigrate/runs/<run-id>/boost/<side>-<table>.json``): billing mode, provisioned units of
the table and each GSI, their on-demand maximums and their Application Auto Scaling targets
(min/max). Then, for the direction the run uses (write on the destination, read on the
source): provisioned units are raised to the target, auto-scaling min/max raised to cover
it, and an on-demand maximum below the target raised to it. The billing mode is never
switched: AWS allows a switch back only after 24 hours, and a boost must be undone at once.

:func:`boosted` restores at the end, on failure and on Ctrl-C; :func:`restore_pending`
restores what a crashed run left (``resume`` and ``cleanup`` call it). AWS limits decreases
(``ddbmigrate.boost_limits``): a refused one leaves the record *pending* with the time it
becomes possible, and :meth:`Boost.outlook` says before the raise when that will happen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson

from ddbmigrate.boost_limits import HOUR, iso, next_decrease_at, now_of, parse_time
from ddbmigrate.errors import FatalError
from ddbmigrate.ports import Clock, Store

Direction = Literal["read", "write"]
TABLE = ""
"""The resource name of the table itself (GSIs go by their index name)."""
NO_MAXIMUM = -1
"""AWS's spelling of "no on-demand maximum"."""
BOOST_DIR = "boost"


class DecreaseRefusedError(FatalError):
    """AWS refused to lower a capacity now (LimitExceededException: decreases per day)."""


@dataclass(frozen=True, slots=True)
class Units:
    """Read and write units of one resource (capacity units, or request units per second)."""

    read: int
    write: int

    def of(self, direction: Direction) -> int:
        return self.read if direction == "read" else self.write

    def at_least(self, direction: Direction, units: int) -> Units:
        if direction == "read":
            return Units(max(self.read, units), self.write)
        return Units(self.read, max(self.write, units))


@dataclass(frozen=True, slots=True)
class ScalingTarget:
    """One Application Auto Scaling target of the table or a GSI."""

    resource_id: str
    """``table/NAME`` or ``table/NAME/index/INDEX``."""
    dimension: str
    """``dynamodb:table:WriteCapacityUnits``, ``dynamodb:index:ReadCapacityUnits`` ..."""
    min: int
    max: int

    @property
    def direction(self) -> Direction:
        return "read" if self.dimension.endswith("ReadCapacityUnits") else "write"


@dataclass(frozen=True, slots=True)
class CapacityRecord:
    """What a table's capacity is: recorded before a boost, compared at the restore."""

    table: str
    billing_mode: str
    provisioned: dict[str, Units]
    on_demand: dict[str, Units]
    scaling: tuple[ScalingTarget, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "billing_mode": self.billing_mode,
            "provisioned": {k: [v.read, v.write] for k, v in self.provisioned.items()},
            "on_demand": {k: [v.read, v.write] for k, v in self.on_demand.items()},
            "scaling": [[s.resource_id, s.dimension, s.min, s.max] for s in self.scaling],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> CapacityRecord:
        return cls(
            table=str(body["table"]),
            billing_mode=str(body["billing_mode"]),
            provisioned={k: Units(*v) for k, v in body["provisioned"].items()},
            on_demand={k: Units(*v) for k, v in body["on_demand"].items()},
            scaling=tuple(ScalingTarget(*s) for s in body["scaling"]),
        )


class CapacityPort(Protocol):
    """UpdateTable and Application Auto Scaling of one side (``ddbmigrate.aws.boost``)."""

    def describe(self, table: str) -> dict[str, Any]:
        """DescribeTable's ``Table``, timestamps as ISO text."""
        ...

    def scaling_targets(self, table: str, indexes: Sequence[str]) -> list[ScalingTarget]:
        """The scalable targets of the table and its GSIs ``indexes`` (none when it has no
        auto scaling)."""
        ...

    def set_scaling(self, target: ScalingTarget) -> None:
        """RegisterScalableTarget with the target's min and max."""
        ...

    def set_provisioned(self, table: str, index: str, units: Units) -> None:
        """UpdateTable of the table (``index == TABLE``) or a GSI, then wait until ACTIVE;
        DecreaseRefusedError when AWS refuses a decrease."""
        ...

    def set_on_demand(self, table: str, index: str, units: Units) -> None:
        """UpdateTable OnDemandThroughput, as :meth:`set_provisioned`."""
        ...


def read_capacity(
    port: CapacityPort, table: str, description: Mapping[str, Any] | None = None
) -> CapacityRecord:
    """What ``table`` has now (``description``: its DescribeTable, when already read)."""
    if description is None:
        description = port.describe(table)
    mode = (description.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    indexes = {str(i["IndexName"]): i for i in description.get("GlobalSecondaryIndexes") or []}
    resources = {TABLE: description} | indexes
    return CapacityRecord(
        table=table,
        billing_mode=str(mode),
        provisioned=_units(resources, "ProvisionedThroughput", "CapacityUnits")
        if mode == "PROVISIONED"
        else {},
        on_demand=_units(resources, "OnDemandThroughput", "RequestUnits", prefix="Max"),
        scaling=tuple(port.scaling_targets(table, list(indexes))),
    )


def _units(
    resources: Mapping[str, Mapping[str, Any]], field: str, suffix: str, prefix: str = ""
) -> dict[str, Units]:
    found = {}
    for name, resource in resources.items():
        block = resource.get(field)
        if block:
            read = int(block.get(f"{prefix}Read{suffix}", NO_MAXIMUM))
            write = int(block.get(f"{prefix}Write{suffix}", NO_MAXIMUM))
            found[name] = Units(read, write)
    return found


# --- changes ----------------------------------------------------------------------------------

Kind = Literal["scaling", "provisioned", "on_demand"]


@dataclass(frozen=True, slots=True)
class Change:
    """One setting of one resource, from ``before`` to ``after``."""

    kind: Kind
    resource: str
    before: Units | ScalingTarget
    after: Units | ScalingTarget

    def describe(self, table: str) -> str:
        where = f"table {table!r}" + (f" index {self.resource!r}" if self.resource else "")
        return f"{where} {self.kind.replace('_', '-')}: {_text(self.before)} -> {_text(self.after)}"


def _text(value: Units | ScalingTarget) -> str:
    if isinstance(value, ScalingTarget):
        return f"min {value.min} max {value.max} ({value.dimension})"
    return f"read {value.read} write {value.write}"


def raise_changes(record: CapacityRecord, direction: Direction, units: int) -> list[Change]:
    """What a boost to ``units`` changes; auto scaling first so it does not undo the rest."""
    changes = [
        Change(
            "scaling", s.resource_id, s, replace(s, min=max(s.min, units), max=max(s.max, units))
        )
        for s in record.scaling
        if s.direction == direction and (s.min < units or s.max < units)
    ]
    for name, now in record.provisioned.items():
        if now.of(direction) < units:
            changes.append(Change("provisioned", name, now, now.at_least(direction, units)))
    for name, now in record.on_demand.items():
        if NO_MAXIMUM < now.of(direction) < units:
            changes.append(Change("on_demand", name, now, now.at_least(direction, units)))
    return changes


def restore_changes(record: CapacityRecord, current: CapacityRecord) -> list[Change]:
    """What brings ``current`` back to ``record``: auto scaling first (so it does not raise
    again what is lowered), then the units."""
    targets = {(s.resource_id, s.dimension): s for s in current.scaling}
    changes = [
        Change("scaling", s.resource_id, targets[(s.resource_id, s.dimension)], s)
        for s in record.scaling
        if targets.get((s.resource_id, s.dimension), s) != s
    ]
    for kind, wanted, now in (
        ("provisioned", record.provisioned, current.provisioned),
        ("on_demand", record.on_demand, current.on_demand),
    ):
        changes += [
            Change(kind, name, now[name], units)  # type: ignore[arg-type]
            for name, units in wanted.items()
            if name in now and now[name] != units
        ]
    return changes


def apply(port: CapacityPort, table: str, change: Change) -> None:
    after = change.after
    if isinstance(after, ScalingTarget):
        port.set_scaling(after)
    elif change.kind == "provisioned":
        port.set_provisioned(table, change.resource, after)
    else:
        port.set_on_demand(table, change.resource, after)


# --- the journal and the boost ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did."""

    side: str
    table: str
    restored: bool
    not_before: str | None = None
    """When ``restored`` is False: the first time AWS will allow the rest (ISO, UTC)."""
    message: str = ""


@dataclass(frozen=True, slots=True)
class BoostJournal:
    """One table's boost record in the run's folder."""

    store: Store
    run_dir: str
    side: str
    table: str

    @property
    def key(self) -> str:
        digest = hashlib.sha1(self.table.encode(), usedforsecurity=False).hexdigest()[:12]
        return f"{self.run_dir}/{BOOST_DIR}/{self.side}-{digest}.json"

    def load(self) -> dict[str, Any] | None:
        if not self.store.exists(self.key):
            return None
        body = orjson.loads(self.store.get(self.key))
        return body if isinstance(body, dict) else None

    def save(self, record: CapacityRecord, state: str, **extra: Any) -> None:
        body = {"side": self.side, "state": state, "record": record.to_json(), **extra}
        self.store.put(self.key, orjson.dumps(body, option=orjson.OPT_INDENT_2))


@dataclass(slots=True, kw_only=True)
class Boost:
    """Raise one table's capacity for a run; restore exactly what was recorded."""

    port: CapacityPort
    journal: BoostJournal
    clock: Clock

    @classmethod
    def for_ledger(cls, ledger: LedgerLike, port: CapacityPort, *, side: str, table: str) -> Boost:
        """The boost of ``table`` on ``side`` (``source``/``dest``), journaled in the run."""
        journal = BoostJournal(ledger.store, ledger.dir, side, table)
        return cls(port=port, journal=journal, clock=ledger.clock)

    @property
    def table(self) -> str:
        return self.journal.table

    def raise_for_run(self, direction: Direction, units: int) -> list[Change]:
        """Record, then raise; the changes made (none when the table already has enough).

        What the table had is recorded once: a resumed run's table may be boosted already,
        and the restore must go back to what it had before the first raise."""
        current = read_capacity(self.port, self.table)
        record = self._recorded()
        if record is None:
            record = current
            self.journal.save(record, "recorded", at=self.clock.now_iso())
        changes = raise_changes(current, direction, units)
        for change in changes:
            apply(self.port, self.table, change)
        self.journal.save(
            record, "raised", at=self.clock.now_iso(), units=units, direction=direction
        )
        return changes

    def _recorded(self) -> CapacityRecord | None:
        body = self.journal.load()
        if body and body.get("state") != "restored":
            return CapacityRecord.from_json(body["record"])
        return None

    def outlook(self, direction: Direction, units: int) -> list[str]:
        """Before the raise: the resources whose restore AWS will not allow right away."""
        return outlook(self.port, self.table, direction, units, clock=self.clock)

    def restore(self) -> RestoreResult:
        """Put back what was recorded; a refused decrease leaves the record pending."""
        body = self.journal.load()
        if body is None or body.get("state") == "restored":
            return RestoreResult(self.journal.side, self.table, restored=True)
        record = CapacityRecord.from_json(body["record"])
        for change in restore_changes(record, read_capacity(self.port, self.table)):
            try:
                apply(self.port, self.table, change)
            except DecreaseRefusedError as exc:
                return self._pending(record, change, exc)
        self.journal.save(record, "restored", at=self.clock.now_iso())
        return RestoreResult(self.journal.side, self.table, restored=True)

    def _pending(
        self, record: CapacityRecord, change: Change, exc: DecreaseRefusedError
    ) -> RestoreResult:
        now = now_of(self.clock.now_ms())
        throughput = _throughput(self.port.describe(self.table), change.resource)
        # Refused although the quota says it may: AWS knows better; try again in an hour.
        when = next_decrease_at(throughput, now) or now + HOUR
        self.journal.save(
            record, "pending", not_before=iso(when), resource=change.resource, reason=exc.message
        )
        return RestoreResult(
            self.journal.side,
            self.table,
            restored=False,
            not_before=iso(when),
            message=f"{change.describe(self.table)} refused ({exc.message}); "
            f"{_later(self.table, change.resource, when)}",
        )


def outlook(
    port: CapacityPort, table: str, direction: Direction, units: int, *, clock: Clock
) -> list[str]:
    """The resources of ``table`` whose restore after a boost to ``units`` AWS would not
    allow right away, one line each (reads the table only: a plan calls it too)."""
    description = port.describe(table)
    now = now_of(clock.now_ms())
    record = read_capacity(port, table, description)
    raised = {
        c.resource for c in raise_changes(record, direction, units) if c.kind == "provisioned"
    }
    lines = []
    for name in sorted(raised):
        when = next_decrease_at(_throughput(description, name), now)
        if when is not None:
            lines.append(_later(table, name, when))
    return lines


def _throughput(description: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    if name == TABLE:
        return description.get("ProvisionedThroughput") or {}
    for index in description.get("GlobalSecondaryIndexes") or []:
        if index.get("IndexName") == name:
            return index.get("ProvisionedThroughput") or {}
    return {}


def _later(table: str, index: str, when: datetime) -> str:
    where = f"table {table!r}" + (f" index {index!r}" if index else "")
    return (
        f"DynamoDB allows no decrease of {where} before {iso(when)}: the capacity stays "
        "raised until then, recorded in the run; `ddbmigrate resume` or `ddbmigrate cleanup` "
        "restores it after that time"
    )


@dataclass(slots=True)
class BoostRun:
    """What :func:`boosted` did: the changes made, and how the restore went."""

    changes: list[Change]
    result: RestoreResult | None = None
    """Set when the block is left; ``restored`` False says until when the rest waits."""


@contextmanager
def boosted(boost: Boost, direction: Direction, units: int) -> Iterator[BoostRun]:
    """Raised inside the block; restored after it, whether it ends, fails or is interrupted.

    A restore that fails while the block's own error is on its way does not hide that
    error: the journal stays unrestored for :func:`restore_pending`."""
    try:
        run = BoostRun(boost.raise_for_run(direction, units))
    except BaseException:  # a raise that stopped half-way is undone too
        _restore_quietly(boost)
        raise
    try:
        yield run
    except BaseException:
        run.result = _restore_quietly(boost)
        raise
    run.result = boost.restore()


def _restore_quietly(boost: Boost) -> RestoreResult | None:
    try:
        return boost.restore()
    except Exception:  # noqa: BLE001 - the block's error matters more; the journal keeps the rest
        return None


class LedgerLike(Protocol):
    """What :func:`restore_pending` needs of ``checkpoint.Ledger``."""

    store: Store
    dir: str
    clock: Clock


def restore_pending(
    ledger: LedgerLike, ports: Callable[[str], CapacityPort]
) -> list[RestoreResult]:
    """Restore every boost the run recorded and did not restore (after a crash: ``resume``,
    ``cleanup``). ``ports`` gives the CapacityPort of a side (``source``/``dest``). A pending
    restore whose time has not come is reported, not tried."""
    results = []
    for key in ledger.store.list(f"{ledger.dir}/{BOOST_DIR}/"):
        body = orjson.loads(ledger.store.get(key))
        if body.get("state") == "restored":
            continue
        record = CapacityRecord.from_json(body["record"])
        side = str(body["side"])
        results.append(_restore_one(ledger, ports(side), side, record, body))
    return results


def _restore_one(
    ledger: LedgerLike,
    port: CapacityPort,
    side: str,
    record: CapacityRecord,
    body: Mapping[str, Any],
) -> RestoreResult:
    not_before = parse_time(body.get("not_before"))
    if not_before is not None and now_of(ledger.clock.now_ms()) < not_before:
        return RestoreResult(
            side,
            record.table,
            restored=False,
            not_before=iso(not_before),
            message=_later(record.table, str(body.get("resource", TABLE)), not_before),
        )
    journal = BoostJournal(ledger.store, ledger.dir, side, record.table)
    return Boost(port=port, journal=journal, clock=ledger.clock).restore()
