"""The live migration as a user runs it: the installed command against moto over HTTP,
``migrate --live`` while a writer changes the source, ``sync`` killed with SIGKILL and run
again, ``cutover --source-stopped``; both tables compared item by item by the test's own
comparison (tests/itemcompare.py). Staging is a local directory, so the test watches the
replay's checkpoints on disk (never a blind sleep). moto only: dynalite has no DynamoDB
Streams."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from alltypes import create_source
from cliprocess import BIN, cli_env, ddbmigrate, side_flags
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from itemcompare import assert_same_items, dynamodb_client
from livechanges import AFTER_CHANGES, SOURCE_ITEMS, Writer, changes, later_changes

pytestmark = pytest.mark.integration

TIMEOUT = 180.0
STREAM_EXIT = 7
"""cli/exit_codes.py ExitCode.STREAM, as the README's table documents it."""


@pytest.fixture(scope="module")
def aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


def sides(aws: LocalAWS) -> list[str]:
    return side_flags(aws.endpoint_url)


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return ddbmigrate(*args, home=tmp_path, timeout=TIMEOUT)


def migrate_live(aws: LocalAWS, table: str, staging: Path, tmp_path: Path) -> str:
    """``migrate --live``; the run id its last lines name."""
    done = run(
        ["migrate", *sides(aws), "--source-table", table, "--staging", str(staging), "--live"],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    found = re.search(r"live run (\S+) follows", done.stdout)
    assert found, done.stdout
    run_id = found.group(1)
    assert f"ddbmigrate sync {run_id}" in done.stdout
    assert f"ddbmigrate cutover {run_id} --source-stopped" in done.stdout
    return run_id


def cut_over(aws: LocalAWS, run_id: str, staging: Path, tmp_path: Path) -> str:
    done = run(
        ["cutover", run_id, *sides(aws), "--staging", str(staging), "--source-stopped"],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def clients(aws: LocalAWS) -> tuple[Any, Any]:
    return (
        dynamodb_client(aws.endpoint_url, SOURCE_ROLE),
        dynamodb_client(aws.endpoint_url, DEST_ROLE),
    )


def test_migrate_live_while_the_source_changes_then_cutover(aws: LocalAWS, tmp_path: Path) -> None:
    table = f"live-cli-{uuid.uuid4().hex[:8]}"
    source, dest = clients(aws)
    create_source(source, table, items=SOURCE_ITEMS)
    staging = tmp_path / "staging"
    writer = Writer(source, table, keep_going=True)
    writer.start()  # during preflight, export, import and the replay, until migrate ends

    run_id = migrate_live(aws, table, staging, tmp_path)
    writer.done()
    for _ in later_changes(source, table):  # after migrate ended: the cutover brings them
        pass
    status = run(["status", run_id, "--staging", str(staging)], tmp_path)
    figures = re.search(r"replay +(\d+) records applied, 1 shards open", status.stdout)
    assert figures, status.stdout
    assert int(figures.group(1)) > 0  # the writer kept going while migrate replayed
    # Between commands the run is live, and status names the two commands that go on.
    lines = status.stdout.splitlines()
    assert lines[0].startswith(f"{run_id}  migrate {table} -> {table}  live  ("), lines[0]
    nexts = {li.split()[0]: li.split(None, 1)[1] for li in lines if li.startswith("  ")}
    assert "resume" not in nexts
    assert nexts["sync"].startswith(f"ddbmigrate sync {run_id} --staging {staging} ")
    cutover = shlex.split(nexts["cutover"])
    assert cutover[:3] == ["ddbmigrate", "cutover", run_id]
    done = run(cutover[1:], tmp_path)  # the printed command, as a user pastes it
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout

    assert "MATCH" in out
    assert f"{AFTER_CHANGES}" in out
    assert_same_items(source, table, dest, table, count=AFTER_CHANGES)
    stream = source.describe_table(TableName=table)["Table"].get("StreamSpecification")
    assert not (stream or {}).get("StreamEnabled")  # the run enabled it, the cutover disabled it


def applied(staging: Path, run_id: str) -> int:
    """Records the replay's checkpoints say were applied (0 before the first)."""
    total = 0
    for path in (staging / "ddbmigrate" / "runs" / run_id / "stream").glob("*.json"):
        total += int(orjson.loads(path.read_bytes())["applied"])
    return total


def test_sync_killed_with_sigkill_then_run_again_ends_identical(
    aws: LocalAWS, tmp_path: Path
) -> None:
    table = f"live-kill-{uuid.uuid4().hex[:8]}"
    source, dest = clients(aws)
    create_source(source, table, items=SOURCE_ITEMS)
    staging = tmp_path / "staging"
    run_id = migrate_live(aws, table, staging, tmp_path)
    before = applied(staging, run_id)
    for _ in changes(source, table):
        pass
    sync = subprocess.Popen(
        [str(BIN), "sync", run_id, *sides(aws), "--staging", str(staging)],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches every thread
    )
    deadline = time.monotonic() + TIMEOUT
    while applied(staging, run_id) == before:
        assert time.monotonic() < deadline, "sync applied nothing"
        assert sync.poll() is None, sync.communicate()
        time.sleep(0.01)
    os.killpg(sync.pid, signal.SIGKILL)
    sync.communicate()
    assert sync.returncode == -signal.SIGKILL
    for _ in later_changes(source, table):
        pass

    again = run(
        ["sync", run_id, *sides(aws), "--staging", str(staging), "--until-caught-up"], tmp_path
    )
    assert again.returncode == 0, again.stderr + again.stdout
    assert "records applied" in again.stdout
    out = cut_over(aws, run_id, staging, tmp_path)

    assert "MATCH" in out
    assert_same_items(source, table, dest, table, count=AFTER_CHANGES)


def lock_holders(staging: Path) -> set[int]:
    """Pids in the plan locks under ``staging`` (a sync holds its run's)."""
    pids = set()
    for path in (staging / "ddbmigrate" / "locks").glob("*/*.json"):
        with contextlib.suppress(FileNotFoundError, orjson.JSONDecodeError):
            pids.add(int(orjson.loads(path.read_bytes())["pid"]))
    return pids


def test_sync_stopped_with_ctrl_c_exits_130_and_names_the_run(
    aws: LocalAWS, tmp_path: Path
) -> None:
    table = f"live-int-{uuid.uuid4().hex[:8]}"
    source, dest = clients(aws)
    create_source(source, table, items=SOURCE_ITEMS)
    staging = tmp_path / "staging"
    run_id = migrate_live(aws, table, staging, tmp_path)
    sync = subprocess.Popen(
        [str(BIN), "sync", run_id, *sides(aws), "--staging", str(staging)],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while sync.pid not in lock_holders(staging):  # following the stream, under the lock
        assert time.monotonic() < deadline, "sync never took the run's lock"
        assert sync.poll() is None, sync.communicate()
        time.sleep(0.01)
    sync.send_signal(signal.SIGINT)
    _, err = sync.communicate(timeout=TIMEOUT)

    assert sync.returncode == 130, err
    assert f"run the same command again to resume (run {run_id})" in err
    for _ in later_changes(source, table):
        pass
    assert "MATCH" in cut_over(aws, run_id, staging, tmp_path)
    assert_same_items(
        source, table, dest, table, count=SOURCE_ITEMS + 2
    )  # an upsert of new-1, "late"


def test_a_keys_only_stream_is_refused_with_its_exit_code(aws: LocalAWS, tmp_path: Path) -> None:
    table = f"live-keys-{uuid.uuid4().hex[:8]}"
    source, _ = clients(aws)
    create_source(source, table, items=2)
    source.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    staging = tmp_path / "staging"
    done = run(
        ["migrate", *sides(aws), "--source-table", table, "--staging", str(staging), "--live"],
        tmp_path,
    )
    assert done.returncode == STREAM_EXIT, done.stderr + done.stdout
    assert "KEYS_ONLY" in done.stderr
    assert "Traceback" not in done.stderr
    dest = dynamodb_client(aws.endpoint_url, DEST_ROLE)
    assert table not in dest.list_tables()["TableNames"]  # refused before the schema step
