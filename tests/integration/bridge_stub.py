"""A DynamoDB endpoint in front of moto server with what the bridge past 24 hours needs and
moto lacks: ExportTableToPointInTime with ``ExportType=INCREMENTAL_EXPORT`` (and its
DescribeExport), and DynamoDB Streams' TrimmedDataAccessException on demand.

- ``trim_next``: the next GetShardIterator calls of type AFTER_SEQUENCE_NUMBER are answered
  with TrimmedDataAccessException, as DynamoDB Streams answers a checkpoint older than the
  stream's 24 hours (moto keeps every record);
- an incremental export is checked against botocore's input shape (and AWS's rules for the
  window: 15 minutes to 24 hours, in the past, within the point-in-time recovery window,
  which the stub reads from moto's DescribeContinuousBackups); it is written at once to
  moto's S3 as AWS lays it out (``<S3Prefix>/AWSDynamoDB/<id>/`` with manifest-summary.json,
  manifest-files.json and a gzip data file of ``{"Metadata","Keys","NewImage"}`` records),
  the newest change per key that moto's stream of the table holds in the window. ``lag``
  seconds are added to the window's end: every record of a test is younger than the 15
  minutes the tool leaves to the stream, and the export should not be empty;
- DescribeContinuousBackups is moto's answer with ``EarliestRestorableDateTime`` moved
  ``backdate`` seconds back: point-in-time recovery turned on a while before the test;
- every other request goes to moto unchanged (bulk_stub.BulkStub's relay).

Import as ``from bridge_stub import BridgeStub``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from bulk_stub import (
    _MODEL,
    TARGET_PREFIX,
    BulkStub,
    ModelError,
    _AwsError,
    _caller,
    _epoch,
    _error,
    check,
)

STREAMS_PREFIX = "DynamoDBStreams_20120810."
MIN_WINDOW, MAX_WINDOW = 15 * 60.0, 24 * 3600.0


class BridgeStub(BulkStub):
    """The endpoint; a context manager that serves on a loopback port."""

    def __init__(
        self, moto_url: str, *, region: str = "us-east-1", lag: float = 0.0, backdate: float = 0.0
    ) -> None:
        super().__init__(moto_url, region=region)
        self.lag, self.backdate = lag, backdate
        self.trim_next = 0
        self.exports: dict[str, dict[str, Any]] = {}
        self.export_calls: list[dict[str, Any]] = []
        self.trimmed = 0
        self._bridge_lock = threading.Lock()

    def answers(self, operation: str, body: bytes, headers: dict[str, str]) -> bool:
        """Whether this stub answers the request itself (else it goes to moto)."""
        if operation == f"{STREAMS_PREFIX}GetShardIterator":
            kind = orjson.loads(body or b"{}").get("ShardIteratorType")
            with self._bridge_lock:
                return kind == "AFTER_SEQUENCE_NUMBER" and self.trim_next > 0
        if operation == f"{TARGET_PREFIX}ExportTableToPointInTime":
            return orjson.loads(body or b"{}").get("ExportType") == "INCREMENTAL_EXPORT"
        if operation == f"{TARGET_PREFIX}DescribeExport":
            return orjson.loads(body or b"{}").get("ExportArn") in self.exports
        return operation == f"{TARGET_PREFIX}DescribeContinuousBackups"

    def answer(self, operation: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if operation.startswith(STREAMS_PREFIX):
            with self._bridge_lock:
                self.trim_next -= 1
                self.trimmed += 1
            return _error(400, "TrimmedDataAccessException", "records beyond the trim horizon")
        name = operation.removeprefix(TARGET_PREFIX)
        params = orjson.loads(body or b"{}")
        model = _MODEL.operation_model(name)
        try:
            check(params, model.input_shape)
        except ModelError as exc:
            self.invalid.append(f"{name}: {exc}")
            return _error(400, "ValidationException", str(exc))
        try:
            if name == "DescribeExport":
                answer = {"ExportDescription": self.exports[params["ExportArn"]]}
            elif name == "DescribeContinuousBackups":
                answer = {"ContinuousBackupsDescription": self._backups(params, headers)}
            else:
                answer = {"ExportDescription": self._export(params, headers)}
        except _AwsError as exc:
            return _error(exc.status, exc.code, exc.message)
        check(answer, model.output_shape)
        return 200, orjson.dumps(answer, default=_epoch)

    # --- an incremental export ------------------------------------------------------------

    def _export(self, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        self.export_calls.append(params)
        credentials = _caller(headers)
        table = str(params["TableArn"]).rsplit("/", 1)[-1]
        spec = params["IncrementalExportSpecification"]
        start, end = float(spec["ExportFromTime"]), float(spec["ExportToTime"])
        self._check_window(table, start, end, credentials)
        changes = self._changes(table, start, end + self.lag, credentials)
        export_id = f"{int(end * 1000):014d}-{uuid.uuid4().hex[:8]}"
        prefix = str(params.get("S3Prefix") or "").strip("/")
        folder = f"{prefix}/AWSDynamoDB/{export_id}" if prefix else f"AWSDynamoDB/{export_id}"
        self._write(params["S3Bucket"], folder, changes, credentials)
        description = {
            "ExportArn": f"{params['TableArn']}/export/{export_id}",
            "ExportStatus": "COMPLETED",
            "TableArn": params["TableArn"],
            "S3Bucket": params["S3Bucket"],
            "S3Prefix": prefix,
            "ExportManifest": f"{folder}/manifest-summary.json",
            "ExportFormat": params.get("ExportFormat", "DYNAMODB_JSON"),
            "ExportType": "INCREMENTAL_EXPORT",
            "IncrementalExportSpecification": spec,
            "ItemCount": len(changes),
        }
        if params.get("S3BucketOwner"):
            description["S3BucketOwner"] = params["S3BucketOwner"]
        self.exports[description["ExportArn"]] = description
        return description

    def _backups(self, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        backups = self.client("dynamodb", _caller(headers)).describe_continuous_backups(
            TableName=params["TableName"]
        )["ContinuousBackupsDescription"]
        recovery = backups.get("PointInTimeRecoveryDescription") or {}
        if "EarliestRestorableDateTime" in recovery:
            earliest = recovery["EarliestRestorableDateTime"].timestamp() - self.backdate
            recovery["EarliestRestorableDateTime"] = datetime.fromtimestamp(earliest, UTC)
        return dict(backups)

    def _check_window(
        self, table: str, start: float, end: float, credentials: tuple[str, str | None]
    ) -> None:
        headers = {"Authorization": f"Credential={credentials[0]}/"}
        if credentials[1]:
            headers["X-Amz-Security-Token"] = credentials[1]
        recovery = self._backups({"TableName": table}, headers)["PointInTimeRecoveryDescription"]
        if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
            raise _AwsError(400, "PointInTimeRecoveryUnavailableException", "PITR is off")
        earliest = recovery["EarliestRestorableDateTime"].timestamp()
        now = datetime.now(UTC).timestamp()
        if not MIN_WINDOW <= end - start <= MAX_WINDOW or end > now or start < earliest - 1:
            raise _AwsError(400, "InvalidExportTimeException", f"window {start}..{end}")

    def _changes(
        self, table: str, start: float, end: float, credentials: tuple[str, str | None]
    ) -> list[dict[str, Any]]:
        """The newest record per key moto's stream holds made in ``[start, end)``."""
        arn = self.client("dynamodb", credentials).describe_table(TableName=table)["Table"][
            "LatestStreamArn"
        ]
        streams = self.client("dynamodbstreams", credentials)
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        newest: dict[bytes, dict[str, Any]] = {}
        for shard in shards:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
                body = record["dynamodb"]
                made = body["ApproximateCreationDateTime"].timestamp()
                if start <= made < end:
                    newest[orjson.dumps(_wire(body["Keys"]), option=orjson.OPT_SORT_KEYS)] = body
        return list(newest.values())

    def _write(
        self,
        bucket: str,
        folder: str,
        changes: list[dict[str, Any]],
        credentials: tuple[str, str | None],
    ) -> None:
        s3 = self.client("s3", credentials)
        lines = b"".join(_line(c) for c in changes)
        data = gzip.compress(lines, mtime=0)
        data_key = f"{folder}/data/{uuid.uuid4().hex}.json.gz"
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        files = orjson.dumps(
            {"itemCount": len(changes), "md5Checksum": md5, "dataFileS3Key": data_key}
        )
        summary = orjson.dumps(
            {
                "version": "2023-08-01",
                "manifestFilesS3Key": f"{folder}/manifest-files.json",
                "itemCount": len(changes),
                "outputFormat": "DYNAMODB_JSON",
                "exportType": "INCREMENTAL_EXPORT",
                "outputView": "NEW_IMAGE",
            }
        )
        for key, body in (
            (data_key, data),
            (f"{folder}/manifest-files.json", files + b"\n"),
            (f"{folder}/manifest-summary.json", summary),
        ):
            s3.put_object(Bucket=bucket, Key=key, Body=body)


def _line(body: dict[str, Any]) -> bytes:
    made = int(body["ApproximateCreationDateTime"].timestamp() * 1_000_000)
    record: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(made)}}}
    record["Keys"] = _wire(body["Keys"])
    if "NewImage" in body:
        record["NewImage"] = _wire(body["NewImage"])
    return orjson.dumps(record) + b"\n"


def _wire(value: Any) -> Any:
    """boto3's values (bytes for B and BS) in DynamoDB's wire form (base64 text)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value
