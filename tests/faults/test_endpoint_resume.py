"""A migrate killed in the middle of its export or its import resumes to an exact copy, on
moto and on dynalite: the gated proxy holds the export's Scan (the second: preflight's
one-item probe is the first) or the second BatchWriteItem, the test SIGKILLs the command
while it is held, and runs the same command again."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gated_proxy import GatedProxy

from alltypes import create_source
from cliprocess import cli_env
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from dynalite import DynaliteServer
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.faults

TIMEOUT = 180.0
SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"


@pytest.fixture(params=["moto", "dynalite"])
def upstream(
    request: pytest.FixtureRequest, moto_server: MotoServer, dynalite_server: DynaliteServer
) -> tuple[str, str]:
    """(implementation, its endpoint URL)."""
    if request.param == "moto":
        return "moto", moto_server.endpoint_url
    return "dynalite", dynalite_server.endpoint_url


@pytest.fixture
def gated(upstream: tuple[str, str]) -> Iterator[GatedProxy]:
    with GatedProxy(upstream[1], seed=5) as proxy:
        yield proxy


def side_flags(flag: str, url: str, role: str | None) -> list[str]:
    flags = [f"--{flag}-endpoint-url", url, f"--{flag}-region", LOCAL_REGION]
    return [*flags, f"--{flag}-role-arn", role] if role else flags


@pytest.mark.parametrize("held", ["Scan", "BatchWriteItem"], ids=["export", "import"])
def test_a_migrate_killed_mid_step_resumes_to_an_exact_copy(
    upstream: tuple[str, str], gated: GatedProxy, aws_env: None, tmp_path: Path, held: str
) -> None:
    name, url = upstream
    roles = (SOURCE_ROLE, DEST_ROLE) if name == "moto" else (None, None)
    src_client, dst_client = (dynamodb_client(url, role) for role in roles)
    source, dest = f"src-{uuid.uuid4().hex[:8]}", f"dst-{uuid.uuid4().hex[:8]}"
    create_source(src_client, source, items=60)
    args = [
        sys.executable,
        "-m",
        "ddbmigrate",
        "migrate",
        *("--source-table", source, "--dest-table", dest),
        *("--staging", str(tmp_path / "staging"), "--progress", "off"),
        *("--workers", "1", "--threads", "1", "--segments", "1"),
        *side_flags("source", gated.url, roles[0]),
        *side_flags("dest", gated.url, roles[1]),
    ]
    env = cli_env(tmp_path)
    gated.arm(held, skip=1)
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert gated.arrived.wait(TIMEOUT), proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
    finally:
        gated.disarm()
    assert proc.returncode == -signal.SIGKILL
    if held == "Scan":  # killed in the export: nothing was written yet
        assert gated.stats().requests.get("BatchWriteItem", 0) == 0

    again = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )

    assert again.returncode == 0, again.stderr
    assert "resuming run" in again.stderr
    assert_same_items(src_client, source, dst_client, dest)
