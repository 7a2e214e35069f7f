"""An interrupted ``import`` resumes only onto what its first run resolved, and a resume
takes endpoints and roles from its own command, never from ``run.json``.

``ddbmigrate import`` of the newest export under a local staging directory is killed
(SIGKILL) while the proxy holds one of its BatchWriteItem requests; then either a newer
export appears (the same command must refuse, naming it) or the run's record is rewritten
to send the destination elsewhere (``ddbmigrate resume`` must not follow it).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from gated_proxy import GatedProxy

from cliprocess import BIN, cli_env
from ddbmigrate import api
from ddbmigrate.checkpoint import plan_hash
from ddbmigrate.local.env import SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY, MotoServer

pytestmark = pytest.mark.faults

TIMEOUT = 120.0
FIRST_ITEMS = 30
SEGMENTS = 3
OTHER_ACCOUNT_ROLE = "arn:aws:iam::333333333333:role/elsewhere"


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[GatedProxy]:
    with GatedProxy(moto_server.endpoint_url, seed=5) as gated:
        yield gated


def item(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"item-{n:03d}"}, "n": {"N": str(n)}}


def source_table(aws: LocalAWS, items: int) -> str:
    name = f"pins-src-{uuid.uuid4().hex[:8]}"
    client = aws.client(SOURCE_ROLE, "dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(items):
        client.put_item(TableName=name, Item=item(n))
    return name


def export(aws: LocalAWS, table: str, staging: Path) -> str:
    result = api.export(
        source=aws.source,
        table=table,
        staging=api.StagingOptions(url=str(staging)),
        segments=SEGMENTS,
        workers=1,
        threads=1,
    )
    return result.export_id


def import_args(proxy: GatedProxy, staging: Path, table: str) -> list[str]:
    """No role: the destination is the base credentials' own account of moto."""
    return [
        "import",
        f"{staging}/",
        *("--table", table, "--dest-endpoint-url", proxy.url, "--dest-region", LOCAL_REGION),
        *("--workers", "1", "--threads", "1", "--progress", "off"),
    ]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def killed_import(proxy: GatedProxy, args: list[str], env: dict[str, str]) -> None:
    """Start the import; SIGKILL it while its second BatchWriteItem is held; drop that."""
    proxy.arm("BatchWriteItem", skip=1)
    proc = subprocess.Popen(
        [str(BIN), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proxy.arrived.wait(TIMEOUT), proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
    finally:
        proxy.disarm()
    assert proc.returncode == -signal.SIGKILL


def dest_keys(aws: LocalAWS, table: str) -> list[str]:
    """The keys in ``table`` of moto's default account (the base credentials, no role)."""
    client = boto3.Session(
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        region_name=LOCAL_REGION,
    ).client("dynamodb", endpoint_url=aws.endpoint_url)
    pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return sorted(i["pk"]["S"] for page in pages for i in page["Items"])


def the_run(staging: Path) -> Path:
    runs = sorted(p for p in (staging / "ddbmigrate" / "runs").iterdir() if p.is_dir())
    imports = [
        p for p in runs if orjson.loads((p / "run.json").read_bytes())["command"] == "import"
    ]
    assert len(imports) == 1, runs
    return imports[0]


def test_a_resume_after_a_newer_export_appears_is_refused(
    aws: LocalAWS, proxy: GatedProxy, tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    table = source_table(aws, FIRST_ITEMS)
    first = export(aws, table, staging)
    dest = f"pins-dest-{uuid.uuid4().hex[:6]}"
    env = cli_env(tmp_path)
    args = import_args(proxy, staging, dest)
    killed_import(proxy, args, env)
    written = dest_keys(aws, dest)
    assert len(written) < FIRST_ITEMS  # interrupted mid-way
    client = aws.client(SOURCE_ROLE, "dynamodb")
    for n in range(FIRST_ITEMS, FIRST_ITEMS + 5):
        client.put_item(TableName=table, Item=item(n))
    newer = export(aws, table, staging)
    assert newer > first  # "the newest export" is now the second one

    out = run(args, env)

    assert out.returncode == 1, out.stderr
    assert "resuming run" in out.stderr
    assert "a newer export appeared" in out.stderr
    assert f"imports {staging}/AWSDynamoDB/{first}" in out.stderr
    assert f"SOURCE now resolves to {staging}/AWSDynamoDB/{newer}" in out.stderr
    assert "hint: to finish the import this run began, run the import again with SOURCE " in (
        out.stderr
    )
    assert "Traceback" not in out.stderr
    assert dest_keys(aws, dest) == written  # nothing of either export was written


def test_a_resume_ignores_the_endpoint_and_role_rewritten_in_run_json(
    aws: LocalAWS, proxy: GatedProxy, tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    table = source_table(aws, FIRST_ITEMS)
    export(aws, table, staging)
    dest = f"pins-dest-{uuid.uuid4().hex[:6]}"
    env = cli_env(tmp_path)
    killed_import(proxy, import_args(proxy, staging, dest), env)
    # What a source role that can write the staging store could do: point the recorded
    # destination at its own endpoint and account, and recompute the unkeyed plan hash.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused = f"http://127.0.0.1:{probe.getsockname()[1]}"
    run_dir = the_run(staging)
    record = orjson.loads((run_dir / "run.json").read_bytes())
    assert record["plan"]["dest"]["endpoint_url"] == proxy.url
    record["plan"]["dest"].update(endpoint_url=unused, role_arn=OTHER_ACCOUNT_ROLE)
    record["plan_hash"] = plan_hash(record["plan"])
    (run_dir / "run.json").write_bytes(orjson.dumps(record))
    # The resuming command names its endpoint the AWS way (environment) and no role.
    env.update(AWS_ENDPOINT_URL=proxy.url)

    out = run(
        [
            *("resume", run_dir.name, "--staging", f"{staging}/"),
            *("--dest-region", LOCAL_REGION, "--workers", "1", "--progress", "off"),
        ],
        env,
    )

    assert out.returncode == 0, out.stderr
    assert (
        f"note: the run recorded dest role_arn={OTHER_ACCOUNT_ROLE}, endpoint_url={unused}; "
        "this command's role_arn=(none), endpoint_url=(none) is used" in out.stderr
    )
    assert f"resuming import run {run_dir.name}: SOURCE {staging}/ -> destination table " in (
        out.stderr
    )
    assert dest_keys(aws, dest) == [f"item-{n:03d}" for n in range(FIRST_ITEMS)]
    other = aws.client(OTHER_ACCOUNT_ROLE, "dynamodb")
    assert dest not in other.list_tables()["TableNames"]
