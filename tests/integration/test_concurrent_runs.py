"""One run of a plan at a time, against moto: two identical ``migrate`` commands started at
once (real CLI processes), and the S3 side of the lock (``If-None-Match: *``)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import pytest
from botocore.stub import ANY, Stubber

from cliprocess import BIN, cli_env
from ddbmigrate import api
from ddbmigrate.aws import S3Store
from ddbmigrate.aws.session import SideSession
from ddbmigrate.checkpoint import LedgerConflictError
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import AccessDeniedError
from ddbmigrate.local.demo import scan_items
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import BUCKET, DEST_ACCOUNT, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import StoreURL
from ddbmigrate.pipeline import MigrateOptions
from ddbmigrate.planlock import take_lock
from tables import make_customer_table

pytestmark = pytest.mark.integration

ITEMS = 60
TIMEOUT = 180.0


@pytest.fixture
def aws(moto_server: MotoServer, aws_env: None) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


def source_table(aws: LocalAWS) -> str:
    table = f"lock-src-{uuid.uuid4().hex[:8]}"
    return make_customer_table(aws, table, items=customer_items(ITEMS))


def lock_pids(staging: Path) -> set[int]:
    pids = set()
    for path in (staging / "ddbmigrate" / "locks").glob("*/*.json"):
        with contextlib.suppress(FileNotFoundError):
            pids.add(int(orjson.loads(path.read_bytes())["pid"]))
    return pids


def by_key(items: list[dict[str, object]]) -> dict[str, bytes]:
    return {orjson.dumps([i["name"], i["city"]]).decode(): orjson.dumps(i) for i in items}


def test_two_identical_migrates_started_at_once_one_runs_one_is_refused(
    aws: LocalAWS, tmp_path: Path
) -> None:
    table = source_table(aws)
    dest = f"lock-dst-{uuid.uuid4().hex[:8]}"
    staging = tmp_path / "staging"
    args = [
        str(BIN),
        "migrate",
        "--source-role-arn",
        SOURCE_ROLE,
        "--dest-role-arn",
        DEST_ROLE,
        "--source-endpoint-url",
        aws.endpoint_url,
        "--dest-endpoint-url",
        aws.endpoint_url,
        "--source-region",
        LOCAL_REGION,
        "--dest-region",
        LOCAL_REGION,
        "--source-table",
        table,
        "--dest-table",
        dest,
        "--staging",
        str(staging),
        "--workers",
        "1",
        "--progress",
        "off",
    ]
    env = cli_env(tmp_path)
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        # Freeze whichever took the lock, so the other meets it however slow it starts.
        deadline = time.monotonic() + TIMEOUT
        while not (held := lock_pids(staging) & {p.pid for p in procs}):
            assert time.monotonic() < deadline
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.005)
        winner = next(p for p in procs if p.pid in held)
        loser = next(p for p in procs if p is not winner)
        winner.send_signal(signal.SIGSTOP)
        try:
            refused_out, refused_err = loser.communicate(timeout=TIMEOUT)
        finally:
            winner.send_signal(signal.SIGCONT)
        out, err = winner.communicate(timeout=TIMEOUT)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    assert loser.returncode == 1, refused_err
    assert refused_out == ""
    lines = refused_err.splitlines()
    assert len(lines) == 2, refused_err
    pattern = (
        r"error: (run '(?P<run>[^']+)'|a run that is starting) of the same migrate is being run "
        rf"by process {winner.pid} on {re.escape(socket.gethostname())} \(heartbeat .*\)"
    )
    matched = re.fullmatch(pattern, lines[0])
    assert matched, lines[0]
    assert lines[1].startswith("hint: wait for it to finish, or stop it")
    runs = sorted((staging / "ddbmigrate" / "runs").iterdir())
    assert len(runs) == 1  # the refused command left no run behind
    assert matched["run"] in (None, runs[0].name)

    assert winner.returncode == 0, err
    assert f"MATCH: {ITEMS} of {ITEMS} items identical" in out
    assert by_key(scan_items(aws.dest, dest)) == by_key(scan_items(aws.source, table))
    assert lock_pids(staging) == set()  # released: the run is over


def s3_store(aws: LocalAWS, prefix: str) -> S3Store:
    url = StoreURL.parse(f"s3://{BUCKET}/{prefix}/")
    return S3Store(SideSession(aws.dest), url, expected_owner=DEST_ACCOUNT)


def test_s3_put_if_absent_sends_if_none_match_and_moto_refuses_a_second_put(
    aws: LocalAWS,
) -> None:
    store = s3_store(aws, f"lock-{uuid.uuid4().hex[:8]}")
    assert store.put_if_absent("ddbmigrate/locks/x/000000000000.json", b"first") is True
    assert store.put_if_absent("ddbmigrate/locks/x/000000000000.json", b"second") is False
    assert store.get("ddbmigrate/locks/x/000000000000.json") == b"first"


def test_a_held_lock_on_s3_staging_refuses_migrate_before_preflight(aws: LocalAWS) -> None:
    table = source_table(aws)
    dest = f"lock-dst-{uuid.uuid4().hex[:8]}"
    prefix = f"lock-{uuid.uuid4().hex[:8]}"
    plan = {"source_table": table, "dest_table": dest}
    held = take_lock(
        s3_store(aws, prefix), command="migrate", plan=plan, run_id="held", clock=SystemClock()
    )
    try:
        with pytest.raises(LedgerConflictError) as refused:
            api.migrate(
                source=aws.source,
                dest=aws.dest,
                staging=api.StagingOptions(url=f"s3://{BUCKET}/{prefix}/"),
                options=MigrateOptions(source_table=table, dest_table=dest, workers=1),
            )
    finally:
        held.release()
    assert str(refused.value).startswith(
        f"run 'held' of the same migrate is being run by process {os.getpid()} "
        f"on {socket.gethostname()}"
    )
    tables = aws.client(DEST_ROLE, "dynamodb").list_tables()["TableNames"]
    assert dest not in tables  # refused before preflight: nothing was created


def test_s3_put_if_absent_request_and_its_answers(aws: LocalAWS) -> None:
    """What is sent (If-None-Match: *), and what each answer means: 412 and 409 are
    "taken", any other error is one, named."""
    store = s3_store(aws, "stubbed")
    key = "ddbmigrate/locks/x/000000000000.json"
    sent = {
        "Bucket": BUCKET,
        "Key": f"stubbed/{key}",
        "Body": b"mine",
        "IfNoneMatch": "*",
        "ExpectedBucketOwner": DEST_ACCOUNT,
        "ACL": ANY,
    }
    with Stubber(store._s3) as stub:
        stub.add_response("put_object", {"ETag": '"e"'}, expected_params=sent)
        for code, status in (("PreconditionFailed", 412), ("ConditionalRequestConflict", 409)):
            stub.add_client_error("put_object", code, http_status_code=status, expected_params=sent)
        stub.add_client_error(
            "put_object", "AccessDenied", http_status_code=403, expected_params=sent
        )
        assert store.put_if_absent(key, b"mine") is True
        assert store.put_if_absent(key, b"mine") is False
        assert store.put_if_absent(key, b"mine") is False
        with pytest.raises(AccessDeniedError, match=f"s3://{BUCKET}/stubbed/{key}"):
            store.put_if_absent(key, b"mine")
        stub.assert_no_pending_responses()
