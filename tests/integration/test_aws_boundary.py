"""The AWS boundary against a real moto server over HTTP, plus a stub server for faults.

moto cannot damage a checksum, refuse a bucket owner or deny a write, so those paths run
against a tiny local HTTP server that answers with canned responses.
"""

from __future__ import annotations

import base64
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from ddbmigrate.aws import (
    DynamoAdmin,
    DynamoTableReader,
    DynamoTableWriter,
    S3Store,
    SideSession,
    WireClient,
    open_side,
)
from ddbmigrate.aws.errors import from_wire_error, translate
from ddbmigrate.aws.s3 import acl_needed
from ddbmigrate.config import Side
from ddbmigrate.errors import (
    AccessDeniedError,
    ConfigError,
    CredentialsError,
    FatalError,
    NotFoundError,
    RejectedItemError,
    StagingError,
    ThrottledError,
    TransientError,
)
from ddbmigrate.local.server import LOCAL_REGION
from ddbmigrate.model import Item, Segment, StoreURL
from ddbmigrate.testing import FakeClock

SOURCE_ACCOUNT = "111111111111"  # the accounts the side_for fixture (conftest.py) acts as
DEST_ACCOUNT = "222222222222"

SideFor = Callable[[str], Side]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# One item per interesting shape; numbers already in DynamoDB's normal form, so AWS itself
# would hand them back unchanged too.
EVERY_TYPE: list[Item] = [
    {"pk": {"S": "scalars"}, "s": {"S": "héllo \u2603 \x01"}, "n": {"N": "-12.5"},
     "b": {"B": _b64(b"\x00\xff\x10binary")}, "t": {"BOOL": True}, "f": {"BOOL": False},
     "z": {"NULL": True}},
    {"pk": {"S": "sets"}, "ss": {"SS": ["b", "a", "c"]}, "ns": {"NS": ["3", "1", "2.5"]},
     "bs": {"BS": [_b64(b"\xff"), _b64(b"\x00"), _b64(b"\x7f\x80")]}},
    {"pk": {"S": "nested"}, "m": {"M": {"bin": {"B": _b64(b"\x01\x02")},
     "l": {"L": [{"B": _b64(b"\xfe")}, {"M": {"deep": {"BS": [_b64(b"\x03")]}}},
                 {"NULL": True}, {"N": "0"}]}}}},
    {"pk": {"S": "big-numbers"},
     "max": {"N": "99999999999999999999999999999999999999"},
     "neg": {"N": "-12345678901234567890123456789012345678"},
     "frac": {"N": "0.12345678901234567890123456789012345678"},
     "tiny": {"N": "1E-130"}, "huge": {"N": "9.9999999999999999999999999999999999999E+125"}},
    {"pk": {"S": "empty-ish"}, "es": {"S": ""}, "eb": {"B": ""}, "el": {"L": []},
     "em": {"M": {}}},
]  # fmt: skip


def _canon(item: Item) -> bytes:
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _create_simple_table(session: SideSession, name: str) -> None:
    session.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _scan_all(reader: DynamoTableReader, segment: Segment, limit: int | None = None) -> list[Item]:
    items: list[Item] = []
    start: Item | None = None
    while True:
        page = reader.scan(segment=segment, start_key=start, limit=limit)
        items.extend(page.items)
        if page.last_key is None:
            return items
        start = page.last_key


# ---------------------------------------------------------------------------------------------
# A stub HTTP server with canned answers, for what moto cannot do.


@dataclass
class Canned:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)


class StubServer:
    """Answers every request with the next canned response (the last one repeats)."""

    def __init__(self) -> None:
        self.responses: list[Canned] = [Canned()]
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers botocore's "Expect: 100-continue" at once

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                stub.requests.append((self.command, self.path, dict(self.headers.items())))
                canned = stub.responses.pop(0) if len(stub.responses) > 1 else stub.responses[0]
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(canned.body)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def stub(aws_env: None) -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.close()


@pytest.fixture
def stub_session(stub: StubServer) -> SideSession:
    """Plain env credentials (no role), every service pointed at the stub."""
    return SideSession(Side(endpoint_url=stub.url, region=LOCAL_REGION))


def _json_error(status: int, code: str, message: str) -> Canned:
    body = orjson.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    return Canned(status, body, {"Content-Type": "application/x-amz-json-1.0"})


def _s3_error(status: int, code: str) -> Canned:
    body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
    return Canned(status, body, {"Content-Type": "application/xml"})


# ---------------------------------------------------------------------------------------------
# Sessions


@pytest.mark.integration
def test_account_id_comes_from_the_assumed_role(side_for: SideFor) -> None:
    source, dest = open_side(side_for(SOURCE_ACCOUNT)), open_side(side_for(DEST_ACCOUNT))

    assert source.account_id() == SOURCE_ACCOUNT
    assert dest.account_id() == DEST_ACCOUNT
    assert source.region == LOCAL_REGION


@pytest.mark.integration
def test_role_credentials_are_refreshable_and_not_the_base_ones(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))

    frozen = session.credentials().get_frozen_credentials()

    assert type(session.credentials()).__name__ == "DeferredRefreshableCredentials"
    assert frozen.token
    assert frozen.access_key != "ddbmigrate-local"


def test_construction_sends_no_request(stub: StubServer) -> None:
    side = Side(
        role_arn="arn:aws:iam::111111111111:role/x", endpoint_url=stub.url, region="eu-west-1"
    )

    session = SideSession(side)
    session.client("dynamodb")

    assert stub.requests == []
    assert session.dynamodb_endpoint == stub.url


def test_unknown_profile_is_a_config_error(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="'no-such-profile'") as info:
        SideSession(Side(profile="no-such-profile", region=LOCAL_REGION))

    assert info.value.hint is not None
    assert "aws configure --profile no-such-profile" in info.value.hint
    assert "aws sso login" in info.value.hint


def test_unknown_profile_from_env_is_a_config_error(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "env-profile")

    with pytest.raises(ConfigError, match="'env-profile'"):
        SideSession(Side(region=LOCAL_REGION))


def test_missing_region_is_a_config_error(aws_env: None) -> None:
    session = SideSession(Side())

    with pytest.raises(ConfigError) as info:
        _ = session.region
    assert "AWS_REGION" in (info.value.hint or "")


def test_region_from_env_is_honoured(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")

    assert SideSession(Side()).region == "ap-southeast-2"


def test_endpoint_from_env_is_honoured(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")

    session = SideSession(Side(region=LOCAL_REGION))

    assert session.dynamodb_endpoint == "http://127.0.0.1:9"


def test_invalid_session_name_is_a_config_error(aws_env: None) -> None:
    side = Side(role_arn="arn:aws:iam::1:role/x", session_name="x", region=LOCAL_REGION)

    with pytest.raises(ConfigError, match="session name"):
        SideSession(side)


# ---------------------------------------------------------------------------------------------
# Data plane


@pytest.mark.integration
def test_scan_returns_items_exactly_as_put(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    table = _unique("every-type")
    _create_simple_table(session, table)
    wire = WireClient(session)
    wire.call("PutItem", {"TableName": table, "Item": EVERY_TYPE[0]})
    requests = [{"PutRequest": {"Item": item}} for item in EVERY_TYPE[1:]]
    assert DynamoTableWriter(wire, table).batch_write(requests).unprocessed == []

    items = _scan_all(DynamoTableReader(wire, table), Segment(0, 1))

    assert sorted(map(_canon, items)) == sorted(map(_canon, EVERY_TYPE))


@pytest.mark.integration
def test_parallel_segments_and_pages_cover_every_item_once(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    table = _unique("segments")
    _create_simple_table(session, table)
    wire = WireClient(session)
    writer = DynamoTableWriter(wire, table)
    keys = [f"key-{i:03d}" for i in range(60)]
    for start in range(0, len(keys), 25):
        batch = [{"PutRequest": {"Item": {"pk": {"S": k}}}} for k in keys[start : start + 25]]
        result = writer.batch_write(batch)
        assert result.unprocessed == []
        assert result.consumed > 0
    reader = DynamoTableReader(wire, table)

    per_segment = [_scan_all(reader, Segment(i, 4), limit=7) for i in range(4)]

    seen = [item["pk"]["S"] for items in per_segment for item in items]
    assert sorted(seen) == keys  # every key, none twice
    assert all(per_segment), "each of the 4 segments should hold some of 60 keys"
    assert reader.table_name == table


@pytest.mark.integration
def test_batch_write_deletes_and_rejects(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    table = _unique("writes")
    _create_simple_table(session, table)
    wire = WireClient(session)
    writer = DynamoTableWriter(wire, table)
    writer.batch_write([{"PutRequest": {"Item": {"pk": {"S": k}}}} for k in "abc"])

    writer.batch_write([{"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}])
    with pytest.raises(RejectedItemError, match="Missing the key"):
        writer.batch_write([{"PutRequest": {"Item": {"other": {"S": "no key"}}}}])

    remaining = _scan_all(DynamoTableReader(wire, table), Segment(0, 1))
    assert sorted(item["pk"]["S"] for item in remaining) == ["a", "c"]


@pytest.mark.integration
def test_missing_table_is_not_found(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    reader = DynamoTableReader(WireClient(session), "no-such-table")

    with pytest.raises(NotFoundError, match="'no-such-table'"):
        reader.scan(segment=Segment(0, 1))
    assert DynamoAdmin(session).read_schema("no-such-table") is None


@pytest.mark.integration
def test_tables_are_isolated_per_account(side_for: SideFor) -> None:
    source, dest = open_side(side_for(SOURCE_ACCOUNT)), open_side(side_for(DEST_ACCOUNT))
    table = _unique("isolated")
    _create_simple_table(source, table)

    assert DynamoAdmin(source).read_schema(table) is not None
    assert DynamoAdmin(dest).read_schema(table) is None


def test_wrong_crc32_is_transient(stub: StubServer, stub_session: SideSession) -> None:
    body = b'{"Items": [], "Count": 0}'
    stub.responses = [Canned(200, body, {"x-amz-crc32": str((zlib.crc32(body) + 1) & 0xFFFFFFFF)})]

    with pytest.raises(TransientError, match="CRC32"):
        WireClient(stub_session).call("Scan", {"TableName": "t"})


def test_right_crc32_passes_and_request_is_signed(
    stub: StubServer, stub_session: SideSession
) -> None:
    body = b'{"Items": [{"n": {"N": "1.50"}}], "Count": 1}'
    stub.responses = [Canned(200, body, {"x-amz-crc32": str(zlib.crc32(body))})]

    response = WireClient(stub_session).call("Scan", {"TableName": "t"})

    assert response["Items"] == [{"n": {"N": "1.50"}}]  # numbers stay strings
    method, path, headers = stub.requests[0]
    assert (method, path) == ("POST", "/")
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.Scan"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=ddbmigrate-local/")
    assert "/us-east-1/dynamodb/aws4_request" in headers["Authorization"]


@pytest.mark.parametrize(
    ("canned", "expected"),
    [
        (_json_error(400, "ProvisionedThroughputExceededException", "slow"), ThrottledError),
        (_json_error(400, "ThrottlingException", "slow"), ThrottledError),
        (_json_error(500, "InternalServerError", "oops"), TransientError),
        (_json_error(400, "ResourceNotFoundException", "gone"), NotFoundError),
        (_json_error(400, "AccessDeniedException", "no"), AccessDeniedError),
        (_json_error(400, "UnrecognizedClientException", "who"), CredentialsError),
        (_json_error(400, "ValidationException", "bad"), FatalError),
        (Canned(503, b"<html>busy</html>"), TransientError),
    ],
)
def test_wire_errors_map_to_error_classes(
    stub: StubServer, stub_session: SideSession, canned: Canned, expected: type[Exception]
) -> None:
    stub.responses = [canned]

    with pytest.raises(expected) as info:
        WireClient(stub_session).call("Scan", {"TableName": "t"})
    assert type(info.value) is expected


def test_wire_connection_refused_is_transient(aws_env: None) -> None:
    session = SideSession(Side(endpoint_url="http://127.0.0.1:1", region=LOCAL_REGION))

    with pytest.raises(TransientError):
        WireClient(session).call("Scan", {"TableName": "t"})


# ---------------------------------------------------------------------------------------------
# Control plane


def _create_rich_table(session: SideSession, name: str) -> None:
    client = session.client("dynamodb")
    projection = {"ProjectionType": "ALL"}
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "name", "KeyType": "HASH"},
            {"AttributeName": "city", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": attr, "AttributeType": "S"} for attr in ("name", "city", "zip")
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-zip",
                "KeySchema": [
                    {"AttributeName": "name", "KeyType": "HASH"},
                    {"AttributeName": "zip", "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-city",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": projection,
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
            }
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6},
        Tags=[{"Key": "team", "Value": "billing"}],
    )


@pytest.mark.integration
def test_read_schema_reports_indexes_ttl_tags_and_pitr(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    admin = DynamoAdmin(session)
    table = _unique("customer")
    _create_rich_table(session, table)
    admin.enable_ttl(table, "expires")
    admin.tag_table(table, [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(60)])
    admin.enable_pitr(table)

    schema = admin.read_schema(table)

    assert schema is not None
    assert schema.name == table
    assert schema.ttl_attribute == "expires"
    assert schema.pitr_enabled is True
    assert {"Key": "team", "Value": "billing"} in schema.tags
    assert len(schema.tags) == 61  # 60 added in two TagResource chunks, plus the first
    description = schema.description
    assert description["TableArn"].startswith(f"arn:aws:dynamodb:us-east-1:{SOURCE_ACCOUNT}:")
    assert [i["IndexName"] for i in description["GlobalSecondaryIndexes"]] == ["by-city"]
    assert [i["IndexName"] for i in description["LocalSecondaryIndexes"]] == ["by-zip"]
    assert description["ProvisionedThroughput"]["WriteCapacityUnits"] == 6
    assert isinstance(description["CreationDateTime"], str)
    orjson.dumps(description)  # JSON-safe all the way down


@pytest.mark.integration
def test_read_schema_of_a_plain_table(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    table = _unique("plain")
    _create_simple_table(session, table)

    schema = DynamoAdmin(session).read_schema(table)

    assert schema is not None
    assert (schema.ttl_attribute, schema.tags, schema.pitr_enabled) == (None, [], False)


@pytest.mark.integration
def test_create_table_and_wait_active(side_for: SideFor) -> None:
    session = open_side(side_for(DEST_ACCOUNT))
    admin = DynamoAdmin(session)
    table = _unique("created")
    request = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "B"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }

    admin.create_table(request)
    description = admin.wait_active(table, timeout=30)

    assert description["TableStatus"] == "ACTIVE"
    assert description["TableArn"].split(":")[4] == DEST_ACCOUNT
    assert admin.read_schema(table) is not None


@pytest.mark.integration
def test_create_of_an_existing_table_returns_for_the_caller_to_check(
    side_for: SideFor,
) -> None:
    # botocore retries a CreateTable whose answer was lost and meets ResourceInUse: that is
    # our own table. ddbmigrate.pipeline.ensure_table then checks the key of what it finds.
    session = open_side(side_for(DEST_ACCOUNT))
    table = _unique("twice")
    _create_simple_table(session, table)

    DynamoAdmin(session).create_table(
        {
            "TableName": table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    )

    schema = DynamoAdmin(session).read_schema(table)
    assert schema is not None
    assert schema.description["TableStatus"] == "ACTIVE"


def _describe_response(table: str, index_status: str, *, with_gsi: bool = True) -> Canned:
    description: dict[str, Any] = {"TableName": table, "TableStatus": "ACTIVE"}
    if with_gsi:  # AWS omits the key entirely when a table has no GSI
        description["GlobalSecondaryIndexes"] = [{"IndexName": "g", "IndexStatus": index_status}]
    return Canned(200, orjson.dumps({"Table": description}))


def test_wait_active_waits_for_every_gsi(stub: StubServer, stub_session: SideSession) -> None:
    stub.responses = [_describe_response("t", "CREATING"), _describe_response("t", "ACTIVE")]
    clock = FakeClock()

    description = DynamoAdmin(stub_session, clock=clock).wait_active("t", timeout=60)

    assert description["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert len(stub.requests) == 2
    assert len(clock.sleeps) == 1


def test_wait_active_without_gsi_key(stub: StubServer, stub_session: SideSession) -> None:
    stub.responses = [_describe_response("t", "", with_gsi=False)]

    description = DynamoAdmin(stub_session, clock=FakeClock()).wait_active("t", timeout=60)

    assert description["TableStatus"] == "ACTIVE"


def test_wait_active_times_out(stub: StubServer, stub_session: SideSession) -> None:
    stub.responses = [_describe_response("t", "CREATING")]
    clock = FakeClock()

    with pytest.raises(FatalError, match=r"not ACTIVE after 10 s.*index g CREATING"):
        DynamoAdmin(stub_session, clock=clock).wait_active("t", timeout=10)
    assert 10 <= clock.monotonic() <= 12


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (_json_error(400, "AccessDeniedException", "not authorized"), "denied"),
        (_json_error(400, "UnknownOperationException", ""), "unsupported"),
        (Canned(501, b"Not Implemented"), "unsupported"),
        (
            _json_error(400, "ValidationException", "This operation is not implemented"),
            "unsupported",
        ),
    ],
    ids=["denied", "unknown-operation", "http-501", "not-implemented"],
)
def test_an_optional_setting_that_cannot_be_read_is_left_unread(
    stub: StubServer, stub_session: SideSession, answer: Canned, kind: str
) -> None:
    """Tags denied or unknown to the endpoint: the schema is read without them, and says
    which call failed how (the run warns; --strict-settings stops)."""
    table = {
        "TableName": "t",
        "TableArn": "arn:aws:dynamodb:us-east-1:111111111111:table/t",
        "TableStatus": "ACTIVE",
    }
    ttl = {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    pitr = {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "ENABLED"},
        }
    }
    stub.responses = [
        Canned(200, orjson.dumps({"Table": table})),
        Canned(200, orjson.dumps(ttl)),
        answer,
        Canned(200, orjson.dumps(pitr)),
    ]

    found = DynamoAdmin(stub_session).read_schema("t")

    assert found is not None
    assert found.unread == {"tags": (kind, "ListTagsOfResource")}
    assert found.tags == []
    assert found.pitr_enabled is True


# ---------------------------------------------------------------------------------------------
# S3


@pytest.fixture
def dest_bucket(side_for: SideFor) -> str:
    bucket = _unique("staging")
    open_side(side_for(DEST_ACCOUNT)).client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.mark.integration
def test_s3_store_round_trip_across_accounts(side_for: SideFor, dest_bucket: str) -> None:
    writer_side = open_side(side_for(SOURCE_ACCOUNT))
    url = StoreURL.parse(f"s3://{dest_bucket}/migrations/run1/")
    store = S3Store(writer_side, url, expected_owner=DEST_ACCOUNT)

    store.put("b/two.json", b'{"n": 2}')
    store.put("a/one.json", b'{"n": 1}')
    store.put("a/zero.json", b"")

    assert store.root == f"s3://{dest_bucket}/migrations/run1"
    assert store.get("a/one.json") == b'{"n": 1}'
    assert store.get("a/zero.json") == b""
    assert list(store.list("")) == ["a/one.json", "a/zero.json", "b/two.json"]
    assert list(store.list("a/")) == ["a/one.json", "a/zero.json"]
    assert store.exists("b/two.json")
    assert not store.exists("b/three.json")
    store.delete("b/two.json")
    store.delete("b/never-was.json")
    assert not store.exists("b/two.json")
    owner_view = open_side(side_for(DEST_ACCOUNT)).client("s3")
    stored = owner_view.get_object(Bucket=dest_bucket, Key="migrations/run1/a/one.json")
    assert stored["Body"].read() == b'{"n": 1}'


@pytest.mark.integration
def test_s3_store_multipart_put(side_for: SideFor, dest_bucket: str) -> None:
    store = S3Store(
        open_side(side_for(SOURCE_ACCOUNT)),
        StoreURL.parse(f"s3://{dest_bucket}/big"),
        expected_owner=DEST_ACCOUNT,
    )
    data = bytes(range(256)) * (17 * 4096)  # 17 MiB: above the multipart threshold

    store.put("part.bin", data)

    assert store.get("part.bin") == data


@pytest.mark.integration
def test_s3_store_streams_a_large_object_in_parts_and_reads_it_back(
    side_for: SideFor, dest_bucket: str
) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    store = S3Store(
        session, StoreURL.parse(f"s3://{dest_bucket}/stream"), expected_owner=DEST_ACCOUNT
    )
    piece = bytes(range(256)) * 4096  # 1 MiB
    writer = store.open_write("data/part.json.gz")
    for _ in range(19):  # 19 MiB: two 8 MiB parts and a last one of 3 MiB
        writer.write(piece)
    assert not store.exists("data/part.json.gz"), "visible before commit"
    writer.commit()
    with store.open_read("data/part.json.gz") as file:
        assert file.read() == piece * 19
    s3 = session.client("s3")
    head = s3.head_object(Bucket=dest_bucket, Key="stream/data/part.json.gz")
    assert head["ETag"].endswith('-3"'), "a three-part multipart upload"


@pytest.mark.integration
def test_s3_store_aborted_stream_leaves_no_object_and_no_upload(
    side_for: SideFor, dest_bucket: str
) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    store = S3Store(
        session, StoreURL.parse(f"s3://{dest_bucket}/aborted"), expected_owner=DEST_ACCOUNT
    )
    writer = store.open_write("data/part.json.gz")
    writer.write(b"x" * (9 * 1024 * 1024))  # one part uploaded already
    writer.abort()
    assert not store.exists("data/part.json.gz")
    uploads = session.client("s3").list_multipart_uploads(Bucket=dest_bucket, Prefix="aborted/")
    assert not uploads.get("Uploads")
    small = store.open_write("data/small.json")
    small.write(b"{}")
    small.commit()  # under one part: a single PUT
    assert store.get("data/small.json") == b"{}"


@pytest.mark.integration
def test_s3_store_missing_object_names_the_url(side_for: SideFor, dest_bucket: str) -> None:
    url = StoreURL.parse(f"s3://{dest_bucket}/p")
    store = S3Store(open_side(side_for(SOURCE_ACCOUNT)), url, expected_owner=DEST_ACCOUNT)

    with pytest.raises(NotFoundError, match=f"s3://{dest_bucket}/p/nothing.json"):
        store.get("nothing.json")


@pytest.mark.integration
def test_check_bucket_and_probe_write(side_for: SideFor, dest_bucket: str) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    store = S3Store(session, StoreURL.parse(f"s3://{dest_bucket}/pre"), expected_owner=DEST_ACCOUNT)

    store.check_bucket()
    store.probe_write()

    assert list(store.list("")) == []  # the marker was removed again


@pytest.mark.integration
def test_check_bucket_missing(side_for: SideFor) -> None:
    session = open_side(side_for(SOURCE_ACCOUNT))
    store = S3Store(session, StoreURL.parse("s3://no-such-bucket-xyz/p"), expected_owner=None)

    with pytest.raises(StagingError, match="'no-such-bucket-xyz' does not exist"):
        store.check_bucket()


def test_check_bucket_wrong_owner(stub: StubServer, stub_session: SideSession) -> None:
    stub.responses = [_s3_error(403, "AccessDenied")]
    store = S3Store(stub_session, StoreURL.parse("s3://bkt/p"), expected_owner="222222222222")

    with pytest.raises(StagingError, match="not owned by account 222222222222") as info:
        store.check_bucket()

    assert info.value.hint
    method, path, headers = stub.requests[0]
    assert (method, path) == ("HEAD", "/bkt")  # path-style for a custom endpoint
    assert headers["x-amz-expected-bucket-owner"] == "222222222222"


def test_probe_write_denied_names_the_actions(stub: StubServer, stub_session: SideSession) -> None:
    stub.responses = [_s3_error(403, "AccessDenied")]
    store = S3Store(stub_session, StoreURL.parse("s3://bkt/mig"), expected_owner="222222222222")

    with pytest.raises(AccessDeniedError) as info:
        store.probe_write()

    hint = info.value.hint or ""
    assert "s3:PutObject" in hint
    assert "s3:PutObjectAcl" not in hint  # a canned ACL on a PUT is authorised as PutObject
    assert "arn:aws:s3:::bkt/mig/*" in hint
    _, path, headers = stub.requests[0]
    assert path.startswith("/bkt/mig/ddbmigrate/preflight/")
    assert headers["x-amz-acl"] == "bucket-owner-full-control"


def test_put_sends_owner_acl_and_encryption(stub: StubServer, stub_session: SideSession) -> None:
    stub.responses = [Canned(200, b"")]  # S3 answers PutObject with an empty body
    store = S3Store(
        stub_session,
        StoreURL.parse("s3://bkt"),
        expected_owner="222222222222",
        acl=None,
        sse="aws:kms",
        sse_kms_key_id="alias/k",
    )

    store.put("x.json", b"{}")

    _, path, headers = stub.requests[0]
    assert path == "/bkt/x.json"
    assert headers["x-amz-expected-bucket-owner"] == "222222222222"
    assert headers["x-amz-server-side-encryption"] == "aws:kms"
    assert headers["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/k"
    assert "x-amz-acl" not in headers


def _ownership(rule: str) -> Canned:
    body = (
        '<OwnershipControls xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
        f"<ObjectOwnership>{rule}</ObjectOwnership></Rule></OwnershipControls>"
    ).encode()
    return Canned(200, body, {"Content-Type": "application/xml"})


@pytest.mark.parametrize(
    ("answer", "needed"),
    [
        (_ownership("BucketOwnerEnforced"), False),
        (_ownership("BucketOwnerPreferred"), True),
        (_ownership("ObjectWriter"), True),
        (_s3_error(404, "OwnershipControlsNotFoundError"), True),
        (_s3_error(403, "AccessDenied"), True),
    ],
    ids=["enforced", "preferred", "writer", "no-controls", "denied"],
)
def test_an_acl_is_needed_unless_the_bucket_enforces_its_owner(
    stub: StubServer, stub_session: SideSession, answer: Canned, needed: bool
) -> None:
    stub.responses = [answer]

    assert acl_needed(stub_session, "bkt", owner="222222222222") is needed

    method, path, headers = stub.requests[0]
    assert (method, path) == ("GET", "/bkt?ownershipControls")
    assert headers["x-amz-expected-bucket-owner"] == "222222222222"


# ---------------------------------------------------------------------------------------------
# Translation of SDK exceptions


def _client_error(code: str, status: int, message: str = "m", op: str = "Scan") -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, op)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("SlowDown", 503), ThrottledError),
        (_client_error("RequestLimitExceeded", 400), ThrottledError),
        (_client_error("ServiceUnavailable", 503), TransientError),
        (_client_error("InternalError", 500), TransientError),
        (_client_error("NoSuchKey", 404), NotFoundError),
        (_client_error("404", 404), NotFoundError),
        (_client_error("ExpiredToken", 400), CredentialsError),
        (_client_error("ValidationException", 400), FatalError),
        (_client_error("SomethingNew", 400), FatalError),
        (EndpointConnectionError(endpoint_url="http://x"), TransientError),
        (NoCredentialsError(), CredentialsError),
    ],
)
def test_translate_maps_sdk_errors(exc: Exception, expected: type[Exception]) -> None:
    error = translate(exc, what="table 'customer'")

    assert type(error) is expected
    assert "table 'customer'" in str(error)


def test_access_denied_hint_names_the_refused_action() -> None:
    message = (
        "User: arn:aws:sts::111111111111:assumed-role/r/s is not authorized to perform: "
        "dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:111111111111:table/customer"
    )

    error = translate(_client_error("AccessDeniedException", 400, message), what="table 'c'")

    assert isinstance(error, AccessDeniedError)
    expected = (
        '{"Effect": "Allow", "Action": "dynamodb:Scan", '
        '"Resource": "arn:aws:dynamodb:us-east-1:111111111111:table/customer"}'
    )
    assert expected in (error.hint or "")


def test_validation_is_a_reject_only_where_the_caller_says_so() -> None:
    payload = {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "m"}

    assert type(from_wire_error(400, payload, what="t")) is FatalError
    assert type(from_wire_error(400, payload, what="t", rejected=True)) is RejectedItemError
