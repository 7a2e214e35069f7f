"""A live run's replay SIGKILLed at named points, then run again: the tables end identical
and no key's writes ever left the stream's order.

The installed command runs against moto through the replay proxy (tests/faults/
replay_proxy.py), staging on S3 through it too, so every step of the replay is a request the
proxy can hold: the stream read (GetRecords), a batch in the middle of a page
(BatchWriteItem), the checkpoint (the S3 PUT of the shard's mark), held before it takes
effect or after, and the cutover's sentinel (its BatchWriteItem to the source). While the
request is held the test checks that the replay is where the point says (what the
destination holds, which checkpoint S3 holds), SIGKILLs the command's process group,
changes the source again (puts, updates, deletes, two updates of one item in the same
second, a delete then a re-insert), runs ``sync --until-caught-up`` and ``cutover``, and
compares both tables item by item (tests/itemcompare.py). A ``migrate --live`` killed in
its replay is finished by the ``sync`` command ``status`` prints (the copy is done: the run is
live, between commands).

Order is judged from the proxy's log of each process: the records the stream answered and
the writes sent to the destination, key by key (``replay_proxy.order_problems``). The rerun
must start at the checkpoint S3 held when the command died (docs/adr/0047). moto only:
dynalite has no DynamoDB Streams.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from replay_proxy import (
    Call,
    Logged,
    ReplayProxy,
    iterators,
    order_problems,
    sequences,
    write_of,
)

from alltypes import create_source
from cliprocess import BIN, cli_env
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from itemcompare import assert_same_items, differences, dynamodb_client, scan_all
from livechanges import SOURCE_ITEMS, changes

pytestmark = pytest.mark.faults

TIMEOUT = 180.0
KEY = ("pk", "sk")
AFTER_KILL_RECORDS = 7
"""Stream records ``after_kill`` makes."""
FINAL_ITEMS = SOURCE_ITEMS + 1 + 30 - 10 + 1 - 1
"""The source at the end: one warm-up put; ``changes``' 30 puts and 10 deletes; after the
kill one put and one delete (the re-inserted and updated items stay)."""


@pytest.fixture(scope="module")
def moto(moto_server: MotoServer) -> MotoServer:
    bootstrap(LocalAWS(endpoint_url=moto_server.endpoint_url))  # roles and staging bucket
    return moto_server


@dataclass(frozen=True, slots=True)
class Live:
    """One live run through the proxy, and the test's own clients straight to moto."""

    proxy: ReplayProxy
    source_table: str
    dest_table: str
    prefix: str
    env: dict[str, str]
    source: Any
    dest: Any
    s3: Any
    run_id: str = ""

    @property
    def staging(self) -> str:
        return f"s3://{BUCKET}/{self.prefix}/"

    def args(self) -> list[str]:
        """Roles, endpoints (the proxy) and staging, as every command of the run takes them."""
        url = self.proxy.url
        return [
            *("--source-role-arn", SOURCE_ROLE, "--dest-role-arn", DEST_ROLE),
            *("--source-endpoint-url", url, "--dest-endpoint-url", url),
            *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
            *("--staging", self.staging, "--progress", "off"),
        ]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(BIN), *args, *self.args()],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done

    def checkpoint(self) -> str | None:
        """The sequence number the shard's checkpoint in S3 names (one shard: moto's)."""
        prefix = f"{self.prefix}/ddbmigrate/runs/{self.run_id}/stream/"
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        marks = [self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed]
        assert len(marks) <= 1, marks
        return orjson.loads(marks[0])["sequence"] if marks else None

    def has(self, pk: str, sk: int) -> bool:
        key = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
        return "Item" in self.dest.get_item(TableName=self.dest_table, Key=key, ConsistentRead=True)


MIGRATE = ("--workers", "1", "--segments", "2")
"""A small table: migrated in the command's process, no worker processes."""


@pytest.fixture
def fresh(moto: MotoServer, tmp_path: Path) -> Iterator[Live]:
    """A source table of every attribute type and the proxy; no run yet."""
    table = f"kill-src-{uuid.uuid4().hex[:8]}"
    proxy = ReplayProxy(moto.endpoint_url, table=f"{table}-copy", seed=3)
    with proxy:
        run = Live(
            proxy=proxy,
            source_table=table,
            dest_table=f"{table}-copy",
            prefix=f"kill-{uuid.uuid4().hex[:8]}",
            env=cli_env(tmp_path),
            source=dynamodb_client(moto.endpoint_url, SOURCE_ROLE),
            dest=dynamodb_client(moto.endpoint_url, DEST_ROLE),
            s3=LocalAWS(endpoint_url=moto.endpoint_url).client(DEST_ROLE, "s3"),
        )
        create_source(run.source, table, items=SOURCE_ITEMS)
        yield run
        assert proxy.stats().errors == []


@pytest.fixture
def live(fresh: Live) -> Live:
    """A live run of a small table, caught up once (so a checkpoint exists), then changed
    again with every kind of change, not replayed yet."""
    table = fresh.source_table
    migrated = fresh.run("migrate", "--live", *migrate_tables(fresh), *MIGRATE)
    run = replace(fresh, run_id=live_run_id(migrated.stdout))
    warm_up(run.source, table)
    run.run("sync", run.run_id, "--until-caught-up")
    assert run.checkpoint() is not None
    for _ in changes(run.source, table):
        pass
    run.proxy.take_log()
    return run


def migrate_tables(live: Live) -> list[str]:
    return ["--source-table", live.source_table, "--dest-table", live.dest_table]


def live_run_id(out: str) -> str:
    """The run id ``migrate --live`` names in its last lines."""
    found = re.search(r"live run (\S+) follows", out)
    assert found, out
    return found.group(1)


def warm_up(client: Any, table: str) -> None:
    client.put_item(TableName=table, Item={"pk": {"S": "warm"}, "sk": {"N": "0"}})
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "user-004"}, "sk": {"N": "4"}},
        UpdateExpression="SET warm = :w",
        ExpressionAttributeValues={":w": {"BOOL": True}},
    )


def after_kill(client: Any, table: str) -> None:
    """Changes while the replay is dead: a put, two updates of one item in the same second,
    a delete, a delete then a re-insert, an update of an item the killed replay wrote."""
    client.put_item(TableName=table, Item={"pk": {"S": "after"}, "sk": {"N": "0"}})
    key = {"pk": {"S": "new-4"}, "sk": {"N": "4"}}
    for value in ("one", "two"):
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": value}},
        )
    client.delete_item(TableName=table, Key={"pk": {"S": "new-5"}, "sk": {"N": "5"}})
    back = {"pk": {"S": "user-003"}, "sk": {"N": "3"}}
    client.delete_item(TableName=table, Key=back)
    client.put_item(TableName=table, Item={**back, "back": {"S": "again"}})
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "new-1"}, "sk": {"N": "1"}},
        UpdateExpression="SET late = :l",
        ExpressionAttributeValues={":l": {"NS": ["1", "2.5"]}},
    )


# --- the kill points ---


@dataclass(frozen=True, slots=True)
class KillPoint:
    """A request to hold, and what must be true while it is held."""

    gate: Callable[[Call], bool]
    skip: int = 0
    forward_first: bool = False
    written: str = "none"
    """What of the page the destination holds at the kill: none, some or all."""
    saved: bool = False
    """The checkpoint of the page is in S3 at the kill."""
    command: tuple[str, ...] = ("sync",)
    """The command killed: ``sync``, or ``cutover`` (its replay and its sentinel)."""


def _batch(table: str) -> Callable[[Call], bool]:
    return lambda call: call.is_("BatchWriteItem", table=table)


def _checkpoint_put(call: Call) -> bool:
    return call.method == "PUT" and "/ddbmigrate/runs/" in call.path and "/stream/" in call.path


POINTS: dict[str, Callable[[Live], KillPoint]] = {
    "stream-read": lambda _: KillPoint(lambda c: c.is_("GetRecords"), forward_first=True),
    "mid-batch": lambda live: KillPoint(_batch(live.dest_table), skip=1, written="some"),
    "batch-applied-unanswered": lambda live: KillPoint(
        _batch(live.dest_table), skip=1, forward_first=True, written="some"
    ),
    "between-write-and-checkpoint": lambda _: KillPoint(_checkpoint_put, written="all"),
    "checkpoint-saved-unanswered": lambda _: KillPoint(
        _checkpoint_put, forward_first=True, written="all", saved=True
    ),
    # The cutover writes its sentinel to the source first: it is there, the cutover dies.
    "cutover-sentinel-written": lambda live: KillPoint(
        _batch(live.source_table), forward_first=True, command=("cutover", "--source-stopped")
    ),
}


def killed_at(live: Live, point: KillPoint) -> tuple[str | None, list[Logged]]:
    """The command started, held at ``point``, checked there, SIGKILLed with its whole
    process group; the checkpoint S3 held then, and the proxy's log of the killed process."""
    before = live.checkpoint()
    live.proxy.arm(point.gate, skip=point.skip, forward_first=point.forward_first)
    command = start(live, [point.command[0], live.run_id, *point.command[1:]])
    try:
        wait_held(live, command)
        held_at = live.checkpoint()
        check_held(live, point, before, held_at)
    finally:  # killed whatever the checks found: a sync left running would follow forever
        kill(live, command)
    return held_at, live.proxy.take_log()


def start(live: Live, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN), *args, *live.args()],
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches every thread
    )


def wait_held(live: Live, command: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not live.proxy.arrived.wait(0.05):
        assert command.poll() is None, command.communicate()
        assert time.monotonic() < deadline, "the command never sent the request to hold"


def kill(live: Live, command: subprocess.Popen[str]) -> None:
    """SIGKILL to the command's process group; then no request of it is left in the proxy."""
    try:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
        command.communicate(timeout=TIMEOUT)
    finally:
        live.proxy.disarm()
    assert command.returncode == -signal.SIGKILL, command.returncode
    live.proxy.wait_idle(TIMEOUT)


def check_held(live: Live, point: KillPoint, before: str | None, held_at: str | None) -> None:
    """The replay is where ``point`` says: the page's writes and its checkpoint."""
    assert (held_at != before) == point.saved, (before, held_at)
    source = scan_all(live.source, live.source_table)
    left = differences(source, scan_all(live.dest, live.dest_table), KEY)
    begun = live.has("new-1", 1)  # the page's first batch
    state = "all" if not left else "some" if begun else "none"
    assert state == point.written, left


@pytest.mark.parametrize("name", list(POINTS))
def test_killed_at_a_named_point_resumes_at_its_checkpoint_in_stream_order(
    live: Live, name: str
) -> None:
    point = POINTS[name](live)

    held_at, killed = killed_at(live, point)
    after_kill(live.source, live.source_table)
    live.run("sync", live.run_id, "--until-caught-up")
    rerun = live.proxy.take_log()
    out = live.run("cutover", live.run_id, "--source-stopped").stdout
    cutover = live.proxy.take_log()

    assert len(sequences(rerun)) >= AFTER_KILL_RECORDS  # the order check had work to do
    assert order_problems(killed, KEY, complete=False) == []
    assert order_problems(rerun, KEY, complete=True) == []
    assert order_problems(cutover, KEY, complete=True) == []
    start = iterators(rerun)[0]
    assert (start["ShardIteratorType"], start.get("SequenceNumber")) == (
        "AFTER_SEQUENCE_NUMBER",
        held_at,
    )
    read, again = set(sequences(killed)), set(sequences(rerun))
    assert (
        not (read & again) if point.saved else (read <= again)
    )  # what was not checkpointed is read again
    assert "MATCH" in out
    assert_same_items(live.source, live.source_table, live.dest, live.dest_table, count=FINAL_ITEMS)


def _record(sequence: int, event: str, pk: str, version: str) -> Logged:
    keys = {"pk": {"S": pk}, "sk": {"N": "1"}}
    image = None if event == "REMOVE" else {**keys, "v": {"S": version}}
    change = {"Keys": keys, "SequenceNumber": str(sequence)} | (
        {"NewImage": image} if image else {}
    )
    return Logged("record", {"eventName": event, "dynamodb": change})


def test_a_migrate_live_killed_in_its_stream_read_is_finished_by_its_sync_line(
    fresh: Live,
) -> None:
    live = fresh
    live.proxy.arm(lambda c: c.is_("GetRecords"))  # the copy is done, the replay starts
    command = start(live, ["migrate", "--live", *migrate_tables(live), *MIGRATE])
    try:
        wait_held(live, command)
        for _ in changes(live.source, live.source_table):
            pass
    finally:
        kill(live, command)
    after_kill(live.source, live.source_table)
    live.proxy.take_log()
    words = sync_line(live)
    live = replace(live, run_id=words[2])

    resumed = subprocess.run(
        [str(BIN), *words[1:], "--until-caught-up"],
        env=live.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    rerun = live.proxy.take_log()
    out = live.run("cutover", live.run_id, "--source-stopped").stdout

    assert resumed.returncode == 0, resumed.stderr
    assert "caught up" in resumed.stdout + resumed.stderr
    assert iterators(rerun)[0]["ShardIteratorType"] == "TRIM_HORIZON"  # nothing checkpointed
    assert len(sequences(rerun)) >= AFTER_KILL_RECORDS
    assert order_problems(rerun, KEY, complete=True) == []
    assert "MATCH" in out
    assert_same_items(
        live.source, live.source_table, live.dest, live.dest_table, count=FINAL_ITEMS - 1
    )  # no warm-up put in this run


def sync_line(live: Live) -> list[str]:
    """The words of the sync command ``status`` prints for the live run (copy done)."""
    status = subprocess.run(
        [
            *(str(BIN), "status", "--staging", live.staging, "--dest-role-arn", DEST_ROLE),
            *("--dest-region", LOCAL_REGION, "--dest-endpoint-url", live.proxy.url),
        ],
        env=live.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert "  live  " in lines[0], lines
    assert not [line for line in lines if line.startswith("  resume")], lines
    (sync,) = [line.split(None, 1)[1] for line in lines if line.startswith("  sync")]
    words = shlex.split(sync)
    assert words[:2] == ["ddbmigrate", "sync"], words
    return words


def test_the_order_check_names_a_key_written_out_of_stream_order() -> None:
    stream = [
        _record(1, "INSERT", "a", "1"),
        _record(2, "MODIFY", "a", "2"),
        _record(3, "REMOVE", "b", ""),
    ]
    writes = [Logged("write", write_of(r.body)) for r in stream]
    in_order = [*stream, *writes]
    swapped = [*stream, writes[1], writes[0], writes[2]]

    assert order_problems(in_order, KEY, complete=True) == []
    assert order_problems(in_order[:-1], KEY, complete=False) == []  # killed before b
    assert order_problems(in_order[:-1], KEY, complete=True) != []  # b was never written
    (problem,) = order_problems(swapped, KEY, complete=False)
    assert '"a"' in problem
