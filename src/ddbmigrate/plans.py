"""What makes two commands the same run: one frozen plan type per recorded command.

A plan is written into the run's ledger (``run.json``: ``command`` and ``plan``) and its
lock, and hashed to find the run again. The JSON is the one earlier versions wrote, key
for key, so their runs still resume; fields added since have defaults when read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from ddbmigrate.checkpoint import plan_hash
from ddbmigrate.config import Side
from ddbmigrate.errors import ConfigError

ExportMethod: TypeAlias = Literal["scan", "native"]
"""scan (parallel Scan within the read budget) or native (ExportTableToPointInTime)."""
ImportMethod: TypeAlias = Literal["batch", "native", "bulk"]
"""batch (BatchWriteItem within the write budget), native (ImportTable, new table) or bulk
(StartBulkPutItems, into an existing table)."""
EXPORT_METHODS: tuple[ExportMethod, ...] = ("scan", "native")
IMPORT_METHODS: tuple[ImportMethod, ...] = ("batch", "native", "bulk")


def check_methods(export_method: str, import_method: str) -> None:
    """The one check of ``--export-method`` / ``--import-method``."""
    for flag, value, allowed in (
        ("--export-method", export_method, EXPORT_METHODS),
        ("--import-method", import_method, IMPORT_METHODS),
    ):
        if value not in allowed:
            raise ConfigError(f"{flag} {value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True, kw_only=True, slots=True)
class BulkPlan:
    """``--bulk-max-wru`` and ``--bulk-tier``: part of the plan of a bulk import, so a
    resume sends the operation the parameters it was started with (its ClientToken's)."""

    max_wru: int | None = None
    tier: str = "STANDARD"

    def to_json(self) -> dict[str, object]:
        return {"max_wru": self.max_wru, "tier": self.tier}

    @classmethod
    def from_json(cls, body: object) -> BulkPlan | None:
        if not isinstance(body, Mapping):
            return None
        return cls(max_wru=body.get("max_wru"), tier=str(body.get("tier", "STANDARD")))


def _with_bulk(body: dict[str, object], bulk: BulkPlan | None) -> dict[str, object]:
    """Only a bulk run records ``bulk``: the plans (and hashes) of other runs stay as they
    were written before the method existed."""
    return body if bulk is None else {**body, "bulk": bulk.to_json()}


@dataclass(frozen=True, kw_only=True, slots=True)
class SidePlan:
    """What identifies a side in a run's plan; no secrets (external ids stay out)."""

    profile: str | None = None
    role_arn: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def of(cls, side: Side) -> SidePlan:
        return cls(
            profile=side.profile,
            role_arn=side.role_arn,
            region=side.region,
            endpoint_url=side.endpoint_url,
        )

    @classmethod
    def from_json(cls, body: object) -> SidePlan:
        """A recorded side; anything but an object reads as no side settings."""
        fields = body if isinstance(body, Mapping) else {}
        return cls(**{k: fields.get(k) for k in ("profile", "role_arn", "region", "endpoint_url")})

    def to_json(self) -> dict[str, str | None]:
        return {
            "profile": self.profile,
            "role_arn": self.role_arn,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
        }


class _Plan:
    """Serialisation shared by every plan type."""

    __slots__ = ()
    command: ClassVar[str]

    def to_json(self) -> dict[str, object]:  # pragma: no cover - each plan has its own
        raise NotImplementedError

    def hash(self) -> str:
        """A short stable digest of the plan (the ledger's ``plan_hash``)."""
        return plan_hash(self.to_json())


@dataclass(frozen=True, kw_only=True, slots=True)
class MigratePlan(_Plan):
    """A migrate run: both sides, the staging, the tables, how data moves."""

    command: ClassVar[str] = "migrate"
    source: SidePlan
    dest: SidePlan
    staging: str
    source_table: str
    dest_table: str
    segments: int | None = None
    part_max_items: int = 100_000
    export_method: ExportMethod = "scan"
    import_method: ImportMethod = "batch"
    bulk: BulkPlan | None = None
    live: bool = False
    """A live migration (``--live``): the run stays open for ``sync`` and ``cutover``."""

    def to_json(self) -> dict[str, object]:
        return _with_bulk(self._json(), self.bulk)

    def _json(self) -> dict[str, object]:
        return {
            "source": self.source.to_json(),
            "dest": self.dest.to_json(),
            "staging": self.staging,
            "source_table": self.source_table,
            "dest_table": self.dest_table,
            "segments": self.segments,
            "part_max_items": self.part_max_items,
            "export_method": self.export_method,
            "import_method": self.import_method,
            # Only when set: the plans (and plan hashes) of runs that are not live stay as
            # they were, so their resumes still find them.
            **({"live": True} if self.live else {}),
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> MigratePlan:
        return cls(
            source=SidePlan.from_json(body.get("source")),
            dest=SidePlan.from_json(body.get("dest")),
            staging=str(body.get("staging", "")),
            source_table=body["source_table"],
            dest_table=body["dest_table"],
            segments=body.get("segments"),
            part_max_items=body.get("part_max_items", 100_000),
            export_method=body.get("export_method", "scan"),
            import_method=body.get("import_method", "batch"),
            bulk=BulkPlan.from_json(body.get("bulk")),
            live=bool(body.get("live", False)),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportPlan(_Plan):
    """An export run: the source, its table, the staging and the files' shape."""

    command: ClassVar[str] = "export"
    source: SidePlan
    table: str
    staging: str
    segments: int | None = None
    part_max_items: int = 100_000
    format: str = "native-json"
    compression: str = "gzip"

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source.to_json(),
            "table": self.table,
            "staging": self.staging,
            "segments": self.segments,
            "part_max_items": self.part_max_items,
            "format": self.format,
            "compression": self.compression,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ExportPlan:
        return cls(
            source=SidePlan.from_json(body.get("source")),
            table=body["table"],
            staging=str(body.get("staging", "")),
            segments=body.get("segments"),
            part_max_items=body.get("part_max_items", 100_000),
            format=body.get("format", "native-json"),
            compression=body.get("compression", "gzip"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportPlan(_Plan):
    """An import run: the destination, what SOURCE names, the table, the format found."""

    command: ClassVar[str] = "import"
    dest: SidePlan
    source: str
    table: str
    export_id: str | None = None
    format: str | None = None
    bulk: BulkPlan | None = None
    """Set when the import is by StartBulkPutItems (``--import-method bulk``)."""

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "dest": self.dest.to_json(),
            "source": self.source,
            "table": self.table,
            "export_id": self.export_id,
            "format": self.format,
        }
        return _with_bulk(body, self.bulk)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ImportPlan:
        return cls(
            dest=SidePlan.from_json(body.get("dest")),
            source=body["source"],
            table=body["table"],
            export_id=body.get("export_id"),
            format=body.get("format"),
            bulk=BulkPlan.from_json(body.get("bulk")),
        )


RunPlan: TypeAlias = MigratePlan | ExportPlan | ImportPlan
PLAN_TYPES: dict[str, type[MigratePlan] | type[ExportPlan] | type[ImportPlan]] = {
    t.command: t for t in (MigratePlan, ExportPlan, ImportPlan)
}


def plan_of(command: str, body: Mapping[str, Any]) -> RunPlan:
    """The typed plan a run recorded; a command resume cannot continue is refused."""
    kind = PLAN_TYPES.get(command)
    if kind is None:
        raise ConfigError(f"a {command!r} run is not one resume can continue")
    try:
        return kind.from_json(body)
    except (KeyError, TypeError) as exc:
        raise ConfigError(
            f"the run's record of its {command} plan lacks {exc}",
            hint="start a new run instead",
        ) from exc
