"""``import --boost`` through the installed command on moto: a 5 WCU provisioned table is
raised for the run and restored after it; after a SIGKILL while it is raised, ``resume``
restores it (and finishes the import).

The destination is reached through a gated proxy (tests/faults/gated_proxy.py) that can hold
the first BatchWriteItem, so the test reads the table's capacity with DescribeTable while
the run is inside its boost. Staging is a local folder: the run's boost journal
(``ddbmigrate/runs/<run-id>/boost/``) is read there without any AWS call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from gated_proxy import GatedProxy
from helpers import create_filled_table, local_keys

from cliprocess import BIN, cli_env, ddbmigrate
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_REGION
from ddbmigrate.model import Item
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.faults

TIMEOUT = 120.0
ITEMS: list[Item] = [{"pk": {"S": f"k{n:03d}"}, "n": {"N": str(n)}} for n in range(30)]


@pytest.fixture
def proxy(aws: LocalAWS) -> Iterator[GatedProxy]:
    with GatedProxy(aws.endpoint_url, seed=16) as gated:
        yield gated
        gated.disarm()


def exported(aws: LocalAWS, tmp_path: Path) -> tuple[str, Path]:
    """A source table and its export in a local folder, made by the command itself."""
    source = f"boost-src-{uuid.uuid4().hex[:8]}"
    create_filled_table(aws, source, ITEMS)
    staging = tmp_path / "staging"
    done = run(
        [
            "export",
            *("--table", source, "--staging", str(staging), "--progress", "off"),
            *("--source-role-arn", SOURCE_ROLE, "--source-endpoint-url", aws.endpoint_url),
            *("--source-region", LOCAL_REGION),
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return source, staging


def provisioned_table(aws: LocalAWS) -> str:
    name = f"boost-dst-{uuid.uuid4().hex[:8]}"
    with local_keys():
        aws.client(DEST_ROLE, "dynamodb").create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        )
    return name


def write_units(aws: LocalAWS, table: str) -> int:
    with local_keys():
        described = aws.client(DEST_ROLE, "dynamodb").describe_table(TableName=table)["Table"]
    return int(described["ProvisionedThroughput"]["WriteCapacityUnits"])


def dest_flags(proxy: GatedProxy) -> list[str]:
    return [
        *("--dest-role-arn", DEST_ROLE, "--dest-endpoint-url", proxy.url),
        *("--dest-region", LOCAL_REGION),
    ]


def import_args(staging: Path, table: str, proxy: GatedProxy) -> list[str]:
    flags = ["--table", table, "--boost", "100", "--progress", "off", *dest_flags(proxy)]
    return ["import", str(staging), *flags]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return ddbmigrate(*args, home=tmp_path, timeout=TIMEOUT)


def journals(staging: Path) -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in staging.glob("ddbmigrate/runs/*/boost/*.json")]


def assert_copied(aws: LocalAWS, source: str, dest: str) -> None:
    with local_keys():
        source_client = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
        dest_client = dynamodb_client(aws.endpoint_url, DEST_ROLE)
        assert_same_items(source_client, source, dest_client, dest, count=len(ITEMS))


def test_import_boost_raises_for_the_run_and_restores_after(
    aws: LocalAWS, proxy: GatedProxy, tmp_path: Path
) -> None:
    source, staging = exported(aws, tmp_path)
    dest = provisioned_table(aws)
    proxy.arm("BatchWriteItem", forward_first=True)  # held once, then answered by a retry

    process = subprocess.Popen(
        [str(BIN), *import_args(staging, dest, proxy)],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.arrived.wait(TIMEOUT), "no BatchWriteItem reached the proxy"
        during = write_units(aws, dest)
        [journal] = journals(staging)
    finally:
        proxy.disarm()
    out, err = process.communicate(timeout=TIMEOUT)

    assert process.returncode == 0, err
    assert during == 100
    assert journal["state"] == "raised"
    assert journal["record"]["provisioned"][""] == [5, 5]  # what the restore goes back to
    assert write_units(aws, dest) == 5
    assert [j["state"] for j in journals(staging)] == ["restored"]
    assert "read 5 write 5 -> read 5 write 100" in err
    assert "restored to what was recorded" in err
    assert_copied(aws, source, dest)
    del out


@pytest.mark.parametrize("command", ["resume", "cleanup"])
def test_a_sigkill_while_boosted_then_resume_or_cleanup_restores(
    aws: LocalAWS, proxy: GatedProxy, tmp_path: Path, command: str
) -> None:
    source, staging = exported(aws, tmp_path)
    dest = provisioned_table(aws)
    proxy.arm("BatchWriteItem")
    process = subprocess.Popen(
        [str(BIN), *import_args(staging, dest, proxy)],
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the workers die with it
    )
    try:
        assert proxy.arrived.wait(TIMEOUT), "no BatchWriteItem reached the proxy"
        assert write_units(aws, dest) == 100
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
        proxy.disarm()
    assert write_units(aws, dest) == 100  # nobody restored it: the process is gone
    run_id = next(
        p.parent.name
        for p in staging.glob("ddbmigrate/runs/*/run.json")
        if orjson.loads(p.read_bytes())["command"] == "import"
    )

    again = [command, run_id, "--staging", str(staging), *dest_flags(proxy)]
    more = ["--yes"] if command == "cleanup" else ["--progress", "off"]

    done = run([*again, *more], tmp_path)

    assert "restored to what was recorded" in done.stderr
    assert write_units(aws, dest) == 5
    assert [j["state"] for j in journals(staging)] == ["restored"]
    if command == "resume":
        assert done.returncode == 0, done.stderr
        assert_copied(aws, source, dest)
    else:  # the unfinished run's data stays: a resume needs it
        assert done.returncode == 2, done.stderr
        assert "has not finished" in done.stderr


def test_migrate_boosts_both_sides_for_their_steps_and_restores_both(
    aws: LocalAWS, tmp_path: Path
) -> None:
    source = f"boost-src-{uuid.uuid4().hex[:8]}"
    with local_keys():
        client = aws.client(SOURCE_ROLE, "dynamodb")
        client.create_table(
            TableName=source,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        )
        for item in ITEMS:
            client.put_item(TableName=source, Item=item)
    dest = f"boost-dst-{uuid.uuid4().hex[:8]}"
    staging = tmp_path / "staging"

    done = run(
        [
            "migrate",
            *("--source-table", source, "--dest-table", dest, "--staging", str(staging)),
            *("--source-role-arn", SOURCE_ROLE, "--source-endpoint-url", aws.endpoint_url),
            *("--dest-role-arn", DEST_ROLE, "--dest-endpoint-url", aws.endpoint_url),
            *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
            *("--boost", "100", "--boost-source", "50", "--progress", "off"),
        ],
        tmp_path,
    )

    assert done.returncode == 0, done.stderr
    lines = [line.split("] ", 1)[-1] for line in done.stderr.splitlines()]
    assert (
        "boost source: raised table "
        + repr(source)
        + (" provisioned: read 5 write 5 -> read 50 write 5")
        in lines
    )
    assert f"boost dest: raised table {dest!r} provisioned: read 5 write 5 -> read 5 write 100" in (
        lines
    )
    assert sum("restored to what was recorded" in line for line in lines) == 2
    with local_keys():
        for role, table in ((SOURCE_ROLE, source), (DEST_ROLE, dest)):
            described = aws.client(role, "dynamodb").describe_table(TableName=table)["Table"]
            assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
            assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 5
    assert sorted(j["side"] for j in journals(staging)) == ["dest", "source"]
    assert_copied(aws, source, dest)
