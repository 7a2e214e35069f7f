"""The bridge past the stream's 24 hours through the installed command, over HTTP: the
source side talks to tests/integration/bridge_stub.py in front of moto (moto has no
incremental export and never trims a stream), which answers the replay's checkpoint with
TrimmedDataAccessException when told to and runs ExportTableToPointInTime INCREMENTAL_EXPORT
(every request checked against botocore's model). Tables are compared with
tests/itemcompare.py, straight to moto. moto only: dynalite has no DynamoDB Streams."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_stub import BridgeStub

from alltypes import create_source
from cliprocess import ddbmigrate, side_flags
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from itemcompare import assert_same_items, dynamodb_client
from livechanges import AFTER_CHANGES, SOURCE_ITEMS, changes, later_changes

pytestmark = pytest.mark.integration

TIMEOUT = 180.0
STREAM_EXIT = 7
"""cli/exit_codes.py ExitCode.STREAM, as the README's table documents it."""


@pytest.fixture(scope="module")
def aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def stub(aws: LocalAWS) -> Iterator[BridgeStub]:
    with BridgeStub(aws.endpoint_url, region=LOCAL_REGION, lag=3600.0, backdate=7200.0) as server:
        yield server
    assert server.invalid == []  # every export request the command sent fits the model


def sides(aws: LocalAWS, stub: BridgeStub) -> list[str]:
    return side_flags(stub.url, aws.endpoint_url)


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return ddbmigrate(*args, home=tmp_path, timeout=TIMEOUT)


def live_run(aws: LocalAWS, stub: BridgeStub, tmp_path: Path, *, pitr: bool) -> tuple[str, str]:
    """A source table (PITR as told), ``migrate --live``, changes, a ``sync`` that applies
    them (the checkpoint), then more changes: the table and the run id."""
    table = f"live-bridge-{uuid.uuid4().hex[:8]}"
    source = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
    create_source(source, table, items=SOURCE_ITEMS)
    if pitr:
        source.update_continuous_backups(
            TableName=table,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    args = ["--source-table", table, "--staging", staging(table), "--live"]
    done = run(["migrate", *sides(aws, stub), *args], tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    found = re.search(r"live run (\S+) follows", done.stdout)
    assert found, done.stdout
    said = "is on, so a replay left further behind is bridged" if pitr else "is off: the copy"
    assert f"point-in-time recovery {said}" in done.stderr  # the limit, before the copy
    for _ in changes(source, table):
        pass
    first = sync(aws, stub, table, found.group(1), tmp_path)  # checkpoints past those
    assert first.returncode == 0, first.stderr + first.stdout
    for _ in later_changes(source, table):  # the changes the stream will "lose"
        pass
    return table, found.group(1)


def staging(table: str) -> str:
    return f"s3://{BUCKET}/{table}/"


def sync(aws: LocalAWS, stub: BridgeStub, table: str, run_id: str, tmp_path: Path) -> Any:
    args = ["sync", run_id, *sides(aws, stub), "--staging", staging(table), "--until-caught-up"]
    return run(args, tmp_path)


def test_a_trimmed_checkpoint_is_bridged_by_an_incremental_export(
    aws: LocalAWS, stub: BridgeStub, tmp_path: Path
) -> None:
    table, run_id = live_run(aws, stub, tmp_path, pitr=True)
    stub.trim_next = 1  # the stream lost what the checkpoint points at

    done = sync(aws, stub, table, run_id, tmp_path)

    assert done.returncode == 0, done.stderr + done.stdout
    assert stub.trimmed == 1
    (request,) = stub.export_calls
    assert request["ExportType"] == "INCREMENTAL_EXPORT"
    assert request["IncrementalExportSpecification"]["ExportViewType"] == "NEW_IMAGE"
    assert request["S3BucketOwner"]  # the destination's bucket, as for --export-method native
    assert request["S3Prefix"].startswith(f"{table}/bridge/{run_id}/")
    applied = re.search(r"bridge +\S+ to \S+: (\d+) changes applied", done.stderr)
    assert applied, done.stderr
    assert int(applied.group(1)) > 0  # the stub's export held the "lost" changes
    assert "bridge         closed" in done.stderr
    cut = run(
        ["cutover", run_id, *sides(aws, stub), "--staging", staging(table), "--source-stopped"],
        tmp_path,
    )
    assert cut.returncode == 0, cut.stderr + cut.stdout
    assert "MATCH" in cut.stdout
    source = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
    dest = dynamodb_client(aws.endpoint_url, DEST_ROLE)
    assert_same_items(source, table, dest, table, count=AFTER_CHANGES)


def test_with_pitr_off_a_trimmed_checkpoint_exits_7_saying_the_changes_are_gone(
    aws: LocalAWS, stub: BridgeStub, tmp_path: Path
) -> None:
    table, run_id = live_run(aws, stub, tmp_path, pitr=False)
    stub.trim_next = 1

    done = sync(aws, stub, table, run_id, tmp_path)

    assert done.returncode == STREAM_EXIT, done.stderr + done.stdout
    assert "point-in-time recovery is off" in done.stderr
    assert "they are gone" in done.stderr
    assert "PointInTimeRecoveryEnabled=true" in done.stderr  # how to turn it on next time
    assert "Traceback" not in done.stderr
    assert stub.export_calls == []


def test_plan_live_says_the_limit_and_whether_the_tool_can_bridge(
    aws: LocalAWS, stub: BridgeStub, tmp_path: Path
) -> None:
    table = f"live-plan-{uuid.uuid4().hex[:8]}"
    source = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
    create_source(source, table, items=SOURCE_ITEMS)
    plan = ["plan", *sides(aws, stub)[:-2], "--source-table", table, "--live"]

    off = run(plan, tmp_path)
    source.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    on = run(plan, tmp_path)

    assert off.returncode == 0, off.stderr
    assert on.returncode == 0, on.stderr
    limit = re.search(
        r"limit +stream records live 24 hours and point-in-time recovery is off.*"
        r"\(the copy: ~\d+ min estimated\)",
        off.stdout,
    )
    assert limit, off.stdout
    assert "point-in-time recovery is on, so a replay left further behind is bridged" in on.stdout
    assert "live 24 hours" not in run(plan[:-1], tmp_path).stdout  # only with --live
