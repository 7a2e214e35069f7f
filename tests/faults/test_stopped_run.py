"""A migrate SIGKILLed mid-export, as a user meets it afterwards: ``status`` says ``stopped``
and prints the command that continues it; that command, run verbatim, finishes the run.

The installed command runs in a session of its own (its pid is its process group) against
moto through the gated proxy, which holds the export's first Scan (preflight's one-item probe
passes): while it is held, the run is mid-export for certain, and ``status`` says
``running``; then the whole group is SIGKILLed, leaving its lock file with a dead holder.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gated_proxy import GatedProxy

from alltypes import create_source
from cliprocess import BIN, cli_env, side
from ddbmigrate.local.server import MotoServer
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.faults

TIMEOUT = 180.0
SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"


@pytest.fixture
def gated(moto_server: MotoServer) -> Iterator[GatedProxy]:
    with GatedProxy(moto_server.endpoint_url, seed=7) as proxy:
        yield proxy


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _status(staging: Path, env: dict[str, str]) -> list[str]:
    done = _cli(["status", "--staging", str(staging)], env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_killed_migrate_is_stopped_and_its_printed_resume_command_finishes_it(
    gated: GatedProxy, aws_env: None, tmp_path: Path
) -> None:
    src_client = dynamodb_client(gated.url, SOURCE_ROLE)
    dst_client = dynamodb_client(gated.url, DEST_ROLE)
    source, dest = f"src-{uuid.uuid4().hex[:8]}", f"dst-{uuid.uuid4().hex[:8]}"
    create_source(src_client, source, items=60)
    staging, env = tmp_path / "staging", cli_env(tmp_path)
    args = [
        str(BIN),
        "migrate",
        *("--source-table", source, "--dest-table", dest),
        *("--staging", str(staging), "--progress", "off"),
        *("--workers", "2", "--segments", "2"),
        *side("source", gated.url, SOURCE_ROLE),
        *side("dest", gated.url, DEST_ROLE),
    ]
    gated.arm("Scan", skip=1)
    proc = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert gated.arrived.wait(TIMEOUT), proc.communicate()
        running = _status(staging, env)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
    finally:
        gated.disarm()
    assert proc.returncode == -signal.SIGKILL
    assert " running by " in running[0], running
    assert not any(line.startswith("  resume") for line in running)

    stopped = _status(staging, env)

    run_id = stopped[0].split()[0]
    assert stopped[0].startswith(f"{run_id}  migrate {source} -> {dest}  stopped  ("), stopped
    assert "export running" in stopped[1]
    assert "  rejects   0" in stopped
    (resume,) = [line.split(None, 1)[1] for line in stopped if line.startswith("  resume")]
    words = shlex.split(resume)
    assert words[:5] == ["ddbmigrate", "resume", run_id, "--staging", str(staging)]

    again = subprocess.run(
        [str(BIN), *words[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert again.returncode == 0, again.stderr
    assert f"resuming migrate run {run_id}" in again.stderr
    assert "MATCH" in again.stdout
    assert_same_items(src_client, source, dst_client, dest)
    finished = _status(staging, env)
    assert finished[0].startswith(f"{run_id}  migrate {source} -> {dest}  finished  (")
    assert not any(line.startswith("  resume") for line in finished)
