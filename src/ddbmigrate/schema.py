"""Recreate a table from its description: pure functions from TableSchema to CreateTable.

Copied: keys, attribute definitions, GSIs and LSIs (keys, projections, capacity), billing
mode with provisioned or on-demand maximum throughput, SSE, stream specification, table
class, deletion protection and tags (all in the CreateTable call), then TTL and PITR (which
CreateTable cannot set). Not copied, on purpose (docs/adr/0004-schema-copy.md): resource
policies and customer-managed KMS keys (both name source-account ARNs), warm throughput
(paid pre-warming the user must choose), auto scaling policies (Application Auto Scaling).
The settings other than keys, indexes and billing are optional and best effort
(``ddbmigrate.settings``, docs/adr/0021-best-effort-settings.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ddbmigrate.errors import CapacityGuardError, SchemaMismatchError
from ddbmigrate.model import KeySchema
from ddbmigrate.ports import TableAdmin, TableSchema
from ddbmigrate.settings import ALL, LABELS


def billing_mode(description: dict[str, Any]) -> str:
    """PAY_PER_REQUEST or PROVISIONED; tables created before on-demand omit the summary."""
    summary = description.get("BillingModeSummary") or {}
    return str(summary.get("BillingMode", "PROVISIONED"))


def _throughput(desc: dict[str, Any]) -> dict[str, int]:
    pt = desc.get("ProvisionedThroughput") or {}
    # Both must be >= 1 for CreateTable; a description can report 0 for on-demand tables.
    return {
        "ReadCapacityUnits": max(1, int(pt.get("ReadCapacityUnits", 1))),
        "WriteCapacityUnits": max(1, int(pt.get("WriteCapacityUnits", 1))),
    }


def _on_demand(desc: dict[str, Any]) -> dict[str, int] | None:
    """OnDemandThroughput limits worth copying; -1 and absent both mean 'no limit'."""
    odt = desc.get("OnDemandThroughput") or {}
    kept = {k: int(v) for k, v in odt.items() if int(v) > 0}
    return kept or None


def _gsi(index: dict[str, Any], provisioned: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index["Projection"],
    }
    if provisioned:
        out["ProvisionedThroughput"] = _throughput(index)
    elif limits := _on_demand(index):
        out["OnDemandThroughput"] = limits
    return out


def _lsi(index: dict[str, Any]) -> dict[str, Any]:
    return {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}


def _sse(description: dict[str, Any]) -> dict[str, Any] | None:
    sse = description.get("SSEDescription") or {}
    if sse.get("Status") not in ("ENABLED", "UPDATING") or sse.get("SSEType") != "KMS":
        return None  # AWS-owned key: the default, nothing to ask for
    # The source's key ARN belongs to the source account; the destination uses its own
    # AWS-managed key unless the user names one (dest_kms_key_id).
    return {"Enabled": True, "SSEType": "KMS"}


def create_table_request(
    schema: TableSchema, *, table_name: str, dest_kms_key_id: str | None = None
) -> dict[str, Any]:
    """The CreateTable request that recreates ``schema`` as ``table_name``."""
    desc = schema.description
    mode = billing_mode(desc)
    provisioned = mode == "PROVISIONED"
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": desc["KeySchema"],
        "AttributeDefinitions": desc["AttributeDefinitions"],
        "BillingMode": mode,
    }
    if provisioned:
        request["ProvisionedThroughput"] = _throughput(desc)
    elif limits := _on_demand(desc):
        request["OnDemandThroughput"] = limits
    if gsis := desc.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [_gsi(i, provisioned) for i in gsis]
    if lsis := desc.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [_lsi(i) for i in lsis]
    sse = _sse(desc)
    if dest_kms_key_id:
        sse = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": dest_kms_key_id}
    if sse:
        request["SSESpecification"] = sse
    stream = desc.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    if table_class := (desc.get("TableClassSummary") or {}).get("TableClass"):
        request["TableClass"] = table_class
    if desc.get("DeletionProtectionEnabled"):
        request["DeletionProtectionEnabled"] = True
    if schema.tags:
        request["Tags"] = list(schema.tags)
    return request


def check_compatible(*, source: TableSchema, dest: TableSchema, dest_flag: str) -> None:
    """Refuse a destination whose primary key differs from the source's."""
    want = KeySchema.from_description(source.description)
    have = KeySchema.from_description(dest.description)
    if want != have:
        raise SchemaMismatchError(
            f"destination table {dest.name!r} has key {have} but the source has {want}",
            hint=f"pass {dest_flag} NEW to create a new table, or delete {dest.name!r} first",
        )


def schema_differences(source: TableSchema, dest: TableSchema) -> list[str]:
    """Human notes on what an existing destination lacks (indexes, TTL, ...); not errors."""
    notes: list[str] = []
    src_idx = {i["IndexName"] for i in source.description.get("GlobalSecondaryIndexes") or []}
    dst_idx = {i["IndexName"] for i in dest.description.get("GlobalSecondaryIndexes") or []}
    notes += [f"GSI {name!r} is missing" for name in sorted(src_idx - dst_idx)]
    src_lsi = {i["IndexName"] for i in source.description.get("LocalSecondaryIndexes") or []}
    dst_lsi = {i["IndexName"] for i in dest.description.get("LocalSecondaryIndexes") or []}
    notes += [f"LSI {name!r} is missing" for name in sorted(src_lsi - dst_lsi)]
    if source.ttl_attribute and source.ttl_attribute != dest.ttl_attribute:
        notes.append(f"TTL on {source.ttl_attribute!r} is not enabled")
    if source.pitr_enabled and not dest.pitr_enabled:
        notes.append("point-in-time recovery is not enabled")
    return notes


@dataclass(frozen=True, slots=True)
class TableTarget:
    """The table a run creates: its CreateTable request, and what CreateTable cannot set.

    Recorded in the run ledger before CreateTable, so a resume finishes this table (not
    whatever the source looks like by then) and notices when the source changed."""

    request: dict[str, Any]
    ttl_attribute: str | None = None
    pitr: bool = False

    @classmethod
    def of(
        cls,
        source: TableSchema,
        *,
        table_name: str,
        dest_kms_key_id: str | None = None,
        settings: frozenset[str] = ALL,
    ) -> TableTarget:
        """``settings``: the optional settings to copy (``ddbmigrate.settings``)."""
        request = create_table_request(
            source, table_name=table_name, dest_kms_key_id=dest_kms_key_id
        )
        for name, field_name in _REQUEST_FIELDS.items():
            # A KMS key the user named is asked for, not copied: it stays.
            if name not in settings and not (name == "sse" and dest_kms_key_id):
                request.pop(field_name, None)
        ttl = source.ttl_attribute if "ttl" in settings else None
        return cls(request, ttl, source.pitr_enabled and "pitr" in settings)

    def optional_settings(self) -> dict[str, str]:
        """The optional settings this target asks for: name -> label."""
        found = {n: LABELS[n] for n, f in _REQUEST_FIELDS.items() if self.request.get(f)}
        if self.ttl_attribute:
            found["ttl"] = f"TTL on {self.ttl_attribute!r}"
        if self.pitr:
            found["pitr"] = LABELS["pitr"]
        return found

    @property
    def name(self) -> str:
        return str(self.request["TableName"])

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request, "ttl_attribute": self.ttl_attribute, "pitr": self.pitr}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TableTarget:
        return cls(dict(body["request"]), body.get("ttl_attribute"), bool(body.get("pitr")))


_REQUEST_FIELDS = {
    "stream": "StreamSpecification",
    "table-class": "TableClass",
    "deletion-protection": "DeletionProtectionEnabled",
    "tags": "Tags",
    "sse": "SSESpecification",
}
"""Optional settings CreateTable sets: name -> request field."""
_CAPACITY_FIELDS = ("ProvisionedThroughput", "OnDemandThroughput")


def _without_capacity(value: Any) -> Any:
    """A request with its capacity numbers taken out, recursively (indexes have them too)."""
    if isinstance(value, dict):
        return {k: _without_capacity(v) for k, v in value.items() if k not in _CAPACITY_FIELDS}
    if isinstance(value, list):
        return [_without_capacity(v) for v in value]
    return value


def target_changes(recorded: TableTarget, now: TableTarget) -> list[str]:
    """What differs between two targets, by name. Capacity numbers are left out: auto
    scaling moves a live source's capacity, and the recorded numbers are the ones used."""
    was, new = _without_capacity(recorded.request), _without_capacity(now.request)
    changed = sorted(k for k in set(was) | set(new) if was.get(k) != new.get(k))
    if recorded.ttl_attribute != now.ttl_attribute:
        changed.append("TTL")
    if recorded.pitr != now.pitr:
        changed.append("point-in-time recovery")
    return changed


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting an existing table lacks, and the admin call that applies it."""

    label: str
    """For messages: ``TTL on 'expires'``, ``GSI 'by-city'`` ..."""
    apply: Callable[[TableAdmin, str], None]
    """Applies it to the named table."""
    updates_table: bool = False
    """UpdateTable: the table is UPDATING afterwards, and must be waited for."""
    setting: str | None = None
    """The optional setting (``ddbmigrate.settings``) it is, best effort; None for an index."""
    operation: str = "UpdateTable"
    """The call that applies it, for the message when the endpoint lacks it."""


def missing_settings(target: TableTarget, table: TableSchema) -> list[Setting]:
    """What ``table`` lacks of ``target``: indexes first (they take longest), then stream,
    table class, deletion protection, tags, TTL and PITR. Refuses what cannot be added to a
    table after CreateTable (an LSI)."""
    request, desc = target.request, table.description
    _check_lsis(request, desc, table.name)
    found: list[Setting] = []
    have_gsis = {i["IndexName"] for i in desc.get("GlobalSecondaryIndexes") or []}
    for index in request.get("GlobalSecondaryIndexes") or []:
        if index["IndexName"] not in have_gsis:
            found.append(_gsi_setting(index, request["AttributeDefinitions"]))
    found += _table_settings(request, desc)
    have_tags = {(t["Key"], t["Value"]) for t in table.tags}
    if lacking := [t for t in request.get("Tags") or [] if (t["Key"], t["Value"]) not in have_tags]:
        found.append(
            Setting(
                f"{len(lacking)} tags",
                lambda a, n: a.tag_table(n, lacking),
                setting="tags",
                operation="TagResource",
            )
        )
    if (attr := target.ttl_attribute) and table.ttl_attribute != attr:
        found.append(
            Setting(
                f"TTL on {attr!r}",
                lambda a, n: a.enable_ttl(n, attr),
                setting="ttl",
                operation="UpdateTimeToLive",
            )
        )
    if target.pitr and not table.pitr_enabled:
        found.append(
            Setting(
                "point-in-time recovery",
                lambda a, n: a.enable_pitr(n),
                setting="pitr",
                operation="UpdateContinuousBackups",
            )
        )
    return found


def ignored_by_create(target: TableTarget, table: TableSchema) -> dict[str, str]:
    """Optional settings that CreateTable was sent (``table`` was made from ``target``'s
    request) and ``table`` does not show: setting name -> request field. The endpoint took
    the field and ignored it, so it does not implement that setting; dynalite does this with
    StreamSpecification, TableClass and DeletionProtectionEnabled, and answers the UpdateTable
    that would set them with a ValidationException."""
    return {
        str(s.setting): _REQUEST_FIELDS[str(s.setting)]
        for s in _table_settings(target.request, table.description)
    }


def _check_lsis(request: dict[str, Any], desc: dict[str, Any], table: str) -> None:
    have = {i["IndexName"] for i in desc.get("LocalSecondaryIndexes") or []}
    lacking = [i["IndexName"] for i in request.get("LocalSecondaryIndexes") or []]
    if missing := sorted(set(lacking) - have):
        raise SchemaMismatchError(
            f"table {table!r} lacks the local secondary index(es) {', '.join(missing)}, "
            "which only CreateTable can add",
            hint=f"delete table {table!r} and run the same command again to create it anew",
        )


def _gsi_setting(index: dict[str, Any], definitions: list[dict[str, str]]) -> Setting:
    names = {k["AttributeName"] for k in index["KeySchema"]}
    attributes = [d for d in definitions if d["AttributeName"] in names]
    return Setting(
        f"GSI {index['IndexName']!r}",
        lambda a, n: a.add_gsi(n, index, attributes),
        updates_table=True,
    )


def _table_settings(request: dict[str, Any], desc: dict[str, Any]) -> list[Setting]:
    found: list[Setting] = []
    stream = request.get("StreamSpecification") or {}
    if stream.get("StreamEnabled") and not (desc.get("StreamSpecification") or {}).get(
        "StreamEnabled"
    ):
        view = str(stream["StreamViewType"])
        found.append(
            Setting(
                f"stream {view}",
                lambda a, n: a.enable_stream(n, view),
                updates_table=True,
                setting="stream",
            )
        )
    want_class = request.get("TableClass")
    have_class = (desc.get("TableClassSummary") or {}).get("TableClass", "STANDARD")
    if want_class and want_class != have_class:
        found.append(
            Setting(
                f"table class {want_class}",
                lambda a, n: a.set_table_class(n, str(want_class)),
                updates_table=True,
                setting="table-class",
            )
        )
    if request.get("DeletionProtectionEnabled") and not desc.get("DeletionProtectionEnabled"):
        found.append(
            Setting(
                "deletion protection",
                lambda a, n: a.set_deletion_protection(n, on=True),
                updates_table=True,
                setting="deletion-protection",
            )
        )
    return found


def summary_lines(target: TableTarget) -> list[str]:
    """The table about to be created, in a few readable lines (printed before CreateTable)."""
    request = target.request
    lines = [
        f"table to create  {target.name!r}: key {_key_text(request['KeySchema'], request)}, "
        f"{_capacity_text(request)}"
    ]
    for index in request.get("GlobalSecondaryIndexes") or []:
        lines.append(
            f"  GSI {index['IndexName']!r}: key {_key_text(index['KeySchema'], request)}, "
            f"projection {index['Projection'].get('ProjectionType', 'ALL')}"
            + (f", {_capacity_text(index)}" if _capacity_text(index) != "on-demand" else "")
        )
    for index in request.get("LocalSecondaryIndexes") or []:
        lines.append(f"  LSI {index['IndexName']!r}: key {_key_text(index['KeySchema'], request)}")
    lines.append(f"  settings: {', '.join(_settings_text(target)) or 'none'}")
    return lines


def _key_text(key_schema: list[dict[str, str]], request: dict[str, Any]) -> str:
    types = {d["AttributeName"]: d["AttributeType"] for d in request["AttributeDefinitions"]}
    return ", ".join(
        f"{k['AttributeName']}:{types.get(k['AttributeName'], '?')}" for k in key_schema
    )


def _capacity_text(part: dict[str, Any]) -> str:
    if pt := part.get("ProvisionedThroughput"):
        return f"provisioned {pt['ReadCapacityUnits']:,} RCU / {pt['WriteCapacityUnits']:,} WCU"
    if odt := part.get("OnDemandThroughput"):
        caps = ", ".join(f"{k} {v:,}" for k, v in sorted(odt.items()))
        return f"on-demand ({caps})"
    return "on-demand"


def _settings_text(target: TableTarget) -> list[str]:
    request = target.request
    shown: list[str] = []
    if stream := (request.get("StreamSpecification") or {}).get("StreamViewType"):
        shown.append(f"stream {stream}")
    if target.ttl_attribute:
        shown.append(f"TTL on {target.ttl_attribute!r}")
    if target.pitr:
        shown.append("point-in-time recovery")
    if request.get("DeletionProtectionEnabled"):
        shown.append("deletion protection")
    if table_class := request.get("TableClass"):
        shown.append(f"class {table_class}")
    if request.get("SSESpecification"):
        shown.append("SSE KMS")
    if tags := request.get("Tags"):
        shown.append(
            f"{len(tags)} tags ("
            + ", ".join(f"{t['Key']}={t['Value']}" for t in tags[:5])
            + (", ..." if len(tags) > 5 else "")
            + ")"
        )
    return shown


UNVERIFIED_CEILING = {"ReadCapacityUnits": 12_000, "WriteCapacityUnits": 4_000}
"""The most provisioned capacity (per table or index) created from a table file no
checksum vouches for: what a new on-demand table serves without asking (AWS's initial
on-demand throughput). Above it needs ``--allow-unverified-capacity``."""


def capacity_above(request: dict[str, Any], ceiling: Mapping[str, int]) -> list[str]:
    """The provisioned capacity of ``request`` (table and each GSI) above ``ceiling``."""
    parts = [
        ("table", request),
        *((f"GSI {i['IndexName']!r}", i) for i in request.get("GlobalSecondaryIndexes") or []),
    ]
    above: list[str] = []
    for label, part in parts:
        pt = part.get("ProvisionedThroughput") or {}
        for field, limit in ceiling.items():
            if int(pt.get(field, 0)) > limit:
                unit = "RCU" if field.startswith("Read") else "WCU"
                above.append(f"{label} {int(pt[field]):,} {unit} (over {limit:,})")
    return above


ALLOW_CAPACITY_FLAG = "--allow-unverified-capacity"


def check_capacity(target: TableTarget, *, checked: bool, allowed: bool, table_file: str) -> None:
    """Refuse provisioned capacity a table file asks for when no checksum vouches for the file
    and the capacity is above ``UNVERIFIED_CEILING`` (unless ``allowed``). A checked file is
    the source's own record: its capacity is created as recorded."""
    if checked or allowed:
        return
    if above := capacity_above(target.request, UNVERIFIED_CEILING):
        raise CapacityGuardError(
            f"{table_file} is not covered by the export's checksums (an export by an older "
            f"ddbmigrate) and asks for provisioned capacity of {', '.join(above)}",
            hint=f"check the file; pass {ALLOW_CAPACITY_FLAG} to create table "
            f"{target.name!r} as it says, or create the table yourself and import with "
            "--into-existing",
        )
