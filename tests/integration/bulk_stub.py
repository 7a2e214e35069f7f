"""A DynamoDB endpoint with the four bulk operations, in front of moto server.

No emulator implements StartBulkPutItems, DescribeBulkOperation, ListBulkOperations or
CancelBulkOperation (moto 5.2.6 does not). This stub answers them as botocore's service
model defines them and forwards every other request (DynamoDB, S3, STS) to moto unchanged:

- every bulk request is checked against the operation's input shape (botocore's
  ParamValidator, plus the enums, patterns and ``min`` of longs it does not check); one that
  breaks the model is answered with a ValidationException and listed in ``invalid``;
- every answer is checked against the output shape before it is sent;
- the operation runs when it is first described: the stub reads the input objects from
  moto's S3 (``{"Item": ...}`` lines, GZIP/ZSTD/NONE), puts each item into moto's table
  as the caller's account, and writes the items moto refuses to an error report below the
  output prefix (one JSON line each: ErrorCode, ErrorMessage, S3Key, LineNumber, Item);
- ``script[table]`` decides how operations on a table end: ``complete`` (COMPLETED, or
  COMPLETED_WITH_ERRORS when items were refused), ``fail`` (FAILED after the first object),
  ``hang`` (IN_PROGRESS until cancelled);
- a repeated ClientToken with the same parameters returns the same operation; with other
  parameters IdempotentParameterMismatchException.

Import as ``from bulk_stub import BulkStub`` (pytest's "prepend" import mode).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
import botocore.session
import orjson
import zstandard
from botocore.exceptions import ClientError
from botocore.model import Shape
from botocore.validate import ParamValidator

TARGET_PREFIX = "DynamoDB_20120810."
BULK_OPERATIONS = frozenset(
    {"StartBulkPutItems", "DescribeBulkOperation", "ListBulkOperations", "CancelBulkOperation"}
)
Script = Literal["complete", "fail", "hang"]
_MODEL = botocore.session.get_session().get_service_model("dynamodb")
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "expect"})
_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


class ModelError(Exception):
    """A request or answer that breaks the botocore model."""


def check(params: Any, shape: Shape) -> None:
    """Raise ModelError naming every way ``params`` breaks ``shape``."""
    report = ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    problems += list(_model_extras(params, shape, shape.name))
    if problems:
        raise ModelError("; ".join(problems))


def _model_extras(value: Any, shape: Shape, path: str) -> Iterator[str]:
    """What ParamValidator leaves out: enums, patterns, ``min`` of integers and longs."""
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if name in value:
                yield from _model_extras(value[name], member, f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, entry in enumerate(value):
            yield from _model_extras(entry, shape.member, f"{path}[{index}]")  # type: ignore[attr-defined]
    elif shape.type_name == "string" and isinstance(value, str):
        yield from _string_problems(value, shape, path)
    elif shape.type_name in ("integer", "long") and isinstance(value, int):
        low = shape.metadata.get("min")
        if low is not None and value < low:
            yield f"{path}: {value} is below the model's min {low}"


def _string_problems(value: str, shape: Shape, path: str) -> Iterator[str]:
    enum = shape.enum  # type: ignore[attr-defined]
    if enum and value not in enum:
        yield f"{path}: {value!r} is not one of {enum}"
    pattern = shape.metadata.get("pattern")
    if pattern and not re.search(pattern, value):
        yield f"{path}: {value!r} does not match {pattern}"


@dataclass(slots=True)
class Operation:
    """One bulk operation the stub started."""

    arn: str
    request: dict[str, Any]
    credentials: tuple[str, str | None]
    status: str = "IN_PROGRESS"
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    processed: int = 0
    failed: int = 0
    bytes_read: int = 0
    bytes_total: int | None = None
    describes: int = 0
    failure: tuple[str, str] | None = None
    loaded: bool = False

    @property
    def table(self) -> str:
        return str(self.request["TableName"])

    def description(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "BulkOperationArn": self.arn,
            "BulkOperationStatus": self.status,
            "TableDetails": [{"TableName": self.table}],
            "ClientToken": self.request.get("ClientToken"),
            "InputS3Configuration": self.request["InputS3Configuration"],
            "OutputS3Configuration": self.request["OutputS3Configuration"],
            "StartTime": self.started,
            "ProcessedItemCount": self.processed,
            "ProcessedInputBytes": self.bytes_read,
            "FailedItemCount": self.failed,
            "PerformanceTier": self.request.get("PerformanceTier", "STANDARD"),
        }
        optional = {
            "EndTime": self.ended,
            "TotalInputBytes": self.bytes_total,
            "MaxWriteRequestUnits": self.request.get("MaxWriteRequestUnits"),
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if self.failure:
            body["FailureCode"], body["FailureMessage"] = self.failure
        return body


class BulkStub:
    """The bulk operations on a loopback port; everything else goes on to ``moto_url``."""

    def __init__(self, moto_url: str, *, region: str) -> None:
        self.moto_url = moto_url
        self.region = region
        self.script: dict[str, Script] = {}
        self.refuse: dict[str, set[str]] = {}
        """Per table, string values of items to refuse as DynamoDB refuses an invalid item
        (ValidationException), for an error report where moto would accept everything."""
        self.operations: dict[str, Operation] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        """Every bulk request received, in order (operation, parameters)."""
        self.invalid: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> BulkStub:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answers(self, target: str, body: bytes, headers: dict[str, str]) -> bool:
        """Whether :meth:`answer` answers this request (``X-Amz-Target``): none here."""
        return False

    def answer(self, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        raise NotImplementedError(target)

    def starts(self) -> int:
        return sum(1 for name, _ in self.calls if name == "StartBulkPutItems")

    # --- dispatch ------------------------------------------------------------------------

    def bulk(self, operation: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        params = orjson.loads(body or b"{}")
        with self._lock:
            self.calls.append((operation, params))
        model = _MODEL.operation_model(operation)
        try:
            check(params, model.input_shape)
        except ModelError as exc:
            self.invalid.append(f"{operation}: {exc}")
            return _error(400, "ValidationException", str(exc))
        try:
            answer = getattr(self, f"_{operation}")(params, headers)
        except _AwsError as exc:
            return _error(exc.status, exc.code, exc.message)
        check(answer, model.output_shape)  # a stub bug, not the client's: let it raise
        return 200, orjson.dumps(answer, default=_epoch)

    def _StartBulkPutItems(self, params: dict[str, Any], headers: dict[str, str]) -> Any:  # noqa: N802
        token = params.get("ClientToken") or str(uuid.uuid4())
        with self._lock:
            for operation in self.operations.values():
                if operation.request.get("ClientToken") == token:
                    if operation.request != {**params, "ClientToken": token}:
                        raise _AwsError(400, "IdempotentParameterMismatchException", token)
                    return {"BulkOperationDescription": operation.description()}
            arn = (
                f"arn:aws:dynamodb:{self.region}:{_account(params)}:table/"
                f"{params['TableName']}/bulk-operation/{uuid.uuid4().hex}"
            )
            operation = Operation(arn, {**params, "ClientToken": token}, _caller(headers))
            self.operations[arn] = operation
        return {"BulkOperationDescription": operation.description()}

    def _DescribeBulkOperation(self, params: dict[str, Any], _h: dict[str, str]) -> Any:  # noqa: N802
        operation = self._operation(params)
        operation.describes += 1
        if operation.status == "CANCELLING":
            operation.status, operation.ended = "CANCELLED", datetime.now(UTC)
            operation.failure = ("BulkOperationCancelled", "cancelled by request")
        elif operation.status == "IN_PROGRESS":
            self._advance(operation)
        return {"BulkOperationDescription": operation.description()}

    def _CancelBulkOperation(self, params: dict[str, Any], _h: dict[str, str]) -> Any:  # noqa: N802
        operation = self._operation(params)
        if operation.status == "IN_PROGRESS":
            operation.status = "CANCELLING"
        return {"BulkOperationArn": operation.arn, "BulkOperationStatus": operation.status}

    def _ListBulkOperations(self, _p: dict[str, Any], _h: dict[str, str]) -> Any:  # noqa: N802
        summaries = [
            {"BulkOperationArn": o.arn, "BulkOperationStatus": o.status, "StartTime": o.started}
            for o in reversed(self.operations.values())
        ]
        return {"BulkOperationsSummaryList": summaries}

    def _operation(self, params: dict[str, Any]) -> Operation:
        arn = str(params["BulkOperationArn"])
        if arn not in self.operations:
            raise _AwsError(400, "ResourceNotFoundException", f"no bulk operation {arn}")
        return self.operations[arn]

    # --- running an operation ------------------------------------------------------------

    def _advance(self, operation: Operation) -> None:
        """First describe: load the input (IN_PROGRESS with counts); second: the end."""
        script = self.script.get(operation.table, "complete")
        if script == "hang":
            return
        if not operation.loaded:  # the first describe that does not hang
            operation.loaded = True
            _Loader(self, operation).run(first_object_only=script == "fail")
            return
        operation.ended = datetime.now(UTC)
        if script == "fail":
            operation.status = "FAILED"
            operation.failure = ("InternalFailure", "the stub was told to fail")
        else:
            operation.status = "COMPLETED_WITH_ERRORS" if operation.failed else "COMPLETED"

    def client(self, service: str, credentials: tuple[str, str | None]) -> Any:
        key, token = credentials
        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name=self.region,
            aws_access_key_id=key,
            aws_secret_access_key="moto-does-not-check",
            aws_session_token=token,
        )

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        parts = urlsplit(self.moto_url)
        connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=60)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in _HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP]
            if method == "HEAD":  # the length of the object, not of this empty answer
                kept.append(("Content-Length", response.getheader("Content-Length") or "0"))
            return response.status, kept, data
        finally:
            connection.close()


@dataclass(slots=True)
class _Loader:
    """Reads an operation's input objects and puts their items into moto."""

    stub: BulkStub
    operation: Operation
    report: list[bytes] = field(default_factory=list)

    def run(self, *, first_object_only: bool) -> None:
        source = self.operation.request["InputS3Configuration"]
        s3 = self.stub.client("s3", self.operation.credentials)
        keys = _keys(s3, source["S3Bucket"], source.get("S3KeyPrefix", ""))
        sizes = {
            k: int(s3.head_object(Bucket=source["S3Bucket"], Key=k)["ContentLength"]) for k in keys
        }
        self.operation.bytes_total = sum(sizes.values())
        for key in keys[:1] if first_object_only else keys:
            data = s3.get_object(Bucket=source["S3Bucket"], Key=key)["Body"].read()
            self._load(key, _plain(data, source.get("InputCompressionType", "NONE")))
            self.operation.bytes_read += sizes[key]
        self._write_report(s3)

    def _load(self, key: str, data: bytes) -> None:
        dynamodb = self.stub.client("dynamodb", self.operation.credentials)
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            self.operation.processed += 1
            item = orjson.loads(line).get("Item")
            try:
                self._refused(item)
                dynamodb.put_item(TableName=self.operation.table, Item=_binary_as_bytes(item))
            except ClientError as exc:
                self.operation.failed += 1
                self._reject(key, number, item, exc)

    def _refused(self, item: Any) -> None:
        values = {v.get("S") for v in item.values() if isinstance(v, dict)}
        if values & self.stub.refuse.get(self.operation.table, set()):
            error = {"Code": "ValidationException", "Message": "the test refuses this item"}
            raise ClientError({"Error": error}, "PutItem")

    def _reject(self, key: str, number: int, item: Any, exc: ClientError) -> None:
        error = exc.response.get("Error", {})
        record = {
            "ErrorCode": error.get("Code"),
            "ErrorMessage": error.get("Message"),
            "S3Key": key,
            "LineNumber": number,
            "Item": item,
        }
        self.report.append(orjson.dumps(record))

    def _write_report(self, s3: Any) -> None:
        if not self.report:
            return
        output = self.operation.request["OutputS3Configuration"]
        key = f"{output.get('S3KeyPrefix', '').rstrip('/')}/errors-00001.json".lstrip("/")
        body = b"\n".join(self.report) + b"\n"
        s3.put_object(Bucket=output["S3Bucket"], Key=key, Body=body)


def _binary_as_bytes(value: Any) -> Any:
    """The wire form's base64 binaries as bytes: boto3's client base64-encodes B and BS
    itself, so a line's text handed over as it is would be stored encoded twice."""
    if isinstance(value, dict):
        if set(value) == {"B"}:
            return {"B": base64.b64decode(value["B"])}
        if set(value) == {"BS"}:
            return {"BS": [base64.b64decode(v) for v in value["BS"]]}
        return {k: _binary_as_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_binary_as_bytes(v) for v in value]
    return value


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [str(o["Key"]) for page in pages for o in page.get("Contents", [])]


def _plain(data: bytes, compression: str) -> bytes:
    if compression == "GZIP":
        return gzip.decompress(data)
    if compression == "ZSTD":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


class _AwsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    return status, orjson.dumps(body)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _caller(headers: dict[str, str]) -> tuple[str, str | None]:
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    key = match.group(1) if match else "testing"
    return key, headers.get("X-Amz-Security-Token")


def _account(params: dict[str, Any]) -> str:
    owner = params["InputS3Configuration"].get("S3BucketOwner")
    return str(owner or "123456789012")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: BulkStub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server

    def _relay(self) -> None:
        body = self._body()
        headers = dict(self.headers.items())
        target = headers.get("X-Amz-Target", "")
        if self.server.stub.answers(target, body, headers):  # a subclass's own operations
            status, data = self.server.stub.answer(target, body, headers)
            self._send(status, [("Content-Type", "application/x-amz-json-1.0")], data)
            return
        operation = target.removeprefix(TARGET_PREFIX)
        if operation in BULK_OPERATIONS:
            status, data = self.server.stub.bulk(operation, body, headers)
            self._send(status, [("Content-Type", "application/x-amz-json-1.0")], data)
            return
        self._send(*self.server.stub.forward(self.command, self.path, headers, body))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _relay  # noqa: N815

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise NotImplementedError("chunked request bodies: send them to moto directly")
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None
