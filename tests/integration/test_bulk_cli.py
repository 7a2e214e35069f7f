"""``--import-method bulk`` through the installed command, against the bulk stub in front of
moto (tests/integration/bulk_stub.py: every bulk request checked against botocore's model).

The source side talks to moto; the destination side to the stub, which forwards everything
but the four bulk operations to moto. Copies are judged with tests/itemcompare.py, straight
to moto, never with the tool's validator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from bulk_stub import BulkStub

from cliprocess import BIN, cli_env, ddbmigrate
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import Item
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.integration

TIMEOUT = 120.0
ITEMS: list[Item] = [
    {"pk": {"S": f"k{n:03d}"}, "n": {"N": str(n)}, "b": {"B": "AAEC"}} for n in range(40)
]


@pytest.fixture(scope="module")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def stub(local_aws: LocalAWS, aws_env: None) -> Iterator[BulkStub]:
    with BulkStub(local_aws.endpoint_url, region=LOCAL_REGION) as server:
        yield server
    assert server.invalid == []  # every request the command sent fits botocore's model


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def source_table(aws: LocalAWS, items: list[Item]) -> str:
    name = unique("bulk-src")
    client = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in items:
        client.put_item(TableName=name, Item=item)
    return name


def migrate_args(aws: LocalAWS, stub: BulkStub, source: str, dest: str, staging: str) -> list[str]:
    return [
        "migrate",
        *("--source-role-arn", SOURCE_ROLE, "--dest-role-arn", DEST_ROLE),
        *("--source-endpoint-url", aws.endpoint_url, "--dest-endpoint-url", stub.url),
        *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
        *("--source-table", source, "--dest-table", dest, "--staging", staging),
        *("--import-method", "bulk", "--workers", "1", "--progress", "off"),
    ]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return ddbmigrate(*args, home=tmp_path, timeout=TIMEOUT)


def staging_url() -> str:
    return f"s3://{BUCKET}/{unique('bulk')}/"


def test_migrate_by_bulk_makes_an_exact_copy(
    local_aws: LocalAWS, stub: BulkStub, tmp_path: Path
) -> None:
    source, dest = source_table(local_aws, ITEMS), unique("bulk-dst")

    done = run(migrate_args(local_aws, stub, source, dest, staging_url()), tmp_path)

    assert done.returncode == 0, done.stderr
    assert stub.starts() == 1
    start = next(p for name, p in stub.calls if name == "StartBulkPutItems")
    assert start["TableName"] == dest
    assert start["InputS3Configuration"]["InputFormat"] == "DYNAMODB_JSON"
    assert "bulk operation" in done.stderr
    assert "COMPLETED" in done.stderr
    client = dynamodb_client(local_aws.endpoint_url, SOURCE_ROLE)
    dest_client = dynamodb_client(local_aws.endpoint_url, DEST_ROLE)
    assert_same_items(client, source, dest_client, dest, count=len(ITEMS))


def test_completed_with_errors_exits_non_zero_and_lists_the_key(
    local_aws: LocalAWS, stub: BulkStub, tmp_path: Path
) -> None:
    """The stub refuses one item as DynamoDB refuses an invalid one (moto would accept it):
    the operation ends COMPLETED_WITH_ERRORS, its error report names the item, the run
    fails, and the run's rejects file lists the item's key."""
    source, dest = source_table(local_aws, ITEMS[:6]), unique("bulk-dst")
    stub.refuse[dest] = {"k003"}
    staging = staging_url()

    done = run(migrate_args(local_aws, stub, source, dest, staging), tmp_path)

    assert done.returncode == 1, done.stderr  # FatalError: RejectsError
    assert "COMPLETED_WITH_ERRORS" in done.stderr
    assert "rejected" in done.stderr
    assert "Traceback" not in done.stderr
    rejects = rejects_file(local_aws, staging)
    assert [r["item"]["pk"] for r in rejects] == [{"S": "k003"}], rejects


def rejects_file(aws: LocalAWS, staging: str) -> list[dict[str, Any]]:
    s3 = aws.client(DEST_ROLE, "s3")
    prefix = staging.removeprefix(f"s3://{BUCKET}/") + "ddbmigrate/runs/"
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        if o["Key"].endswith("/rejects.jsonl")
    ]
    assert len(keys) == 1, keys
    body = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    return [orjson.loads(line) for line in body.splitlines() if line.strip()]


def test_a_killed_bulk_run_resumes_by_re_attaching_to_its_operation(
    local_aws: LocalAWS, stub: BulkStub, tmp_path: Path
) -> None:
    source, dest = source_table(local_aws, ITEMS), unique("bulk-dst")
    stub.script[dest] = "hang"
    staging = staging_url()
    process = subprocess.Popen(
        [str(BIN), *migrate_args(local_aws, stub, source, dest, staging)],
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: any(name == "DescribeBulkOperation" for name, _ in stub.calls))
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
    stub.script[dest] = "complete"
    run_id = run_ids(local_aws, staging)[0]

    resumed = run(
        [
            "resume",
            run_id,
            *("--staging", staging, "--progress", "off"),
            *("--source-role-arn", SOURCE_ROLE, "--dest-role-arn", DEST_ROLE),
            *("--source-endpoint-url", local_aws.endpoint_url, "--dest-endpoint-url", stub.url),
            *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
        ],
        tmp_path,
    )

    assert resumed.returncode == 0, resumed.stderr
    assert stub.starts() <= 2  # a second StartBulkPutItems, if any, carried the same token
    tokens = {p["ClientToken"] for name, p in stub.calls if name == "StartBulkPutItems"}
    arns = {p["BulkOperationArn"] for name, p in stub.calls if name == "DescribeBulkOperation"}
    assert len(tokens) == 1
    assert len(arns) == 1
    client = dynamodb_client(local_aws.endpoint_url, SOURCE_ROLE)
    dest_client = dynamodb_client(local_aws.endpoint_url, DEST_ROLE)
    assert_same_items(client, source, dest_client, dest, count=len(ITEMS))


def run_ids(aws: LocalAWS, staging: str) -> list[str]:
    s3 = aws.client(DEST_ROLE, "s3")
    prefix = staging.removeprefix(f"s3://{BUCKET}/") + "ddbmigrate/runs/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    return sorted({k[len(prefix) :].split("/")[0] for k in keys if k.endswith("/run.json")})


def wait_for(condition: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_local_staging_is_refused_before_anything_moves_with_a_batch_hint(
    local_aws: LocalAWS, stub: BulkStub, tmp_path: Path
) -> None:
    source, dest = source_table(local_aws, ITEMS[:3]), unique("bulk-dst")
    staging = tmp_path / "staging"

    done = run(migrate_args(local_aws, stub, source, dest, str(staging)), tmp_path)

    assert done.returncode != 0
    assert "--import-method batch" in done.stderr
    assert "Traceback" not in done.stderr
    assert not staging.exists() or not any(staging.rglob("*.gz"))  # nothing exported
    assert stub.calls == []


def test_ctrl_c_cancels_the_operation_and_says_so(
    local_aws: LocalAWS, stub: BulkStub, tmp_path: Path
) -> None:
    source, dest = source_table(local_aws, ITEMS[:4]), unique("bulk-dst")
    stub.script[dest] = "hang"
    process = subprocess.Popen(
        [str(BIN), *migrate_args(local_aws, stub, source, dest, staging_url())],
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: any(name == "DescribeBulkOperation" for name, _ in stub.calls))

    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=TIMEOUT)

    assert process.returncode == 130, err
    assert [name for name, _ in stub.calls].count("CancelBulkOperation") == 1
    assert "CANCELLED after the interrupt" in err
    assert "Traceback" not in err
