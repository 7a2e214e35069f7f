"""``status`` and ``cleanup`` of an unfinished run, through the installed command, on a local
staging directory holding a run that stopped mid-export (no AWS call is needed: the ledger
and the lock are files). A live holder is a real process of this host (``sleep``), so the
lock's liveness check is the one a real run meets."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cliprocess import BIN, cli_env
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.planlock import lock_dir

pytestmark = pytest.mark.cli

RUN_ID = "20260101T000000Z-0a1b2c3d"
EXPORT_ID = "01700000000000-0a1b2c3d"
PLAN: dict[str, Any] = {
    "table": "orders",
    "staging": "x",
    "source": {
        "profile": None,
        "role_arn": "arn:aws:iam::111111111111:role/r",
        "region": "us-east-1",
        "endpoint_url": "http://127.0.0.1:9",
    },
}
REJECT = {"file": "data/0001.json.gz", "line": 7, "reason": "not an item"}


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    """A staging directory with an export run stopped mid-export: its ledger, two parts of
    its export, one recorded reject, and no live lock."""
    root = tmp_path / "staging"
    run_dir = root / "ddbmigrate" / "runs" / RUN_ID
    (run_dir / "rejects").mkdir(parents=True)
    run = {
        "version": 1,
        "run_id": RUN_ID,
        "command": "export",
        "plan": PLAN,
        "created": "2026-01-01T00:00:00.000Z",
        "steps": {"preflight": "done", "export": "running"},
        "export_id": EXPORT_ID,
        "finished": False,
    }
    (run_dir / "run.json").write_bytes(orjson.dumps(run))
    (run_dir / "rejects" / "rejects.jsonl").write_bytes(orjson.dumps(REJECT) + b"\n")
    parts = root / "AWSDynamoDB" / EXPORT_ID / "data"
    parts.mkdir(parents=True)
    for n in (1, 2):
        (parts / f"000{n}.json.gz").write_bytes(b"part")
    return root


def _lock(staging: Path, *, host: str, pid: int, at: int) -> None:
    """A lock file of the run's plan naming ``pid`` on ``host``, last beaten at ``at`` ms."""
    folder = staging / lock_dir("export", PLAN)
    folder.mkdir(parents=True)
    body = {
        "command": "export",
        "run_id": RUN_ID,
        "host": host,
        "pid": pid,
        "token": "t",
        "heartbeat": "2026-01-01T00:00:01.000Z",
        "at": at,
    }
    (folder / "000000000000.json").write_bytes(orjson.dumps(body))


@pytest.fixture
def live_holder(staging: Path) -> Iterator[int]:
    """A lock file of the run's plan naming a live process of this host."""
    with subprocess.Popen(["sleep", "300"]) as holder:
        _lock(staging, host=socket.gethostname(), pid=holder.pid, at=0)
        try:
            yield holder.pid
        finally:
            holder.kill()


def _run(
    tmp_path: Path, *args: str, stdin: int | None = subprocess.DEVNULL, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        env=cli_env(tmp_path),
        input=answer,
        stdin=None if answer is not None else stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_status_marks_a_run_nobody_holds_stopped_with_its_rejects_and_resume_command(
    tmp_path: Path, staging: Path
) -> None:
    done = _run(tmp_path, "status", "--staging", str(staging))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{RUN_ID}  export orders  stopped  (started ")
    rejects = staging / "ddbmigrate" / "runs" / RUN_ID / "rejects" / "rejects.jsonl"
    assert f"  rejects   1 in {rejects}" in lines
    assert lines[-1] == (
        f"  resume    ddbmigrate resume {RUN_ID} --staging {staging} "
        "--source-role-arn arn:aws:iam::111111111111:role/r --source-region us-east-1 "
        "--source-endpoint-url http://127.0.0.1:9"
    )


def test_status_json_carries_the_state_rejects_and_resume_command(
    tmp_path: Path, staging: Path
) -> None:
    done = _run(tmp_path, "status", RUN_ID, "--staging", str(staging), "--json")

    assert done.returncode == 0, done.stderr
    (run,) = orjson.loads(done.stdout)
    assert (run["state"], run["rejects"]) == ("stopped", 1)
    assert run["rejects_url"].endswith(f"{RUN_ID}/rejects/rejects.jsonl")
    assert run["resume"].startswith(f"ddbmigrate resume {RUN_ID} --staging {staging} ")


def test_status_of_a_run_a_live_process_holds_says_running_and_no_resume(
    tmp_path: Path, staging: Path, live_holder: int
) -> None:
    done = _run(tmp_path, "status", "--staging", str(staging))

    assert done.returncode == 0, done.stderr
    assert f"  running by {live_holder}@{socket.gethostname()}  " in done.stdout
    assert "resume " not in done.stdout


@pytest.mark.parametrize(
    ("beaten_ms_ago", "state"),
    [(10 * 60 * 1000, "stopped"), (0, "running by 4242@elsewhere")],
    ids=["stale-heartbeat", "fresh-heartbeat"],
)
def test_status_judges_a_holder_on_another_host_by_its_heartbeat(
    tmp_path: Path, staging: Path, beaten_ms_ago: int, state: str
) -> None:
    _lock(staging, host="elsewhere", pid=4242, at=int(time.time() * 1000) - beaten_ms_ago)

    done = _run(tmp_path, "status", "--staging", str(staging))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{RUN_ID}  export orders  {state}  (started "), done.stdout
    assert ("  resume    ddbmigrate resume" in done.stdout) == (state == "stopped")


def test_cleanup_of_an_unfinished_run_without_force_is_refused_and_deletes_nothing(
    tmp_path: Path, staging: Path
) -> None:
    before = _files(staging)

    done = _run(tmp_path, "cleanup", RUN_ID, "--staging", str(staging), "--yes")

    assert done.returncode == ExitCode.USAGE, done.stderr
    assert f"error: run '{RUN_ID}' has not finished" in done.stderr
    assert "--force" in done.stderr
    assert _files(staging) == before


@pytest.mark.parametrize(
    ("flags", "answer"), [((), "y\n"), (("--yes",), None)], ids=["answered-y", "yes-flag"]
)
def test_cleanup_force_deletes_an_unfinished_runs_export_and_ledger(
    tmp_path: Path, staging: Path, flags: tuple[str, ...], answer: str | None
) -> None:
    args = ("cleanup", RUN_ID, "--staging", str(staging), "--force", *flags)
    done = _run(tmp_path, *args, answer=answer)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"deleted 4 objects of run {RUN_ID}"
    assert _files(staging) == []
    if answer is not None:
        assert "unfinished run" in done.stderr
        assert "can no longer be resumed" in done.stderr


def test_cleanup_force_with_no_terminal_to_answer_deletes_nothing_and_exits_5(
    tmp_path: Path, staging: Path
) -> None:
    before = _files(staging)

    done = _run(tmp_path, "cleanup", RUN_ID, "--staging", str(staging), "--force")

    assert done.returncode == ExitCode.DECLINED == 5
    assert (
        "error: no answer to the question (stdin is closed or not a terminal): nothing was done"
        in done.stderr
    )
    assert "hint: pass --yes to go ahead without a question" in done.stderr
    assert "interrupted" not in done.stderr
    assert _files(staging) == before


def test_cleanup_force_with_stdin_closed_deletes_nothing_and_exits_5(
    tmp_path: Path, staging: Path
) -> None:
    before = _files(staging)
    args = [str(BIN), "cleanup", RUN_ID, "--staging", str(staging), "--force"]

    # stdin closed outright (``<&-`` in a shell), not merely empty
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", *args],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == ExitCode.DECLINED, done.stderr
    assert "no answer to the question" in done.stderr
    assert _files(staging) == before


def test_cleanup_force_refuses_a_run_a_live_process_holds(
    tmp_path: Path, staging: Path, live_holder: int
) -> None:
    before = _files(staging)

    done = _run(tmp_path, "cleanup", RUN_ID, "--staging", str(staging), "--force", "--yes")

    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert f"process {live_holder}@{socket.gethostname()} is running it" in done.stderr
    assert _files(staging) == before
