"""A live run's notifications for real: ``migrate --live``, ``sync`` and ``cutover`` run as
the installed command against moto over HTTP, each posting its events to a local webhook
receiver; the test reads the bodies it received. moto only: dynalite has no Streams."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from alltypes import create_source
from cliprocess import BIN, cli_env, ddbmigrate, side_flags
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from itemcompare import dynamodb_client
from livechanges import SOURCE_ITEMS, changes
from localhttp import serving

pytestmark = pytest.mark.integration

TIMEOUT = 180.0
LIVE = "ddbmigrate.run-event/2"
LAG = 2.0
"""``--notify-lag`` of the sync: a pause longer than CAUGHT_UP_LAG (5 s) puts it behind."""
PAUSE = 8.0
"""Seconds the sync is stopped (SIGSTOP) while the source changes: every change it then
reads is older than this, so its lag is at least this (only ever more)."""


class Receiver:
    """A webhook receiver: keeps each JSON body, answers 204."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.url = ""
        self._changed = threading.Condition()

    def add(self, body: dict[str, Any]) -> None:
        with self._changed:
            self.bodies.append(body)
            self._changed.notify_all()

    def kinds(self) -> list[str]:
        with self._changed:
            return [b["kind"] for b in self.bodies]

    def wait_for(self, kinds: list[str]) -> None:
        """Until the kinds received are ``kinds`` (a generous deadline)."""
        with self._changed:
            got = self._changed.wait_for(
                lambda: [b["kind"] for b in self.bodies] == kinds, timeout=TIMEOUT
            )
        assert got, f"received {self.kinds()}, waited for {kinds}"

    def take(self) -> list[dict[str, Any]]:
        with self._changed:
            taken, self.bodies = self.bodies, []
        return taken


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.add(json.loads(body))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with serving(Handler) as port:
        state.url = f"http://127.0.0.1:{port}/hooks/live"
        yield state


@pytest.fixture(scope="module")
def aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


def sides(aws: LocalAWS) -> list[str]:
    return side_flags(aws.endpoint_url)


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return ddbmigrate(*args, home=tmp_path, timeout=TIMEOUT)


def migrate_live(aws: LocalAWS, table: str, staging: Path, tmp_path: Path, *more: str) -> str:
    done = run(
        [
            "migrate",
            *sides(aws),
            "--source-table",
            table,
            "--staging",
            str(staging),
            "--live",
            *more,
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    found = re.search(r"live run (\S+) follows", done.stdout)
    assert found, done.stdout
    return found.group(1)


def source_table(aws: LocalAWS, name: str) -> tuple[Any, str]:
    table = f"{name}-{uuid.uuid4().hex[:8]}"
    source = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
    create_source(source, table, items=SOURCE_ITEMS)
    return source, table


def stream_arn(source: Any, table: str) -> str:
    return str(source.describe_table(TableName=table)["Table"]["LatestStreamArn"])


def test_migrate_live_sync_and_cutover_send_their_events(
    aws: LocalAWS, tmp_path: Path, receiver: Receiver
) -> None:
    source, table = source_table(aws, "live-events")
    staging = tmp_path / "staging"
    hook = ["--notify-webhook", receiver.url]

    run_id = migrate_live(aws, table, staging, tmp_path, *hook)
    arn = stream_arn(source, table)
    started, caught, success = receiver.take()
    assert [started["kind"], caught["kind"], success["kind"]] == [
        "replay_started",
        "caught_up",
        "success",
    ]
    assert success["type"] == "ddbmigrate.run-event/1"  # unchanged for receivers of /1
    for body in (started, caught):
        assert body["type"] == LIVE
        assert (body["run_id"], body["source_table"], body["dest_table"]) == (run_id, table, table)
        assert body["live"]["stream_arn"] == arn
        assert body["live"]["behind_after_seconds"] == 300.0  # the default
    assert started["live"]["shards"] == 1  # moto's streams have one shard
    assert started["live"]["applied"] == 0
    assert caught["live"]["lag_seconds"] is None or caught["live"]["lag_seconds"] <= 5.0

    sync = subprocess.Popen(
        [
            str(BIN),
            "sync",
            run_id,
            *sides(aws),
            "--staging",
            str(staging),
            *hook,
            "--notify-lag",
            str(LAG),
        ],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        receiver.wait_for(["replay_started", "caught_up"])  # nothing new since migrate
        sync.send_signal(signal.SIGSTOP)  # the replay pauses; the source goes on
        for _ in changes(source, table):
            pass
        time.sleep(PAUSE)
        sync.send_signal(signal.SIGCONT)
        receiver.wait_for(["replay_started", "caught_up", "fell_behind", "caught_up"])
    finally:
        sync.send_signal(signal.SIGCONT)
        sync.send_signal(signal.SIGINT)
        _, err = sync.communicate(timeout=TIMEOUT)
    assert sync.returncode == 130, err
    started, caught, behind, again = receiver.take()
    assert started["live"]["applied"] == 0  # the source did not change during migrate
    assert behind["live"]["lag_seconds"] >= PAUSE
    assert behind["live"]["behind_after_seconds"] == LAG
    assert behind["live"]["applied"] > caught["live"]["applied"]
    assert again["live"]["applied"] >= behind["live"]["applied"]
    assert behind["error"] is None
    assert behind["run_id"] == run_id

    done = run(
        ["cutover", run_id, *sides(aws), "--staging", str(staging), "--source-stopped", *hook],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    [cut] = receiver.take()
    assert cut["type"] == LIVE
    assert cut["kind"] == "cutover"
    assert cut["error"] is None  # MATCH
    items = source.scan(TableName=table, Select="COUNT")["Count"]
    assert cut["counts"] == {
        "source_items": items,
        "dest_items": items,
        "missing": 0,
        "extra": 0,
        "changed": 0,
    }
    assert cut["live"]["stream_arn"] == arn
    assert cut["live"]["applied"] >= behind["live"]["applied"]


def test_a_cutover_that_finds_a_difference_sends_it(
    aws: LocalAWS, tmp_path: Path, receiver: Receiver
) -> None:
    _source, table = source_table(aws, "live-differ")
    staging = tmp_path / "staging"
    run_id = migrate_live(aws, table, staging, tmp_path)
    dest = dynamodb_client(aws.endpoint_url, DEST_ROLE)
    dest.put_item(TableName=table, Item={"pk": {"S": "only-in-dest"}, "sk": {"N": "0"}})

    done = run(
        [
            "cutover",
            run_id,
            *sides(aws),
            "--staging",
            str(staging),
            "--source-stopped",
            "--notify-webhook",
            receiver.url,
        ],
        tmp_path,
    )
    assert done.returncode == 3, done.stderr + done.stdout
    [cut] = receiver.take()
    assert cut["kind"] == "cutover"
    assert cut["counts"]["extra"] == 1
    assert cut["counts"]["dest_items"] == cut["counts"]["source_items"] + 1
    assert "1 extra" in cut["error"]["message"], cut["error"]
    assert cut["error"]["hint"]


def test_a_webhook_that_refuses_is_a_warning_and_sync_still_succeeds(
    aws: LocalAWS, tmp_path: Path
) -> None:
    _, table = source_table(aws, "live-refused")
    staging = tmp_path / "staging"
    run_id = migrate_live(aws, table, staging, tmp_path)
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there any more: connections are refused

    done = run(
        [
            "sync",
            run_id,
            *sides(aws),
            "--staging",
            str(staging),
            "--until-caught-up",
            "--notify-webhook",
            f"http://127.0.0.1:{port}/hooks/live",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "notification (replay_started) not sent" in done.stderr
    assert "notification (caught_up) not sent" in done.stderr
    assert "Traceback" not in done.stderr
