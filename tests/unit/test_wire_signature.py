"""The lean client signs a request exactly as botocore's own DynamoDB client does.

A signature that differs in one ingredient (region, service name, target header, path, body
hash) is rejected by AWS with InvalidSignatureException, and moto does not check signatures
at all, so this is the test that would notice. botocore's client is stopped at
``before-send``: no socket is opened (unit tests block them).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.auth
import orjson
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient, sign_headers
from ddbmigrate.config import Side

REGION = "eu-west-1"
FIXED_NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)  # naive UTC, as botocore's clock returns
AMZ_DATE = "20260102T030405Z"
COMPARED = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Target", "Content-Type")

ENDPOINTS = [
    pytest.param(None, id="aws-resolved"),
    pytest.param("http://127.0.0.1:8000", id="no-path"),
    pytest.param("https://proxy.example/dynamodb", id="with-path"),
]

# Wire form that botocore's serializer also accepts unchanged (no binary: boto3 wants bytes).
BODIES: dict[str, dict[str, Any]] = {
    "Scan": {
        "TableName": "customer",
        "Segment": 1,
        "TotalSegments": 4,
        "ExclusiveStartKey": {"name": {"S": "ann"}, "city": {"S": "Oslo"}},
        "Limit": 100,
        "ReturnConsumedCapacity": "TOTAL",
    },
    "BatchWriteItem": {
        "RequestItems": {
            "customer": [
                {"PutRequest": {"Item": {"name": {"S": "bo"}, "n": {"N": "1.50"}}}},
                {"DeleteRequest": {"Key": {"name": {"S": "cy"}}}},
            ]
        },
        "ReturnConsumedCapacity": "TOTAL",
    },
}
OPERATIONS = list(BODIES)
METHODS = {"Scan": "scan", "BatchWriteItem": "batch_write_item", "GetRecords": "get_records"}
# Not an ARN: from a stream ARN's account botocore picks an account endpoint for the call
# (1.streams-ddb...); the lean client keeps the regional one, which AWS still serves.
GET_RECORDS = {"ShardIterator": "iterator-0-12", "Limit": 1000}


@dataclass(frozen=True)
class Sent:
    url: str
    headers: dict[str, str]
    body: bytes

    def compared(self) -> dict[str, str]:
        return {name: self.headers[name] for name in COMPARED}


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore.auth reads the time through compat.get_current_datetime (botocore >= 1.35).
    assert hasattr(botocore.auth, "get_current_datetime"), "botocore changed its clock"
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_, **__: FIXED_NOW)


@pytest.fixture
def credentials_env(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRET")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "TOKEN")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def botocore_sends(
    operation: str,
    endpoint_url: str | None,
    *,
    before_sign: Callable[..., None] | None = None,
    service: str = "dynamodb",
    body: dict[str, Any] | None = None,
) -> Sent:
    """What botocore's own client puts on the wire for ``operation`` with ``BODIES[...]``
    (or ``body``)."""
    session = boto3.Session(
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
        aws_session_token="TOKEN",
        region_name=REGION,
    )
    client = session.client(service, endpoint_url=endpoint_url)
    event = client.meta.service_model.service_id.hyphenize()
    sent: list[Sent] = []

    def capture(request: AWSRequest, **_: Any) -> AWSResponse:
        headers = {name: _text(value) for name, value in request.headers.items()}
        sent.append(Sent(request.url, headers, request.body))
        return AWSResponse(request.url, 200, {}, _Raw(b"{}"))

    client.meta.events.register(f"before-send.{event}.{operation}", capture)
    if before_sign is not None:
        client.meta.events.register(f"before-sign.{event}.{operation}", before_sign)
    getattr(client, METHODS[operation])(**(body or BODIES[operation]))
    [only] = sent
    return only


class _Raw:
    """Stands in for urllib3's response: botocore only streams the body."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    data: bytes


class RecordingPool:
    """Takes the place of WireClient's urllib3 pool: records the request, answers ``{}``."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def request(self, method: str, url: str, *, body: bytes, headers: dict[str, str]) -> _Answer:
        assert method == "POST"
        self.sent.append(Sent(url, dict(headers), body))
        return _Answer(200, {}, b"{}")

    def clear(self) -> None:
        return None


def wire_sends(operation: str, endpoint_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Sent:
    """What WireClient.call puts on the wire, credentials from the environment."""
    wire = WireClient(SideSession(Side(endpoint_url=endpoint_url, region=REGION)))
    pool = RecordingPool()
    monkeypatch.setattr(wire, "_pool", pool)
    wire.call(operation, BODIES[operation])
    [only] = pool.sent
    return only


@pytest.mark.parametrize("endpoint_url", ENDPOINTS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_wire_client_sends_what_botocore_signs(
    credentials_env: None,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    endpoint_url: str | None,
) -> None:
    ours = wire_sends(operation, endpoint_url, monkeypatch)

    def same_bytes(request: AWSRequest, **_: Any) -> None:
        # botocore writes json.dumps(", ", ": "), orjson no spaces: the same JSON, other
        # bytes. botocore signs our bytes here, so the signatures can be compared.
        assert orjson.loads(request.body) == orjson.loads(ours.body)
        request.data = ours.body

    theirs = botocore_sends(operation, endpoint_url, before_sign=same_bytes)

    assert theirs.body == ours.body
    assert ours.url == theirs.url
    assert ours.compared() == theirs.compared()
    assert ours.headers["X-Amz-Date"] == AMZ_DATE  # the clock really was frozen
    assert f"/{REGION}/dynamodb/aws4_request" in ours.headers["Authorization"]


@pytest.mark.parametrize("endpoint_url", ENDPOINTS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_signing_botocores_own_bytes_gives_botocores_signature(
    credentials_env: None, operation: str, endpoint_url: str | None
) -> None:
    theirs = botocore_sends(operation, endpoint_url)
    wire = WireClient(SideSession(Side(endpoint_url=endpoint_url, region=REGION)))

    ours = sign_headers(
        Credentials("AKID", "SECRET", "TOKEN"),
        region=wire.region,
        url=wire.endpoint,
        operation=operation,
        payload=theirs.body,
    )

    assert wire.endpoint == theirs.url
    assert {name: ours[name] for name in COMPARED} == theirs.compared()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"region": "eu-west-2"}, id="region"),
        pytest.param({"operation": "Query"}, id="target"),
        pytest.param({"url": "https://dynamodb.eu-west-1.amazonaws.com/x"}, id="path"),
        pytest.param({"payload": b"{}"}, id="body"),
    ],
)
def test_the_comparison_notices_each_ingredient(
    credentials_env: None, change: dict[str, Any]
) -> None:
    # Guards the two tests above against comparing something that never changes.
    theirs = botocore_sends("Scan", None)
    request: dict[str, Any] = {
        "region": REGION,
        "url": theirs.url,
        "operation": "Scan",
        "payload": theirs.body,
    }
    credentials = Credentials("AKID", "SECRET", "TOKEN")

    same = sign_headers(credentials, **request)
    changed = sign_headers(credentials, **{**request, **change})

    assert same["Authorization"] == theirs.headers["Authorization"]
    assert changed["Authorization"] != theirs.headers["Authorization"]


@pytest.mark.parametrize("endpoint_url", ENDPOINTS)
def test_the_streams_wire_client_sends_what_botocores_streams_client_signs(
    credentials_env: None, monkeypatch: pytest.MonkeyPatch, endpoint_url: str | None
) -> None:
    # GetRecords goes through the lean client (its records are most of the replay's CPU):
    # other target header, other host, the same signing name.
    wire = WireClient(
        SideSession(Side(endpoint_url=endpoint_url, region=REGION)), service="dynamodbstreams"
    )
    pool = RecordingPool()
    monkeypatch.setattr(wire, "_pool", pool)
    wire.call("GetRecords", GET_RECORDS)
    [ours] = pool.sent

    def same_bytes(request: AWSRequest, **_: Any) -> None:
        request.data = ours.body

    theirs = botocore_sends(
        "GetRecords",
        endpoint_url,
        before_sign=same_bytes,
        service="dynamodbstreams",
        body=GET_RECORDS,
    )

    assert ours.url == theirs.url
    assert ours.compared() == theirs.compared()
    assert ours.headers["X-Amz-Target"] == "DynamoDBStreams_20120810.GetRecords"
