"""Kill ``ddbmigrate migrate --engine spark`` with SIGKILL mid-import; the same command again
finishes the run without writing a finished file again.

As in test_crash_resume.py: the installed command runs as a subprocess on ``local[2]``
against moto through a proxy that counts every write per table; staging is a local
directory, so the ledger shows the progress. The kill waits for import records of the
ledger (written by the Spark tasks themselves), then for every process of the killed run
(its JVM and Python workers) to be gone and for the proxy to be idle. The resumed copy is
compared item by item with the source by the test's own code (tests/itemcompare.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from fault_proxy import FaultKind
from helpers import CountingProxy, create_filled_table

from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY, MotoServer
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.faults

BIN = Path(sys.executable).parent / "ddbmigrate"
ITEMS = 400
SEGMENTS = 8
WRITE_DELAY = 0.25
"""Every BatchWriteItem answers this much later: a file of 50 items takes about half a
second, so the import is still running when two files are recorded."""
TIMEOUT = 180.0


@dataclass(frozen=True, slots=True)
class Setup:
    proxy: CountingProxy
    source: str
    moto_url: str


@pytest.fixture(scope="module")
def setup(moto_server: MotoServer) -> Iterator[Setup]:
    aws = LocalAWS(endpoint_url=moto_server.endpoint_url)
    source = f"spark-crash-{uuid.uuid4().hex[:8]}"
    items = [{"pk": {"S": f"item-{n:05d}"}, "v": {"N": str(n)}} for n in range(ITEMS)]
    create_filled_table(aws, source, items)
    with CountingProxy(moto_server.endpoint_url, seed=11) as proxy:
        proxy.inject(FaultKind.SLOW, operations="BatchWriteItem", delay=WRITE_DELAY)
        yield Setup(proxy, source, moto_server.endpoint_url)
        assert proxy.stats().errors == []


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DDBMIGRATE_"))}
    env = {k: v for k, v in env.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
    env.update(
        AWS_ACCESS_KEY_ID=LOCAL_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=LOCAL_SECRET_KEY,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        COLUMNS="200",
    )
    return env


def migrate_args(setup: Setup, dest: str, staging: Path) -> list[str]:
    sides = []
    for side, role in (("source", SOURCE_ROLE), ("dest", DEST_ROLE)):
        sides += [f"--{side}-role-arn", role, f"--{side}-endpoint-url", setup.proxy.url]
        sides += [f"--{side}-region", LOCAL_REGION]
    return [
        "migrate",
        *sides,
        *("--source-table", setup.source, "--dest-table", dest),
        *("--staging", str(staging), "--segments", str(SEGMENTS)),
        *("--engine", "spark", "--spark-master", "local[2]", "--progress", "off"),
    ]


def imports(staging: Path) -> dict[Path, tuple[int, int, int]]:
    """Import records of the one run: path -> (items, inode, mtime); a rewrite changes both."""
    found = {}
    for path in staging.glob("ddbmigrate/runs/*/import/*.json"):
        stat = path.stat()
        found[path] = (int(orjson.loads(path.read_bytes())["items"]), stat.st_ino, stat.st_mtime_ns)
    return found


def step(staging: Path, name: str) -> str | None:
    for path in staging.glob("ddbmigrate/runs/*/run.json"):
        return str(orjson.loads(path.read_bytes())["steps"][name])
    return None


def session_processes(leader: int) -> list[int]:
    """Processes of the session ``leader`` started (its JVM, the JVM's Python workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == leader and fields[0] != "Z":  # session id; zombies are dead
                found.append(int(entry.name))
    return found


def kill_mid_import(proc: subprocess.Popen[str], staging: Path, files: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not (step(staging, "import") == "running" and len(imports(staging)) >= files):
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before the kill point:\n{err}\n{out}")
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    # The JVM exits when its parent's pipe closes, and the Python workers with it.
    while session_processes(proc.pid):
        assert time.monotonic() < deadline, session_processes(proc.pid)
        time.sleep(0.05)


def test_a_killed_spark_migrate_resumes_without_redoing_finished_files(
    setup: Setup, tmp_path: Path
) -> None:
    dest = f"spark-crash-{uuid.uuid4().hex[:6]}"
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    args = migrate_args(setup, dest, staging)
    first = subprocess.Popen(
        [str(BIN), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    kill_mid_import(first, staging, files=2)
    setup.proxy.wait_idle()
    before = imports(staging)
    imported = sum(items for items, _, _ in before.values())
    written_before = sum(u for _, u in setup.proxy.consumed(dest, "write"))
    assert 0 < imported < ITEMS

    again = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )

    assert again.returncode == 0, again.stderr
    assert "resuming run" in again.stderr
    assert "spark engine: master local[2], 2 tasks at once" in again.stderr
    assert f"MATCH: {ITEMS} of {ITEMS} items identical" in again.stdout
    after = imports(staging)
    assert len(after) == SEGMENTS  # one file per segment, each recorded once
    assert {p: after[p] for p in before} == before  # finished files: records untouched
    setup.proxy.wait_idle()
    written = sum(u for _, u in setup.proxy.consumed(dest, "write")) - written_before
    assert written == ITEMS - imported, (written, imported)
    source, target = (dynamodb_client(setup.moto_url, role) for role in (SOURCE_ROLE, DEST_ROLE))
    assert_same_items(source, setup.source, target, dest, count=ITEMS)
