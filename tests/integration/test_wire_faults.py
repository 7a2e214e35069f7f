"""Both data planes against a DynamoDB that misbehaves on the wire.

A tiny HTTP server on loopback (``dynamo_stub``) plays DynamoDB and answers each operation
from a script: bodies that are not JSON, a damaged ``x-amz-crc32``, DynamoDB error JSON, a
body cut short, a connection reset. Each must become the right ``ddbmigrate.errors`` class,
be retried by the one retry policy when it is transient, and never turn into items. The
readers and writers run on the lean wire client and on boto3 (``aws.boto3_plane``), which
must behave the same. The last tests run ``ddbmigrate export`` against the same stub.
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from dynamo_stub import DynamoStub, Fault, Reply, bad_crc, crc, error, ok, raw

from ddbmigrate.aws.boto3_plane import Boto3TableReader, Boto3TableWriter
from ddbmigrate.aws.dynamodb import DynamoTableReader, DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.cli.app import main
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.config import Side
from ddbmigrate.errors import (
    AccessDeniedError,
    DdbMigrateError,
    FatalError,
    NotFoundError,
    RejectedItemError,
    ThrottledError,
    TransientError,
)
from ddbmigrate.local.server import LOCAL_REGION
from ddbmigrate.model import Item, Segment
from ddbmigrate.ports import ScanPage, TableReader, TableWriter, Unlimited
from ddbmigrate.retry import RetryPolicy, call_with_retry, metered
from ddbmigrate.testing import FakeClock

TABLE = "customer"
ITEMS: list[Item] = [
    {"name": {"S": "ann"}, "n": {"N": "1.50"}, "b": {"B": "AAH/"}},
    {"name": {"S": "bo"}, "ss": {"SS": ["x", "y"]}},
]
PAGE = {"Items": ITEMS, "Count": 2, "ScannedCount": 2, "ConsumedCapacity": {"CapacityUnits": 1.5}}
POLICY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.001)


@pytest.fixture
def stub(aws_env: None) -> Iterator[DynamoStub]:
    server = DynamoStub()
    yield server
    server.close()


@pytest.fixture
def session(stub: DynamoStub) -> SideSession:
    """Env credentials, a Side whose endpoint is the stub."""
    return SideSession(Side(endpoint_url=stub.url, region=LOCAL_REGION))


@pytest.fixture
def wire(session: SideSession) -> Iterator[WireClient]:
    client = WireClient(session)
    yield client
    client.close()


@pytest.fixture(params=["wire", "boto3"])
def reader(request: pytest.FixtureRequest, session: SideSession) -> Iterator[TableReader]:
    if request.param == "boto3":
        yield Boto3TableReader(session, TABLE)
        return
    client = WireClient(session)
    yield DynamoTableReader(client, TABLE)
    client.close()


@pytest.fixture(params=["wire", "boto3"])
def writer(request: pytest.FixtureRequest, session: SideSession) -> Iterator[TableWriter]:
    if request.param == "boto3":
        yield Boto3TableWriter(session, TABLE)
        return
    client = WireClient(session)
    yield DynamoTableWriter(client, TABLE)
    client.close()


def retried(fn: Callable[[], Any], clock: FakeClock | None = None) -> Any:
    return call_with_retry(fn, policy=POLICY, clock=clock or FakeClock(), rng=random.Random(7))


def scan(reader: TableReader) -> ScanPage:
    return reader.scan(segment=Segment(0, 1))


NOT_JSON = [
    pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="html"),
    pytest.param(b"", id="empty"),
    pytest.param(b'{"Items": [{"name": {"S": "ann"}}', id="cut-json"),
    pytest.param(b"[]", id="json-array"),
    pytest.param(b'"Items"', id="json-string"),
]


# ---------------------------------------------------------------------------------------------
# (a) 200 with a body that is not a DynamoDB JSON object


@pytest.mark.parametrize("body", NOT_JSON)
def test_a_200_that_is_not_json_is_transient_and_names_the_endpoint(
    stub: DynamoStub, wire: WireClient, body: bytes
) -> None:
    stub.script("Scan", raw(body))

    with pytest.raises(TransientError, match="not a JSON object") as info:
        wire.call("Scan", {"TableName": TABLE})

    assert stub.url in info.value.message
    assert type(info.value) is TransientError


@pytest.mark.parametrize("body", NOT_JSON)
def test_a_200_that_is_not_json_fails_loudly_after_every_attempt(
    stub: DynamoStub, reader: TableReader, body: bytes
) -> None:
    stub.script("Scan", raw(body))
    clock = FakeClock()
    pages: list[ScanPage] = []

    with pytest.raises(TransientError, match=f"table '{TABLE}'.*not a JSON object"):
        pages.append(retried(lambda: scan(reader), clock))

    assert pages == []
    assert stub.count("Scan") == POLICY.max_attempts
    assert len(clock.sleeps) == POLICY.max_attempts - 1


def test_a_200_that_is_not_json_once_is_followed_by_the_real_page(
    stub: DynamoStub, reader: TableReader
) -> None:
    stub.script("Scan", raw(b"<html>busy</html>"), ok(PAGE))

    page = retried(lambda: scan(reader))

    assert page.items == ITEMS
    assert stub.count("Scan") == 2


# ---------------------------------------------------------------------------------------------
# (b) a damaged x-amz-crc32


def test_a_wrong_crc32_is_transient_and_says_so(stub: DynamoStub, reader: TableReader) -> None:
    stub.script("Scan", bad_crc(PAGE))

    with pytest.raises(TransientError, match="CRC32") as info:
        scan(reader)

    assert "damaged in transit" in info.value.message
    assert type(info.value) is TransientError


def test_a_wrong_crc32_is_retried_until_a_good_answer(
    stub: DynamoStub, reader: TableReader
) -> None:
    stub.script("Scan", bad_crc(PAGE), bad_crc(PAGE), ok(PAGE))
    clock = FakeClock()

    page = retried(lambda: scan(reader), clock)

    assert page.items == ITEMS
    assert page.consumed == 1.5
    assert stub.count("Scan") == 3
    assert len(clock.sleeps) == 2


def test_a_crc32_that_stays_wrong_fails_loudly_through_metered(
    stub: DynamoStub, reader: TableReader
) -> None:
    stub.script("Scan", bad_crc(PAGE))
    pages: list[ScanPage] = []

    with pytest.raises(TransientError, match="CRC32"):
        pages.append(
            metered(
                lambda: scan(reader),
                budget=Unlimited(),
                expected=1.0,
                consumed=lambda p: p.consumed,
                policy=POLICY,
                clock=FakeClock(),
                rng=random.Random(7),
            )
        )

    assert pages == []
    assert stub.count("Scan") == POLICY.max_attempts


def test_a_wrong_crc32_on_an_error_body_is_transient_too(
    stub: DynamoStub, writer: TableWriter
) -> None:
    # The checksum is checked before the status: a damaged error body must not become a
    # fatal error (or a reject) that the run would stop on.
    body = orjson.dumps({"__type": "ValidationException", "message": "damaged"})
    stub.script("BatchWriteItem", Reply(400, body, {"x-amz-crc32": "1"}))

    with pytest.raises(TransientError, match="CRC32"):
        writer.batch_write([{"PutRequest": {"Item": ITEMS[0]}}])


# ---------------------------------------------------------------------------------------------
# (c) DynamoDB error JSON


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (error(400, "ResourceNotFoundException", "Requested resource not found"), NotFoundError),
        (error(400, "ValidationException", "One or more parameter values"), FatalError),
        (error(400, "AccessDeniedException", "not authorized"), AccessDeniedError),
        (error(400, "ProvisionedThroughputExceededException", "slow down"), ThrottledError),
        (error(400, "ThrottlingException", "slow down"), ThrottledError),
        (error(500, "InternalServerError", "oops"), TransientError),
        (raw(b"<html>bad gateway</html>", status=502), TransientError),
    ],
)
def test_scan_errors_map_to_their_classes(
    stub: DynamoStub, reader: TableReader, reply: Reply, expected: type[Exception]
) -> None:
    stub.script("Scan", reply)

    with pytest.raises(DdbMigrateError) as info:
        scan(reader)

    assert type(info.value) is expected
    assert f"'{TABLE}'" in info.value.message


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (error(400, "ValidationException", "Item size has exceeded the limit"), RejectedItemError),
        (error(400, "ResourceNotFoundException", "Requested resource not found"), NotFoundError),
        (error(400, "ProvisionedThroughputExceededException", "slow down"), ThrottledError),
    ],
)
def test_batch_write_errors_map_to_their_classes(
    stub: DynamoStub, writer: TableWriter, reply: Reply, expected: type[Exception]
) -> None:
    stub.script("BatchWriteItem", reply)

    with pytest.raises(DdbMigrateError) as info:
        writer.batch_write([{"PutRequest": {"Item": ITEMS[0]}}])

    assert type(info.value) is expected


def test_error_message_and_code_reach_the_user(stub: DynamoStub, writer: TableWriter) -> None:
    stub.script("BatchWriteItem", error(400, "ValidationException", "Item size has exceeded"))

    with pytest.raises(RejectedItemError) as info:
        writer.batch_write([{"PutRequest": {"Item": ITEMS[0]}}])

    assert "ValidationException: Item size has exceeded" in info.value.message
    assert info.value.hint is not None


def test_fatal_errors_are_not_retried(stub: DynamoStub, reader: TableReader) -> None:
    stub.script("Scan", error(400, "ResourceNotFoundException", "gone"), ok(PAGE))

    with pytest.raises(NotFoundError):
        retried(lambda: scan(reader))

    assert stub.count("Scan") == 1


def test_throttling_is_retried_until_it_passes(stub: DynamoStub, writer: TableWriter) -> None:
    throttled = error(400, "ProvisionedThroughputExceededException", "slow down")
    stub.script("BatchWriteItem", throttled, throttled, ok({"UnprocessedItems": {}}))

    result = retried(lambda: writer.batch_write([{"PutRequest": {"Item": ITEMS[0]}}]))

    assert result.unprocessed == []
    assert stub.count("BatchWriteItem") == 3


# ---------------------------------------------------------------------------------------------
# (d) a body cut short, a connection dropped


# What each plane says: urllib3 under the wire client, botocore (and boto3_plane) otherwise.
SYMPTOMS = {
    "truncate": ("IncompleteRead", "cut short: 88 of 176 bytes"),
    "drop": ("Connection reset", "Connection was closed before we received a valid response"),
}


@pytest.mark.parametrize("fault", ["truncate", "drop"])
def test_a_broken_answer_is_transient(stub: DynamoStub, reader: TableReader, fault: Fault) -> None:
    stub.script("Scan", Reply(200, orjson.dumps(PAGE), fault=fault))

    with pytest.raises(TransientError) as info:
        scan(reader)

    assert f"'{TABLE}'" in info.value.message
    # The fault really was the one intended, not some other failure.
    assert any(symptom in info.value.message for symptom in SYMPTOMS[fault]), info.value
    assert type(info.value) is TransientError


@pytest.mark.parametrize("fault", ["truncate", "drop"])
def test_a_broken_answer_is_retried_until_a_good_one(
    stub: DynamoStub, reader: TableReader, fault: Fault
) -> None:
    broken = Reply(200, orjson.dumps(PAGE), {"x-amz-crc32": crc(orjson.dumps(PAGE))}, fault)
    stub.script("Scan", broken, broken, ok(PAGE))

    page = retried(lambda: scan(reader))

    assert page.items == ITEMS
    assert stub.count("Scan") == 3


def test_a_body_cut_short_without_a_length_is_not_json(
    stub: DynamoStub, reader: TableReader
) -> None:
    # What a proxy that lost the rest of the body would pass on with its own, matching CRC.
    body = orjson.dumps(PAGE)
    stub.script("Scan", raw(body[: len(body) // 2]))

    with pytest.raises(TransientError, match="not a JSON object"):
        scan(reader)


# ---------------------------------------------------------------------------------------------
# `ddbmigrate export` against the stub: through main() in this process, and installed

BIN = Path(sys.executable).parent / "ddbmigrate"
DESCRIPTION = {
    "TableName": TABLE,
    "TableArn": f"arn:aws:dynamodb:{LOCAL_REGION}:111111111111:table/{TABLE}",
    "TableStatus": "ACTIVE",
    "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"}],
    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
    "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
    "TableSizeBytes": 100,
    "ItemCount": 2,
    "CreationDateTime": 1767225600.0,
}
CONTROL_PLANE = {
    # What `export` asks before it scans (found through DynamoStub.unknown).
    "DescribeTable": ok({"Table": DESCRIPTION}),
    "DescribeTimeToLive": ok({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    "ListTagsOfResource": ok({"Tags": []}),
    "DescribeContinuousBackups": ok(
        {
            "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
            }
        }
    ),
}


def export_args(stub: DynamoStub, staging: Path) -> list[str]:
    for operation, reply in CONTROL_PLANE.items():
        stub.script(operation, reply)
    return [
        "export",
        "--source-table",
        TABLE,
        "--source-endpoint-url",
        stub.url,
        "--source-region",
        LOCAL_REGION,
        "--segments",
        "1",
        "--workers",
        "1",
        "--staging",
        str(staging),
        "--progress",
        "off",
    ]


def exported_items(staging: Path) -> list[Item]:
    items: list[Item] = []
    for part in sorted(staging.glob("AWSDynamoDB/*/data/*.json.gz")):
        lines = gzip.decompress(part.read_bytes()).splitlines()
        items.extend(orjson.loads(line)["Item"] for line in lines)
    return items


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(raw(b"<html>502 Bad Gateway</html>"), id="not-json"),
        pytest.param(bad_crc(PAGE), id="bad-crc"),
    ],
)
def test_export_fails_loudly_and_writes_no_data(
    stub: DynamoStub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reply: Reply,
) -> None:
    # The tool's own policy (every attempt), without its backoff waits (up to 25 s in all).
    monkeypatch.setattr(RetryPolicy, "delay", lambda *_: 0.0)
    stub.script("Scan", reply)

    code = main(export_args(stub, tmp_path))

    out = capsys.readouterr()
    assert stub.unknown == []
    assert code == ExitCode.TRANSIENT, out.err  # AWS kept failing after every retry
    assert "Traceback" not in out.err + out.out
    errors = [line for line in out.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.err
    assert f"table '{TABLE}'" in errors[0]
    assert ("not a JSON object" in errors[0]) or ("CRC32" in errors[0])
    assert stub.count("Scan") == RetryPolicy().max_attempts
    assert exported_items(tmp_path) == []
    assert list(tmp_path.glob("AWSDynamoDB/*/manifest-summary.json")) == []


@pytest.mark.cli
def test_installed_export_retries_a_damaged_page_and_writes_the_right_one(
    stub: DynamoStub, tmp_path: Path
) -> None:
    stub.script("Scan", bad_crc(PAGE), raw(b"<html>busy</html>"), ok(PAGE))
    command = [str(BIN), *export_args(stub, tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDBMIGRATE_")}

    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert out.returncode == ExitCode.OK, out.stderr
    assert stub.unknown == []
    assert stub.count("Scan") == 3
    assert exported_items(tmp_path) == ITEMS
    assert len(list(tmp_path.glob("AWSDynamoDB/*/manifest-summary.json"))) == 1
