"""Recreate a table from its description: pure functions from TableSchema to CreateTable.

Copied: keys, attribute definitions, GSIs and LSIs (keys, projections, capacity), billing
mode with provisioned or on-demand maximum throughput, SSE, stream specification, table
class, deletion protection and tags (all in the CreateTable call), then TTL and PITR (which
CreateTable cannot set). Not copied, on purpose (docs/adr/0004-schema-copy.md): resource
policies and customer-managed KMS keys (both name source-account ARNs), warm throughput
(paid pre-warming the user must choose), auto scaling policies (Application Auto Scaling).
"""

from __future__ import annotations

from typing import Any

from ddbmigrate.errors import SchemaMismatchError
from ddbmigrate.model import KeySchema
from ddbmigrate.ports import TableSchema


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
