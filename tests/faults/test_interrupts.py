"""SIGINT and SIGTERM to ``ddbmigrate migrate``'s process group, as a terminal's Ctrl-C sends
them, mid-export, mid-import and mid-validate, with worker processes and with ``--workers 1``.

The installed command runs in a session of its own (its pid is its process group) against
moto through the fault proxy, which answers every Scan and BatchWriteItem late so each step
lasts long enough to be interrupted. Staging is a local directory, so the run ledger shows
which step is running without any AWS call; the signal goes when the ledger says the step
started, never after a blind sleep. Then: exit 130 (SIGINT) or 143 (SIGTERM) within 5 s, one
line ``interrupted: ... (run <id>)`` on stderr, no traceback from the parent or a worker, no
process of the group left, the interrupted step not recorded as done; and the same command
again finishes with exit 0 and a destination equal to the source, item by item, as the test
reads both tables with boto3.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fault_proxy import FaultKind, FaultProxy

from cliprocess import BIN, cli_env
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_REGION, MotoServer

pytestmark = pytest.mark.faults

ITEMS = 160
SEGMENTS = 16
SCAN_DELAY = 0.3
WRITE_DELAY = 0.3
"""Every Scan and BatchWriteItem answers this much later: a step of 16 segments or files
takes several rounds of it, so the signal lands while the step it waited for runs."""
STOP_SECONDS = 5.0
TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Setup:
    proxy: FaultProxy
    aws: LocalAWS
    source: str


def _item(number: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"item-{number:04d}"},
        "n": {"N": str(number * 7919 % 100_003)},
        "b": {"B": bytes([number % 256, 1, 2])},
        "l": {"L": [{"S": "x" * (number % 7)}, {"BOOL": number % 2 == 0}]},
    }


@pytest.fixture(scope="module")
def setup(moto_server: MotoServer) -> Iterator[Setup]:
    aws = LocalAWS(endpoint_url=moto_server.endpoint_url)
    source = f"intr-src-{uuid.uuid4().hex[:8]}"
    client = aws.client(SOURCE_ROLE, "dynamodb")
    client.create_table(
        TableName=source,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for number in range(ITEMS):
        client.put_item(TableName=source, Item=_item(number))
    with FaultProxy(moto_server.endpoint_url, seed=11) as proxy:
        proxy.inject(FaultKind.SLOW, operations="Scan", delay=SCAN_DELAY)
        proxy.inject(FaultKind.SLOW, operations="BatchWriteItem", delay=WRITE_DELAY)
        yield Setup(proxy, aws, source)
        assert proxy.stats().errors == []


def _args(setup: Setup, dest: str, staging: Path, workers: int) -> list[str]:
    url = setup.proxy.url
    return [
        *("migrate", "--source-role-arn", SOURCE_ROLE, "--dest-role-arn", DEST_ROLE),
        *("--source-endpoint-url", url, "--dest-endpoint-url", url),
        *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
        *("--source-table", setup.source, "--dest-table", dest, "--staging", str(staging)),
        *("--segments", str(SEGMENTS), "--workers", str(workers), "--progress", "off"),
    ]


def _steps(staging: Path) -> tuple[str, dict[str, str]] | None:
    """The run id and its steps' states, once ``run.json`` exists."""
    runs = staging / "ddbmigrate" / "runs"
    found = sorted(runs.glob("*/run.json")) if runs.is_dir() else []
    if not found:
        return None
    try:
        run = orjson.loads(found[0].read_bytes())
    except orjson.JSONDecodeError:  # pragma: no cover - the ledger writes atomically
        return None
    return found[0].parent.name, {k: str(v) for k, v in run["steps"].items()}


def _wait_for_step(proc: subprocess.Popen[str], staging: Path, step: str) -> str:
    """Poll the ledger until ``step`` is running; the run's id."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        seen = _steps(staging)
        if seen is not None and seen[1].get(step) == "running":
            return seen[0]
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before {step} ran:\n{err}\n{out}")
        time.sleep(0.005)
    raise AssertionError(f"{step} never started")


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _scan(setup: Setup, role: str, table: str) -> dict[str, dict[str, Any]]:
    """Every item of ``table`` as boto3's low-level client returns it, by key."""
    client = setup.aws.client(role, "dynamodb")
    items: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            items[item["pk"]["S"]] = item
    return items


CASES = [
    pytest.param("export", 2, signal.SIGINT, id="export-processes-sigint"),
    pytest.param("export", 1, signal.SIGTERM, id="export-1-worker-sigterm"),
    pytest.param("import", 2, signal.SIGTERM, id="import-processes-sigterm"),
    pytest.param("import", 1, signal.SIGINT, id="import-1-worker-sigint"),
    pytest.param("validate", 2, signal.SIGINT, id="validate-processes-sigint"),
    pytest.param("validate", 1, signal.SIGTERM, id="validate-1-worker-sigterm"),
]


@pytest.mark.parametrize(("step", "workers", "signum"), CASES)
def test_an_interrupted_migrate_stops_cleanly_and_resumes(
    setup: Setup, tmp_path: Path, step: str, workers: int, signum: signal.Signals
) -> None:
    dest = f"intr-{step}-{workers}-{uuid.uuid4().hex[:6]}"
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    args = _args(setup, dest, staging, workers)
    proc = subprocess.Popen(
        [str(BIN), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    run_id = _wait_for_step(proc, staging, step)

    os.killpg(proc.pid, signum)
    try:
        out, err = proc.communicate(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        late = f"still running {STOP_SECONDS} s after {signum.name}:\n{err}"
        raise AssertionError(late) from None
    deadline = time.monotonic() + STOP_SECONDS
    while not _group_gone(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)

    assert _group_gone(proc.pid), "a process of the run outlived it"
    expected = 130 if signum == signal.SIGINT else 143
    assert proc.returncode == expected, err
    assert "Traceback" not in err + out
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert lines == [f"interrupted: run the same command again to resume (run {run_id})"], err
    assert err.rstrip().endswith(lines[0])
    steps = _steps(staging)
    assert steps is not None
    assert steps[1][step] == "running", steps  # stopped inside the step, not after it

    again = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert again.returncode == 0, again.stderr
    assert f"resuming run {run_id}" in again.stderr
    source = _scan(setup, SOURCE_ROLE, setup.source)
    assert len(source) == ITEMS
    assert _scan(setup, DEST_ROLE, dest) == source


def _all_steps(staging: Path) -> list[dict[str, str]]:
    """The steps of every run under ``staging`` (a pipeline has one run per table)."""
    runs = staging / "ddbmigrate" / "runs"
    found: list[dict[str, str]] = []
    for path in sorted(runs.glob("*/run.json")) if runs.is_dir() else []:
        with contextlib.suppress(orjson.JSONDecodeError):  # pragma: no cover - atomic writes
            found.append({k: str(v) for k, v in orjson.loads(path.read_bytes())["steps"].items()})
    return found


def test_an_interrupted_pipeline_stops_every_table_and_resumes(
    setup: Setup, tmp_path: Path
) -> None:
    """Tables of a pipeline run on threads of their own: they stop as the main thread does,
    and no table that had not started starts after the signal."""
    staging = tmp_path / "staging"
    dests = [f"intr-pipe-{n}-{uuid.uuid4().hex[:6]}" for n in range(3)]
    side = f"endpoint_url: {setup.proxy.url}\n  region: {LOCAL_REGION}"
    pipeline = tmp_path / "pipeline.yaml"
    tables = "".join(
        f"  - name: {setup.source}\n    to: {dest}\n    segments: {SEGMENTS}\n" for dest in dests
    )
    pipeline.write_text(
        f"version: 1\nsource:\n  role_arn: {SOURCE_ROLE}\n  {side}\n"
        f"destination:\n  role_arn: {DEST_ROLE}\n  {side}\n"
        f"staging: {staging}\nworkers: 2\nparallel_tables: 2\ntables:\n{tables}"
    )
    args = ["run", str(pipeline), "--progress", "off"]
    env = cli_env(tmp_path)
    proc = subprocess.Popen(
        [str(BIN), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while not any(steps.get("import") == "running" for steps in _all_steps(staging)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no table reached its import"
        time.sleep(0.005)

    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"still running {STOP_SECONDS} s after SIGINT:\n{err}") from None
    deadline = time.monotonic() + STOP_SECONDS
    while not _group_gone(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)

    assert _group_gone(proc.pid), "a process of the run outlived it"
    assert proc.returncode == 130, err
    assert "Traceback" not in err + out
    # One line; a pipeline has a run per table, so it need not name one.
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1, err
    resume = r"interrupted: run the same command again( to resume \(run \S+\))?"
    assert re.fullmatch(resume, lines[0]), err
    steps = _all_steps(staging)
    assert len(steps) == 2  # the third table never started
    assert all(s.get("validate") != "match" for s in steps), steps

    again = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert again.returncode == 0, again.stderr
    source = _scan(setup, SOURCE_ROLE, setup.source)
    for dest in dests:
        assert _scan(setup, DEST_ROLE, dest) == source, dest


class _Started:
    """The command as a subprocess in its own process group, its stderr read as it comes
    so the test can wait for ``<step>: started``."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(BIN), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(line.endswith(text) for line in list(self.lines)):
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.lines}"
            assert time.monotonic() < deadline, f"never saw {text!r}: {self.lines}"
            time.sleep(0.005)

    def interrupt(self, signum: signal.Signals) -> tuple[int, str]:
        """Signal the group; the exit code and all of stderr, within STOP_SECONDS."""
        os.killpg(self.proc.pid, signum)
        try:
            self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()
            raise AssertionError(f"still running {STOP_SECONDS} s after {signum.name}") from None
        self._reader.join(timeout=STOP_SECONDS)
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        assert "Traceback" not in out
        deadline = time.monotonic() + STOP_SECONDS
        while not _group_gone(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _group_gone(self.proc.pid), "a process of the run outlived it"
        return self.proc.returncode, "\n".join(self.lines)


def _interrupted_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert err.rstrip().endswith(lines[0])
    return lines[0]


def test_export_import_and_validate_each_stop_on_a_signal_and_run_again(
    setup: Setup, tmp_path: Path
) -> None:
    """The single-step commands: interrupted mid-step, each run again to its end."""
    env = cli_env(tmp_path)
    staging = tmp_path / "exports"
    dest = f"intr-cmd-{uuid.uuid4().hex[:6]}"
    url = setup.proxy.url
    source_side = ["--source-role-arn", SOURCE_ROLE, "--source-endpoint-url", url]
    source_side += ["--source-region", LOCAL_REGION]
    dest_side = ["--dest-role-arn", DEST_ROLE, "--dest-endpoint-url", url]
    dest_side += ["--dest-region", LOCAL_REGION]
    common = ["--segments", str(SEGMENTS), "--progress", "off"]

    export = ["export", "--table", setup.source, "--staging", str(staging), *source_side]
    started = _Started([*export, *common, "--workers", "2"], env)
    started.wait_for("export: started")
    code, err = started.interrupt(signal.SIGTERM)
    assert code == 143, err
    assert _interrupted_line(err).startswith("interrupted: run the same command again to resume")
    again = subprocess.run(
        [str(BIN), *export, *common, "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "resuming run" in again.stderr
    (folder,) = (staging / "AWSDynamoDB").iterdir()

    load = ["import", str(folder), "--table", dest, *dest_side, "--progress", "off"]
    started = _Started([*load, "--workers", "1"], env)
    started.wait_for("import: started")
    code, err = started.interrupt(signal.SIGINT)
    assert code == 130, err
    assert _interrupted_line(err).startswith("interrupted: run the same command again to resume")
    again = subprocess.run(
        [str(BIN), *load, "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    source = _scan(setup, SOURCE_ROLE, setup.source)
    assert _scan(setup, DEST_ROLE, dest) == source

    check = ["validate", "--source-table", setup.source, "--dest-table", dest, *common]
    check += [*source_side, *dest_side, "--workers", "2"]
    started = _Started(check, env)
    started.wait_for("validate: started")
    code, err = started.interrupt(signal.SIGINT)
    assert code == 130, err
    assert _interrupted_line(err).startswith("interrupted: run the same command again")
    again = subprocess.run(
        [str(BIN), *check], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert again.returncode == 0, again.stderr
    assert f"MATCH: {ITEMS} of {ITEMS} items identical" in again.stdout


def test_an_interrupted_demo_says_its_embedded_aws_is_gone(tmp_path: Path) -> None:
    """The demo's tables live in an embedded AWS that stops with it: there is no run to resume."""
    started = _Started(["demo", "--items", "3000", "--progress", "off"], cli_env(tmp_path))
    started.wait_for("export: started")
    code, err = started.interrupt(signal.SIGINT)
    assert code == 130, err
    assert _interrupted_line(err) == (
        "interrupted: the demo's embedded AWS stopped with it; run it again to start over"
    )


def test_the_embedded_aws_does_not_outlive_a_killed_local_up(tmp_path: Path) -> None:
    """SIGKILL to ``local up`` alone (no group, no chance to stop its server): the server
    notices its parent is gone and ends, instead of holding its port forever."""
    proc = subprocess.Popen(
        [str(BIN), "local", "up", "--items", "5"],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = next(
        line.split()[4] for line in proc.stdout if line.startswith("Embedded AWS running at")
    )
    assert _answers(url)
    proc.kill()
    proc.communicate()
    deadline = time.monotonic() + TIMEOUT
    while _answers(url):
        assert time.monotonic() < deadline, f"the embedded AWS at {url} outlived local up"
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
            return True
    except OSError:
        return False
