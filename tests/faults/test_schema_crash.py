"""A kill between CreateTable and each settings call resumes to the full schema.

CreateTable sets keys, billing, the GSI, the stream, deletion protection and tags; TTL and
point-in-time recovery need calls of their own after it. The proxy holds the chosen request
(CreateTable: after moto made the table, so the table exists but its answer never arrives;
a settings call: before moto sees it), the test SIGKILLs ``ddbmigrate migrate`` while it is
held, drops it, and runs the same command again. The destination is then read with boto3,
and every setting of the source must be there.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gated_proxy import GatedProxy

from cliprocess import BIN, cli_env
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_REGION, MotoServer

pytestmark = pytest.mark.faults

ITEMS = 20
TIMEOUT = 120.0
TAGS = [{"Key": "team", "Value": "billing"}, {"Key": "cost-centre", "Value": "42"}]


@pytest.fixture(scope="module")
def source(aws: LocalAWS) -> str:
    """A small table with every setting the schema copy copies."""
    name = f"schema-src-{uuid.uuid4().hex[:8]}"
    client = aws.client(SOURCE_ROLE, "dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "city", "AttributeType": "S"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 6},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-city",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        DeletionProtectionEnabled=True,
        Tags=TAGS,
    )
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    client.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    for n in range(ITEMS):
        client.put_item(
            TableName=name,
            Item={"pk": {"S": f"item-{n:03d}"}, "city": {"S": f"c{n % 3}"}, "n": {"N": str(n)}},
        )
    return name


@pytest.fixture(scope="module")
def proxy(moto_server: MotoServer) -> Iterator[GatedProxy]:
    with GatedProxy(moto_server.endpoint_url, seed=11) as gated:
        yield gated


def migrate_args(proxy: GatedProxy, source: str, dest: str, staging: Path) -> list[str]:
    return [
        "migrate",
        *("--source-role-arn", SOURCE_ROLE, "--dest-role-arn", DEST_ROLE),
        *("--source-endpoint-url", proxy.url, "--dest-endpoint-url", proxy.url),
        *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
        *("--source-table", source, "--dest-table", dest),
        *("--staging", str(staging), "--workers", "1", "--threads", "2", "--progress", "off"),
    ]


def dest_settings(aws: LocalAWS, table: str) -> dict[str, Any]:
    """What the destination has, read with boto3 (not with the tool's own admin code)."""
    client = aws.client(DEST_ROLE, "dynamodb")
    desc = client.describe_table(TableName=table)["Table"]
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    backups = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    tags = client.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"]
    return {
        "gsis": sorted(i["IndexName"] for i in desc.get("GlobalSecondaryIndexes") or []),
        "stream": (desc.get("StreamSpecification") or {}).get("StreamViewType"),
        "deletion_protection": bool(desc.get("DeletionProtectionEnabled")),
        "billing": (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
        "capacity": (
            desc["ProvisionedThroughput"]["ReadCapacityUnits"],
            desc["ProvisionedThroughput"]["WriteCapacityUnits"],
        ),
        "ttl": (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")),
        "pitr": backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "tags": sorted((t["Key"], t["Value"]) for t in tags),
    }


FULL_SCHEMA = {
    "gsis": ["by-city"],
    "stream": "NEW_AND_OLD_IMAGES",
    "deletion_protection": True,
    "billing": "PROVISIONED",
    "capacity": (7, 6),
    "ttl": ("ENABLED", "expires"),
    "pitr": "ENABLED",
    "tags": sorted((t["Key"], t["Value"]) for t in TAGS),
}


def dest_items(aws: LocalAWS, table: str) -> dict[str, dict[str, Any]]:
    client = aws.client(DEST_ROLE, "dynamodb")
    pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {item["pk"]["S"]: item for page in pages for item in page["Items"]}


@pytest.mark.parametrize(
    ("operation", "forward_first"),
    [
        ("CreateTable", True),
        ("UpdateTimeToLive", False),
        ("UpdateContinuousBackups", False),
    ],
    ids=["after-CreateTable", "before-TTL", "before-PITR"],
)
def test_a_kill_between_create_table_and_a_settings_call_resumes_to_the_full_schema(
    aws: LocalAWS,
    source: str,
    proxy: GatedProxy,
    tmp_path: Path,
    operation: str,
    forward_first: bool,
) -> None:
    dest = f"schema-{operation.lower()}-{uuid.uuid4().hex[:6]}"
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    args = migrate_args(proxy, source, dest, staging)
    proxy.arm(operation, forward_first=forward_first)
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
    killed = dest_settings(aws, dest)
    assert killed != FULL_SCHEMA  # the kill left the table short of its settings

    out = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )

    assert out.returncode == 0, out.stderr
    assert "resuming run" in out.stderr
    assert dest_settings(aws, dest) == FULL_SCHEMA
    assert "was created earlier in this run; applied what it lacked" in out.stdout + out.stderr
    got = dest_items(aws, dest)
    assert sorted(got) == [f"item-{n:03d}" for n in range(ITEMS)]
    for n in range(ITEMS):
        assert got[f"item-{n:03d}"] == {
            "pk": {"S": f"item-{n:03d}"},
            "city": {"S": f"c{n % 3}"},
            "n": {"N": str(n)},
        }
