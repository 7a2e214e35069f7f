"""Kill ``ddbmigrate migrate`` with SIGKILL anywhere; the same command again finishes the run.

The installed command runs as a subprocess against moto through a proxy that counts every
DynamoDB request per table; staging is a local directory, so the run ledger
(``<staging>/ddbmigrate/runs/<run-id>/``) shows the progress without any AWS call. Each kill
point waits for a state of that ledger (never a blind sleep), kills, waits until no request of
the dead process is still inside the proxy, then runs the same command again and checks: exit
0, "resuming run", the validator's MATCH, every item the same by the test's own comparison
(tests/itemcompare.py, straight to moto), and that what the ledger recorded as finished was
not done again (Scan pages of the source, items written to the destination, files rewritten).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fault_proxy import FaultKind
from helpers import CountingProxy, create_filled_table

from cliprocess import cli_env
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import Item
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.faults

BIN = Path(sys.executable).parent / "ddbmigrate"
ITEMS = 1_600
SEGMENTS = 16
WORKERS = 4
SCAN_DELAY = 0.15
"""Every Scan answers this much later, so the export and the validation take long enough
for each kill point to land while the state it waits for is current."""
PREFLIGHT_PROBES = 1
"""Preflight proves dynamodb:Scan on the source with one one-item Scan per run."""
WRITE_DELAY = 0.02
TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Setup:
    proxy: CountingProxy
    aws: LocalAWS
    source: str


def sized_item(number: int) -> Item:
    return {
        "pk": {"S": f"item-{number:05d}"},
        "n": {"N": str(number * 7919 % 100_003)},
        "b": {"B": "AAEC"},
        "pad": {"S": "x" * 100},
    }


@pytest.fixture(scope="module")
def setup(moto_server: MotoServer) -> Iterator[Setup]:
    """One proxy (so one endpoint URL, part of every run's plan) and one source table."""
    aws = LocalAWS(endpoint_url=moto_server.endpoint_url)
    source = f"crash-src-{uuid.uuid4().hex[:8]}"
    create_filled_table(aws, source, [sized_item(n) for n in range(ITEMS)])
    proxy = CountingProxy(moto_server.endpoint_url, seed=7)
    proxy.start()
    try:
        proxy.inject(FaultKind.SLOW, operations="Scan", delay=SCAN_DELAY)
        proxy.inject(FaultKind.SLOW, operations="BatchWriteItem", delay=WRITE_DELAY)
        yield Setup(proxy, aws, source)
        assert proxy.stats().errors == []
    finally:
        proxy.close()


def migrate_args(setup: Setup, dest: str, staging: Path) -> list[str]:
    return [
        "migrate",
        "--source-role-arn",
        SOURCE_ROLE,
        "--dest-role-arn",
        DEST_ROLE,
        "--source-endpoint-url",
        setup.proxy.url,
        "--dest-endpoint-url",
        setup.proxy.url,
        "--source-region",
        LOCAL_REGION,
        "--dest-region",
        LOCAL_REGION,
        "--source-table",
        setup.source,
        "--dest-table",
        dest,
        "--staging",
        str(staging),
        "--segments",
        str(SEGMENTS),
        "--workers",
        str(WORKERS),
        "--progress",
        "off",
    ]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- reading the ledger ---


class Ledger:
    """What a run left in a local staging directory."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging

    def run_dirs(self) -> list[Path]:
        runs = self.staging / "ddbmigrate" / "runs"
        return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []

    @property
    def dir(self) -> Path | None:
        dirs = self.run_dirs()
        return dirs[0] if dirs else None

    def run(self) -> dict[str, Any] | None:
        if self.dir is None or not (self.dir / "run.json").is_file():
            return None
        try:
            return dict(orjson.loads((self.dir / "run.json").read_bytes()))
        except orjson.JSONDecodeError:  # pragma: no cover - writes are atomic (os.replace)
            return None

    def step(self, name: str) -> str | None:
        run = self.run()
        return None if run is None else str(run["steps"][name])

    def segments(self) -> dict[Path, dict[str, Any]]:
        if self.dir is None or not (self.dir / "export").is_dir():
            return {}
        return {p: orjson.loads(p.read_bytes()) for p in (self.dir / "export").glob("*.json")}

    def imports(self) -> dict[Path, dict[str, Any]]:
        if self.dir is None or not (self.dir / "import").is_dir():
            return {}
        return {p: orjson.loads(p.read_bytes()) for p in (self.dir / "import").glob("*.json")}

    def export_dir(self) -> Path | None:
        found = sorted(p for p in (self.staging / "AWSDynamoDB").glob("*") if p.is_dir())
        return found[0] if found else None

    def data_files(self) -> list[Path]:
        folder = self.export_dir()
        return sorted((folder / "data").glob("*")) if folder is not None else []

    def has_summary(self) -> bool:
        folder = self.export_dir()
        return folder is not None and (folder / "manifest-summary.json").is_file()


def stamps(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    """Inode and mtime: a rewrite (temp file + os.replace) changes both."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


# --- kill points: a name and the ledger state to wait for ---

KillPoint = tuple[str, Callable[[Ledger], bool]]


def _segments_done(k: int) -> Callable[[Ledger], bool]:
    """At least ``k`` segments done and none between its last part and its done record.

    Workers finish their segments of a round together; the state waited for is the quiet
    time after a round, while the next round's pages are on their way (SCAN_DELAY).
    """

    def ready(ledger: Ledger) -> bool:
        states = list(ledger.segments().values())
        return len(states) >= k and all(state["done"] for state in states)

    return ready


def _imports_at_least(k: int) -> Callable[[Ledger], bool]:
    return lambda ledger: len(ledger.imports()) >= k


KILL_POINTS: list[KillPoint] = [
    ("ledger-written", lambda ledger: ledger.run() is not None),
    ("export-running", lambda ledger: ledger.step("export") == "running"),
    ("2-segments-done", _segments_done(2)),
    ("6-segments-done", _segments_done(6)),
    ("10-segments-done", _segments_done(10)),
    ("all-segments-done", _segments_done(SEGMENTS)),
    ("manifest-summary-written", lambda ledger: ledger.has_summary()),
    ("import-running", lambda ledger: ledger.step("import") == "running"),
    ("1-file-imported", _imports_at_least(1)),
    ("6-files-imported", _imports_at_least(6)),
    ("12-files-imported", _imports_at_least(12)),
    ("15-files-imported", _imports_at_least(15)),
    ("validate-running", lambda ledger: ledger.step("validate") == "running"),
]


def kill_when(proc: subprocess.Popen[str], ledger: Ledger, ready: Callable[[Ledger], bool]) -> None:
    """Poll the ledger; SIGKILL the process the moment ``ready`` holds."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if ready(ledger):
            break
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before the kill point:\n{err}\n{out}")
        time.sleep(0.005)
    else:
        raise AssertionError("the kill point never came")
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the ledger said, and what the proxy had counted, when the process was dead."""

    run_id: str
    done_segments: int
    done_part_files: dict[Path, tuple[int, int]]
    import_records: dict[Path, tuple[int, int]]
    imported_items: int
    source_scans: int
    dest_written: float


def snapshot(setup: Setup, ledger: Ledger, dest: str) -> Snapshot:
    setup.proxy.wait_idle()
    assert ledger.dir is not None
    segments = ledger.segments().values()
    done = [s for s in segments if s["done"]]
    folder = ledger.export_dir()
    parts = [folder / p["key"] for s in done for p in s["parts"]] if folder else []
    imports = ledger.imports()
    return Snapshot(
        run_id=ledger.dir.name,
        done_segments=len(done),
        done_part_files=stamps(parts),
        import_records=stamps(list(imports)),
        imported_items=sum(int(body["items"]) for body in imports.values()),
        source_scans=len(setup.proxy.consumed(setup.source, "read")),
        dest_written=sum(u for _, u in setup.proxy.consumed(dest, "write")),
    )


def check_resumed(
    setup: Setup,
    ledger: Ledger,
    dest: str,
    before: Snapshot,
    out: subprocess.CompletedProcess[str],
) -> None:
    assert out.returncode == 0, out.stderr
    assert f"resuming run {before.run_id}" in out.stderr
    assert f"MATCH: {ITEMS:,} of {ITEMS:,} items identical" in out.stdout
    assert [p.name for p in ledger.run_dirs()] == [before.run_id]  # no second run
    run = ledger.run()
    assert run is not None
    assert run["finished"] is True
    assert run["steps"] == {
        "preflight": "done",
        "schema": "done",
        "export": "done",
        "import": "done",
        "validate": "match",
    }
    # Export: a segment recorded as done was not scanned again (each segment is one page);
    # the validation scans every segment of the source once more, and preflight's one-item
    # probe makes one more.
    setup.proxy.wait_idle()
    scans = len(setup.proxy.consumed(setup.source, "read")) - before.source_scans
    assert scans == PREFLIGHT_PROBES + (SEGMENTS - before.done_segments) + SEGMENTS, (
        scans,
        before,
    )
    assert stamps(list(before.done_part_files)) == before.done_part_files
    # Import: files recorded as imported were not written again; everything else was, once.
    written = sum(u for _, u in setup.proxy.consumed(dest, "write")) - before.dest_written
    assert written == ITEMS - before.imported_items, (written, before)
    assert stamps(list(before.import_records)) == before.import_records
    assert len(ledger.imports()) == SEGMENTS
    assert_copied(setup, dest)


def assert_copied(setup: Setup, dest: str) -> None:
    """Every item of the source in ``dest``, the same (read straight from moto, no proxy)."""
    endpoint = setup.aws.endpoint_url
    source, target = dynamodb_client(endpoint, SOURCE_ROLE), dynamodb_client(endpoint, DEST_ROLE)
    assert_same_items(source, setup.source, target, dest, count=ITEMS)


@pytest.mark.parametrize(("name", "ready"), KILL_POINTS, ids=[name for name, _ in KILL_POINTS])
def test_a_killed_migrate_resumes_where_it_stopped(
    setup: Setup, tmp_path: Path, name: str, ready: Callable[[Ledger], bool]
) -> None:
    dest = f"crash-{name}-{uuid.uuid4().hex[:6]}"
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    args = migrate_args(setup, dest, staging)
    ledger = Ledger(staging)

    kill_when(start(args, env), ledger, ready)
    before = snapshot(setup, ledger, dest)

    check_resumed(setup, ledger, dest, before, run(args, env))


def test_a_second_process_is_refused_while_the_first_resumes(setup: Setup, tmp_path: Path) -> None:
    dest = f"crash-twice-{uuid.uuid4().hex[:6]}"
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    args = migrate_args(setup, dest, staging)
    ledger = Ledger(staging)
    kill_when(start(args, env), ledger, _segments_done(2))
    before = snapshot(setup, ledger, dest)
    locks = staging / "ddbmigrate" / "locks"
    assert len(lock_pids(locks)) == 1  # the dead process's lock stays behind

    first = start(args, env)
    deadline = time.monotonic() + TIMEOUT
    while lock_pids(locks) != [first.pid]:  # taken over: the dead one's generation is gone
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    first.send_signal(signal.SIGSTOP)  # hold it mid-run, lock taken
    try:
        second = run(args, env)
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=TIMEOUT)

    assert second.returncode == 1, second.stderr
    assert f"of the same migrate is being run by process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    check_resumed(
        setup, ledger, dest, before, subprocess.CompletedProcess(args, first.returncode, out, err)
    )


def lock_pids(locks: Path) -> list[int]:
    """The processes named by the plan locks' files (one per live or dead holder)."""
    pids = []
    for path in sorted(locks.glob("*/*.json")):
        with contextlib.suppress(FileNotFoundError):  # superseded while we looked
            pids.append(int(orjson.loads(path.read_bytes())["pid"]))
    return pids


def test_another_dest_table_on_the_same_staging_is_a_new_run(setup: Setup, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    ledger = Ledger(staging)
    kill_when(
        start(migrate_args(setup, f"crash-a-{uuid.uuid4().hex[:6]}", staging), env),
        ledger,
        _segments_done(2),
    )
    stopped = ledger.run_dirs()
    dest = f"crash-b-{uuid.uuid4().hex[:6]}"

    other = run(migrate_args(setup, dest, staging), env)

    assert other.returncode == 0, other.stderr
    assert "resuming run" not in other.stderr
    assert f"MATCH: {ITEMS:,} of {ITEMS:,} items identical" in other.stdout
    assert len(ledger.run_dirs()) == 2
    assert stopped[0] in ledger.run_dirs()
    unfinished = orjson.loads((stopped[0] / "run.json").read_bytes())
    assert unfinished["finished"] is False
    assert_copied(setup, dest)


def test_resume_of_an_unknown_run_is_one_clear_error(setup: Setup, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    out = run(["resume", "20260101T000000Z-deadbeef", "--staging", str(staging)], cli_env(tmp_path))
    assert out.returncode == 1, out.stderr
    assert "no run '20260101T000000Z-deadbeef'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_ledger_from_a_newer_version_is_refused(setup: Setup, tmp_path: Path) -> None:
    dest = f"crash-v99-{uuid.uuid4().hex[:6]}"
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    args = migrate_args(setup, dest, staging)
    ledger = Ledger(staging)
    kill_when(start(args, env), ledger, _segments_done(2))
    assert ledger.dir is not None
    run_json = ledger.dir / "run.json"
    body = orjson.loads(run_json.read_bytes())
    run_json.write_bytes(orjson.dumps({**body, "version": 99}))

    again = run(args, env)
    resumed = run(["resume", ledger.dir.name, "--staging", str(staging)], env)

    for out in (again, resumed):
        assert out.returncode == 1, out.stderr
        assert "newer ddbmigrate" in out.stderr
        assert "ledger version 99" in out.stderr
        assert "Traceback" not in out.stderr
    assert orjson.loads(run_json.read_bytes())["version"] == 99  # left as it was


def test_a_crash_between_the_last_part_and_done_does_not_export_the_segment_twice(
    setup: Setup, tmp_path: Path
) -> None:
    """A segment writes its last part, records ``{parts: [...], last_key: null, done: false}``,
    then records ``done: true``. A crash between the two leaves the first record: the segment
    is finished (no key left to continue from) and must not be scanned again."""
    dest = f"crash-window-{uuid.uuid4().hex[:6]}"
    staging = tmp_path / "staging"
    env = cli_env(tmp_path)
    args = migrate_args(setup, dest, staging)
    ledger = Ledger(staging)
    kill_when(start(args, env), ledger, lambda led: led.step("import") == "running")
    # The state the crash would have left: the same record, written before ``done``.
    segment_file = sorted(ledger.segments())[0]
    body = orjson.loads(segment_file.read_bytes())
    assert body["done"] is True
    assert body["last_key"] is None
    assert body["parts"]
    segment_file.write_bytes(orjson.dumps({**body, "done": False}))
    before = snapshot(setup, ledger, dest)

    out = run(args, env)

    assert out.returncode == 0, out.stderr
    folder = ledger.export_dir()
    assert folder is not None
    summary = orjson.loads((folder / "manifest-summary.json").read_bytes())
    assert len(ledger.data_files()) == SEGMENTS
    assert summary["itemCount"] == ITEMS
    scans = len(setup.proxy.consumed(setup.source, "read")) - before.source_scans
    # The preflight probe and the validation's; the export scanned nothing again.
    assert scans == PREFLIGHT_PROBES + SEGMENTS, scans
    assert_copied(setup, dest)
