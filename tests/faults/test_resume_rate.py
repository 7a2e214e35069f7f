"""After a resume, the rate is this process's: an export killed with some segments done,
then run again, says how many items were exported before the stop and leaves them out of
its items per second. The gated proxy holds a Scan while the test SIGKILLs the command."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
from gated_proxy import GatedProxy

from alltypes import create_source
from cliprocess import cli_env
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from itemcompare import dynamodb_client

pytestmark = pytest.mark.faults

TIMEOUT = 180.0
ITEMS = 60
ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"


def ledger_items(staging: Path) -> int:
    """Items the run ledger records as exported (what an earlier process did)."""
    states = staging.glob("ddbmigrate/runs/*/export/*.json")
    return sum(p["items"] for f in states for p in orjson.loads(f.read_bytes())["parts"])


def test_a_resumed_export_counts_its_rate_over_the_items_it_moved(
    moto_server: MotoServer, aws_env: None, tmp_path: Path
) -> None:
    table, staging = f"rate-{uuid.uuid4().hex[:8]}", tmp_path / "staging"
    create_source(dynamodb_client(moto_server.endpoint_url, ROLE), table, items=ITEMS)
    with GatedProxy(moto_server.endpoint_url, seed=3) as gated:
        args = [
            *(sys.executable, "-m", "ddbmigrate", "export", "--table", table),
            *("--staging", str(staging), "--progress", "off"),
            *("--workers", "1", "--threads", "1", "--segments", "6"),
            *("--source-endpoint-url", gated.url, "--source-region", LOCAL_REGION),
            *("--source-role-arn", ROLE),
        ]
        env = cli_env(tmp_path)
        gated.arm("Scan", skip=3)  # segments one at a time: some are done when it is held
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert gated.arrived.wait(TIMEOUT), proc.communicate()
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=TIMEOUT)
        finally:
            gated.disarm()
        before = ledger_items(staging)
        assert 0 < before < ITEMS
        again = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    assert again.returncode == 0, again.stderr
    assert "resuming run" in again.stderr
    line = again.stdout.strip()
    assert line.startswith(f"exported {ITEMS} items ({before} before the stop) in "), line
    rate = re.search(r", ([\d,]+) items/s\) to ", line)
    assert rate is not None, line
