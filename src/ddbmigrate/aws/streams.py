"""DynamoDB Streams behind ``live.ports.ChangeStreams``, on boto3.

Stream calls go through the side's ``dynamodbstreams`` client, the table calls through its
``dynamodb`` client (both control-plane clients: botocore retries throttling,
LimitExceededException included), except GetRecords, which carries every record and goes
through the lean wire client (``aws.wire``): botocore's parser walked each attribute of each
image through its shape model, most of the replay's CPU (docs/adr/0049). Records come back
in wire form, exactly as DynamoDB sent them: numbers strings, binary base64 text.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from botocore import exceptions as bce

from ddbmigrate.aws.errors import translate
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.errors import (
    DdbMigrateError,
    ExpiredIteratorError,
    NotFoundError,
    StreamTrimmedError,
    ThrottledError,
)
from ddbmigrate.live.ports import ChangeRecord, RecordsPage, Shard, StreamDescription, TableStream

_OWN_ERRORS: dict[str, type[DdbMigrateError]] = {
    "ExpiredIteratorException": ExpiredIteratorError,
    "TrimmedDataAccessException": StreamTrimmedError,
    # DynamoDB Streams' throttling (GetRecords past 5 calls/s per shard, DescribeStream
    # past 10/s), left after botocore's own retries: the replay's policy backs off.
    "LimitExceededException": ThrottledError,
}


class DynamoStreams:
    """``live.ports.ChangeStreams`` for one side (account and region)."""

    def __init__(self, session: SideSession) -> None:
        self._session = session

    def table_stream(self, table: str) -> TableStream:
        """DescribeTable's stream settings; NotFoundError without the table."""
        response = self._call("dynamodb", "describe_table", f"table {table!r}", TableName=table)
        description = response["Table"]
        spec = description.get("StreamSpecification") or {}
        return TableStream(
            table=table,
            enabled=bool(spec.get("StreamEnabled")),
            view_type=spec.get("StreamViewType"),
            arn=description.get("LatestStreamArn"),
        )

    def enable_stream(self, table: str, view_type: str) -> None:
        self._call(
            "dynamodb",
            "update_table",
            f"enable the {view_type} stream of table {table!r}",
            TableName=table,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type},
        )

    def disable_stream(self, table: str) -> None:
        self._call(
            "dynamodb",
            "update_table",
            f"disable the stream of table {table!r}",
            TableName=table,
            StreamSpecification={"StreamEnabled": False},
        )

    def describe_stream(self, arn: str) -> StreamDescription:
        """DescribeStream, following LastEvaluatedShardId to the last page."""
        pages: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            page = self._stream_call("describe_stream", f"stream {arn}", **kwargs)
            pages.append(page["StreamDescription"])
            following = page["StreamDescription"].get("LastEvaluatedShardId")
            if not following:
                return _description(arn, pages)
            kwargs["ExclusiveStartShardId"] = following

    def shard_iterator(self, arn: str, shard_id: str, *, after: str | None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        what = f"shard {shard_id} of stream {arn}"
        return str(self._stream_call("get_shard_iterator", what, **kwargs)["ShardIterator"])

    def get_records(self, iterator: str, *, limit: int) -> RecordsPage:
        response = self._wire.call(
            "GetRecords",
            {"ShardIterator": iterator, "Limit": limit},
            what="a stream shard",
            own_errors=_OWN_ERRORS,
        )
        return RecordsPage(
            records=[wire_record(r) for r in response.get("Records", [])],
            next_iterator=response.get("NextShardIterator"),
        )

    @cached_property
    def _wire(self) -> WireClient:
        return WireClient(self._session, service="dynamodbstreams")

    def _stream_call(self, method: str, what: str, **kwargs: Any) -> Any:
        return self._call("dynamodbstreams", method, what, **kwargs)

    def _call(self, service: str, method: str, what: str, **kwargs: Any) -> Any:
        operation = "".join(part.title() for part in method.split("_"))
        try:
            return getattr(self._session.client(service), method)(**kwargs)
        except DdbMigrateError:
            raise
        except bce.ClientError as exc:
            raise _stream_error(exc, what) from exc
        except Exception as exc:
            raise translate(exc, what=what, action=f"dynamodb:{operation}") from exc


def _stream_error(exc: bce.ClientError, what: str) -> DdbMigrateError:
    code = str((exc.response or {}).get("Error", {}).get("Code", ""))
    own = _OWN_ERRORS.get(code)
    if own is not None:
        return own(f"{what}: {code}")
    operation = getattr(exc, "operation_name", "") or ""
    return translate(exc, what=what, action=f"dynamodb:{operation}")


def _description(arn: str, pages: list[dict[str, Any]]) -> StreamDescription:
    first = pages[0]
    if not first.get("TableName"):
        raise NotFoundError(f"stream {arn} does not exist")
    return StreamDescription(
        arn=arn,
        table=str(first["TableName"]),
        status=str(first.get("StreamStatus")),
        view_type=str(first.get("StreamViewType")),
        shards=[_shard(s) for page in pages for s in page.get("Shards", [])],
    )


def _shard(body: dict[str, Any]) -> Shard:
    numbers = body.get("SequenceNumberRange") or {}
    return Shard(
        shard_id=str(body["ShardId"]),
        parent_id=body.get("ParentShardId"),
        starting_sequence=str(numbers.get("StartingSequenceNumber", "0")),
        ending_sequence=numbers.get("EndingSequenceNumber"),
    )


def wire_record(body: dict[str, Any]) -> ChangeRecord:
    """A record of GetRecords' JSON as DynamoDB sent it (the time in epoch seconds)."""
    change = body["dynamodb"]
    return ChangeRecord(
        event=body["eventName"],
        sequence=change["SequenceNumber"],
        created=float(change.get("ApproximateCreationDateTime") or 0),
        keys=change["Keys"],
        new_image=change.get("NewImage"),
    )
