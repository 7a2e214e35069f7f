"""``main()``: every way a command ends becomes one exit code and at most one line.

``cleanup`` is the command under test (its API call is replaced), run in this process on
pytest's main thread, so ``main`` installs its SIGINT/SIGTERM handlers for real.
"""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

import pytest
import typer

from ddbmigrate import api
from ddbmigrate.checkpoint import LedgerDamagedError, RunStatus
from ddbmigrate.cli.app import main
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.engines.local import INTERRUPT
from ddbmigrate.errors import Interrupted

RUN_ID = "20261127T143000Z-1a2b3c4d"
CLEANUP = ["cleanup", RUN_ID, "--staging", "s3://bucket-in-b/p/", "--dest-region", "eu-west-1"]


def _cleanup_does(monkeypatch: pytest.MonkeyPatch, effect: Callable[[], object]) -> None:
    def fake(**_: Any) -> list[str]:
        effect()
        return []

    def finished(**_: Any) -> list[RunStatus]:  # cleanup reads the run's state first
        return [replace(RunStatus.of_damaged(RUN_ID, _DAMAGED), damaged=None, finished=True)]

    monkeypatch.setattr(api, "cleanup", fake)
    monkeypatch.setattr(api, "restore_run_boosts", lambda **_: [])  # no boost to restore
    monkeypatch.setattr(api, "status", finished)


_DAMAGED = LedgerDamagedError("unused")


def _raise(exc: BaseException) -> Callable[[], NoReturn]:
    def effect() -> NoReturn:
        raise exc

    return effect


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("code", [1, 3, 7])
def test_a_typer_exit_code_is_what_main_returns(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    _cleanup_does(monkeypatch, _raise(typer.Exit(code)))
    assert main([*CLEANUP, "--yes"]) == code


@pytest.mark.usefixtures("aws_env")
def test_no_to_the_cleanup_question_deletes_nothing_and_is_not_success(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    called: list[bool] = []
    _cleanup_does(monkeypatch, lambda: called.append(True))
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(CLEANUP) == ExitCode.DECLINED != 0
    assert called == []
    assert f"not confirmed: nothing of run {RUN_ID} was deleted" in capsys.readouterr().err


@pytest.mark.usefixtures("aws_env")
def test_an_unexpected_exception_is_one_error_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _cleanup_does(monkeypatch, _raise(RuntimeError("something nobody foresaw")))
    assert main([*CLEANUP, "--yes"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: RuntimeError: something nobody foresaw (--debug shows the traceback)"
    ]


@pytest.mark.usefixtures("aws_env")
def test_debug_shows_the_unexpected_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    _cleanup_does(monkeypatch, _raise(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        main([*CLEANUP, "--yes", "--debug"])


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, 143)]
)
def test_a_signal_during_a_command_is_one_line_and_its_exit_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: signal.Signals,
    code: int,
) -> None:
    before = signal.getsignal(signum)
    _cleanup_does(monkeypatch, lambda: os.kill(os.getpid(), signum))
    assert main([*CLEANUP, "--yes"]) == code
    assert capsys.readouterr().err.splitlines() == ["interrupted: run the same command again"]
    assert signal.getsignal(signum) is before  # main put pytest's handler back


@pytest.mark.usefixtures("aws_env")
def test_an_interrupt_names_the_run_it_stopped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _cleanup_does(monkeypatch, _raise(Interrupted(signal.SIGTERM, run_id=RUN_ID)))
    assert main([*CLEANUP, "--yes"]) == ExitCode.TERMINATED
    assert capsys.readouterr().err.splitlines() == [
        f"interrupted: run the same command again to resume (run {RUN_ID})"
    ]


@pytest.mark.usefixtures("aws_env")
def test_no_answer_to_the_cleanup_question_is_not_success(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    called: list[bool] = []
    _cleanup_does(monkeypatch, lambda: called.append(True))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # closed: a script without --yes
    assert main(CLEANUP) == ExitCode.DECLINED
    assert called == []
    err = capsys.readouterr().err
    assert "error: no answer to the question (stdin is closed or not a terminal)" in err
    assert "hint: pass --yes" in err


@pytest.mark.usefixtures("aws_env")
def test_sigterm_at_the_cleanup_question_is_143(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminated(io.StringIO):
        def readline(self, size: int | None = -1) -> str:
            os.kill(os.getpid(), signal.SIGTERM)
            return super().readline()

    monkeypatch.setattr("sys.stdin", Terminated("y\n"))
    _cleanup_does(monkeypatch, _raise(AssertionError("nothing may be deleted")))
    assert main(CLEANUP) == ExitCode.TERMINATED
    assert "interrupted: run the same command again" in capsys.readouterr().err


@pytest.mark.usefixtures("aws_env")
def test_a_signal_while_workers_start_is_raised_after_the_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Starting a spawned worker writes its start-up data down a pipe: a signal raised in the
    middle cut that data short, and the child printed a traceback after 'interrupted'. The
    section finishes; the interrupt is raised where it ends."""
    steps: list[str] = []

    def start_workers() -> None:
        with INTERRUPT.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("every worker started")
        steps.append("after the section")  # never: the interrupt is raised first

    _cleanup_does(monkeypatch, start_workers)
    assert main([*CLEANUP, "--yes"]) == 143
    assert steps == ["every worker started"]
    assert capsys.readouterr().err.splitlines() == ["interrupted: run the same command again"]


def _cleanup_finds(
    monkeypatch: pytest.MonkeyPatch, calls: list[str], *, holder: str | None
) -> None:
    """``cleanup`` against an unfinished run (held by ``holder``, or stopped) whose boost
    was not restored; ``calls`` records which API calls it made, in order."""

    def found(**_: Any) -> list[RunStatus]:
        return [replace(RunStatus.of_damaged(RUN_ID, _DAMAGED), damaged=None, holder=holder)]

    def restore(**_: Any) -> list[str]:
        calls.append("restore")
        return ["[orders] boost: restored write capacity to 5 WCU"]

    monkeypatch.setattr(api, "status", found)
    monkeypatch.setattr(api, "restore_run_boosts", restore)
    monkeypatch.setattr(api, "cleanup", lambda **_: calls.append("cleanup") or [])


@pytest.mark.usefixtures("aws_env")
def test_cleanup_restores_a_stopped_runs_boost_then_refuses_it_without_force(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    _cleanup_finds(monkeypatch, calls, holder=None)
    assert main([*CLEANUP, "--yes"]) == ExitCode.USAGE
    assert calls == ["restore"]
    err = capsys.readouterr().err
    assert "restored write capacity to 5 WCU" in err
    assert f"run {RUN_ID!r} has not finished" in err
    calls.clear()
    assert main([*CLEANUP, "--yes", "--force"]) == ExitCode.OK
    assert calls == ["restore", "cleanup"]


@pytest.mark.usefixtures("aws_env")
def test_cleanup_leaves_the_boost_of_a_run_a_live_process_holds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    _cleanup_finds(monkeypatch, calls, holder="host-a:4242")
    assert main([*CLEANUP, "--yes", "--force"]) == ExitCode.FAILURE
    assert calls == []  # that process restores its own boost
    assert "process host-a:4242 is running it" in capsys.readouterr().err
