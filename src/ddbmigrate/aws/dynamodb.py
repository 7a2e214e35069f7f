"""DynamoDB behind the ports: data plane on the wire client, control plane on boto3."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ddbmigrate.aws.errors import translate
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import (
    AccessDeniedError,
    DdbMigrateError,
    FatalError,
    NotFoundError,
    TransientError,
    UnsupportedError,
)
from ddbmigrate.model import Item, Segment
from ddbmigrate.ports import Clock, ScanPage, TableSchema, WriteRequest, WriteResult

TAGS_PER_CALL = 50  # TagResource's limit
POLL_SECONDS = 1.5


class DynamoTableReader:
    """``ports.TableReader`` on the lean wire client."""

    def __init__(self, wire: WireClient, table: str) -> None:
        self._wire = wire
        self._table = table

    @property
    def table_name(self) -> str:
        return self._table

    def scan(
        self,
        *,
        segment: Segment,
        start_key: Item | None = None,
        limit: int | None = None,
        consistent: bool = False,
    ) -> ScanPage:
        """One Scan call; the items come back exactly as DynamoDB sent them."""
        body = scan_request(self._table, segment, start_key, limit=limit, consistent=consistent)
        what = _table_what(self._wire, self._table)
        response = self._wire.call("Scan", body, what=what)
        items = response.get("Items")
        if not isinstance(items, list):
            # DynamoDB always sends Items, even empty; without it, taking this for the end
            # of the segment would lose the rest of it.
            raise TransientError(f"{what}: Scan response has no Items list: {str(response)[:200]}")
        consumed = response.get("ConsumedCapacity") or {}
        return ScanPage(
            items=items,
            last_key=response.get("LastEvaluatedKey"),
            consumed=float(consumed.get("CapacityUnits", 0.0)),
        )


def scan_request(
    table: str, segment: Segment, start_key: Item | None, *, limit: int | None, consistent: bool
) -> dict[str, Any]:
    """The Scan request of one page of one segment (both data planes send it)."""
    body: dict[str, Any] = {"TableName": table, "ReturnConsumedCapacity": "TOTAL"}
    if segment.total > 1:
        body["Segment"] = segment.index
        body["TotalSegments"] = segment.total
    if start_key is not None:
        body["ExclusiveStartKey"] = start_key
    if limit is not None:
        body["Limit"] = limit
    if consistent:
        body["ConsistentRead"] = True
    return body


class DynamoTableWriter:
    """``ports.TableWriter`` on the lean wire client."""

    def __init__(self, wire: WireClient, table: str) -> None:
        self._wire = wire
        self._table = table

    @property
    def table_name(self) -> str:
        return self._table

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        """One BatchWriteItem; a ValidationException raises RejectedItemError."""
        body = {"RequestItems": {self._table: requests}, "ReturnConsumedCapacity": "TOTAL"}
        what = _table_what(self._wire, self._table)
        response = self._wire.call("BatchWriteItem", body, what=what, rejected=True)
        unprocessed = (response.get("UnprocessedItems") or {}).get(self._table, [])
        consumed = sum(
            float(entry.get("CapacityUnits", 0.0)) for entry in response.get("ConsumedCapacity", [])
        )
        return WriteResult(unprocessed=unprocessed, consumed=consumed)


class DynamoAdmin:
    """``ports.TableAdmin`` on the boto3 ``dynamodb`` client of one side."""

    def __init__(self, session: SideSession, *, clock: Clock | None = None) -> None:
        self._session = session
        self._clock: Clock = clock or SystemClock()

    def list_tables(self) -> list[str]:
        """Every table name of this account and region (ListTables, all pages)."""
        names: list[str] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self._call("list_tables", "the tables of this account", **kwargs)
            names += page.get("TableNames", [])
            if not page.get("LastEvaluatedTableName"):
                return names
            kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]

    def read_schema(self, table: str) -> TableSchema | None:
        """DescribeTable plus TTL, tags and PITR; None when the table does not exist."""
        try:
            description = self._describe(table)
        except NotFoundError:
            return None
        unread: dict[str, tuple[str, str]] = {}
        arn = description["TableArn"]
        reads: list[tuple[str, str, Callable[[], Any]]] = [
            ("ttl", "DescribeTimeToLive", lambda: self._ttl_attribute(table)),
            ("tags", "ListTagsOfResource", lambda: self._tags(table, arn)),
            ("pitr", "DescribeContinuousBackups", lambda: self._pitr_enabled(table)),
        ]
        found: dict[str, Any] = {"ttl": None, "tags": [], "pitr": False}
        for setting, operation, read in reads:
            # Optional settings: an endpoint without the call, or a role denied it, leaves
            # the setting unread (and the run says so) instead of stopping it.
            try:
                found[setting] = read()
            except (UnsupportedError, AccessDeniedError) as exc:
                kind = "denied" if isinstance(exc, AccessDeniedError) else "unsupported"
                unread[setting] = (kind, operation)
        return TableSchema(
            description=description,
            ttl_attribute=found["ttl"],
            tags=found["tags"],
            pitr_enabled=found["pitr"],
            unread=unread,
        )

    def create_table(self, request: dict[str, Any]) -> None:
        """CreateTable with a ready request; returns as soon as AWS accepted it.

        ResourceInUseException is not an error here: when the answer to our own CreateTable
        is lost, botocore's retry finds the table we created. The caller checks the table it
        finds (``ddbmigrate.pipeline.ensure_table``).
        """
        client = self._session.client("dynamodb")
        try:
            client.create_table(**request)
        except client.exceptions.ResourceInUseException:
            return
        except Exception as exc:
            what = f"create table {request.get('TableName')!r}"
            raise translate(exc, what=what, action="dynamodb:CreateTable") from exc

    def wait_active(self, table: str, *, timeout: float) -> dict[str, Any]:
        """Poll DescribeTable until the table and every GSI are ACTIVE."""
        deadline = self._clock.monotonic() + timeout
        while True:
            description = self._describe(table)
            if _is_active(description):
                return description
            if self._clock.monotonic() >= deadline:
                raise FatalError(
                    f"table {table!r} is not ACTIVE after {timeout:.0f} s "
                    f"(status {_statuses(description)})",
                    hint="check the table in the AWS console, then resume the run",
                )
            self._clock.sleep(POLL_SECONDS)

    def enable_ttl(self, table: str, attribute: str) -> None:
        spec = {"Enabled": True, "AttributeName": attribute}
        self._call(
            "update_time_to_live",
            f"enable TTL on {attribute!r} of table {table!r}",
            TableName=table,
            TimeToLiveSpecification=spec,
        )

    def tag_table(self, table: str, tags: list[dict[str, str]]) -> None:
        arn = self._describe(table)["TableArn"]
        for start in range(0, len(tags), TAGS_PER_CALL):
            chunk = tags[start : start + TAGS_PER_CALL]
            self._call("tag_resource", f"tag table {table!r}", ResourceArn=arn, Tags=chunk)

    def enable_pitr(self, table: str) -> None:
        self._call(
            "update_continuous_backups",
            f"enable point-in-time recovery of table {table!r}",
            TableName=table,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )

    def enable_stream(self, table: str, view_type: str) -> None:
        """UpdateTable StreamSpecification; the table is UPDATING for a while afterwards."""
        self._call(
            "update_table",
            f"enable the {view_type} stream of table {table!r}",
            TableName=table,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type},
        )

    def set_deletion_protection(self, table: str, *, on: bool) -> None:
        """UpdateTable DeletionProtectionEnabled."""
        state = "on" if on else "off"
        self._call(
            "update_table",
            f"turn deletion protection {state} for table {table!r}",
            TableName=table,
            DeletionProtectionEnabled=on,
        )

    def set_table_class(self, table: str, table_class: str) -> None:
        """UpdateTable TableClass (STANDARD or STANDARD_INFREQUENT_ACCESS)."""
        self._call(
            "update_table",
            f"set the table class of table {table!r} to {table_class}",
            TableName=table,
            TableClass=table_class,
        )

    def add_gsi(self, table: str, index: dict[str, Any], attributes: list[dict[str, str]]) -> None:
        """UpdateTable creating one GSI; the table is UPDATING until the index is built."""
        self._call(
            "update_table",
            f"create index {index.get('IndexName')!r} on table {table!r}",
            TableName=table,
            AttributeDefinitions=attributes,
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )

    def _describe(self, table: str) -> dict[str, Any]:
        response = self._call("describe_table", f"table {table!r}", TableName=table)
        return json_safe(response["Table"])  # type: ignore[no-any-return]

    def _ttl_attribute(self, table: str) -> str | None:
        what = f"TTL of table {table!r}"
        ttl = self._call("describe_time_to_live", what, TableName=table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return str(ttl["AttributeName"])
        return None

    def _tags(self, table: str, arn: str) -> list[dict[str, str]]:
        tags: list[dict[str, str]] = []
        kwargs: dict[str, str] = {"ResourceArn": arn}
        while True:
            page = self._call("list_tags_of_resource", f"tags of table {table!r}", **kwargs)
            tags.extend(page.get("Tags", []))
            if not page.get("NextToken"):
                return tags
            kwargs["NextToken"] = page["NextToken"]

    def _pitr_enabled(self, table: str) -> bool:
        what = f"point-in-time recovery of table {table!r}"
        response = self._call("describe_continuous_backups", what, TableName=table)
        pitr = response["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        return bool(pitr.get("PointInTimeRecoveryStatus") == "ENABLED")

    def _call(self, method: str, what: str, **kwargs: Any) -> Any:
        operation = "".join(part.title() for part in method.split("_"))
        try:
            return getattr(self._session.client("dynamodb"), method)(**kwargs)
        except DdbMigrateError:
            raise
        except Exception as exc:
            raise translate(exc, what=what, action=f"dynamodb:{operation}") from exc


def _table_what(wire: WireClient, table: str) -> str:
    return f"table {table!r} in {wire.region}"


def json_safe(value: Any) -> Any:
    """A copy of a boto3 response with datetimes as ISO-8601 strings, recursively."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _is_active(description: dict[str, Any]) -> bool:
    # AWS omits GlobalSecondaryIndexes when there are none; moto sends an empty list.
    indexes = description.get("GlobalSecondaryIndexes") or []
    return description.get("TableStatus") == "ACTIVE" and all(
        index.get("IndexStatus") == "ACTIVE" for index in indexes
    )


def _statuses(description: dict[str, Any]) -> str:
    parts = [f"table {description.get('TableStatus')}"]
    for index in description.get("GlobalSecondaryIndexes") or []:
        parts.append(f"index {index.get('IndexName')} {index.get('IndexStatus')}")
    return ", ".join(parts)
