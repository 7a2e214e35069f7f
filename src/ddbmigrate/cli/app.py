"""The ``ddbmigrate`` command: thin typer commands over ``ddbmigrate.api``.

The commands live in ``cli/commands/``, the options they share in ``cli/options.py``, and
the precedence of flags, environment, config file and defaults in ``cli/resolve.py``.
Errors become exit codes in one place (:func:`main`); no traceback for a user mistake
unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from ddbmigrate import __version__
from ddbmigrate.cli.commands import live, migrate, runs, steps, tools
from ddbmigrate.cli.exit_codes import ExitCode, exit_code_for
from ddbmigrate.cli.helptext import Command, Group
from ddbmigrate.cli.logging_setup import LineObserver
from ddbmigrate.cli.output import print_error, print_interrupted, stdout
from ddbmigrate.clock import SystemClock
from ddbmigrate.engines.local import INTERRUPT
from ddbmigrate.errors import DdbMigrateError, Interrupted, ValidationMismatchError

app = typer.Typer(
    name="ddbmigrate",
    help="Move DynamoDB tables between AWS accounts and regions through S3, and prove the "
    "copy is exact.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=Group,
)
local_app = typer.Typer(
    help="The embedded two-account AWS (moto server) on this machine.", cls=Group
)
app.add_typer(local_app, name="local")

# In the order `ddbmigrate --help` lists them.
app.command("migrate", cls=Command)(migrate.migrate)
app.command("schema", cls=Command)(steps.schema)
app.command("export", cls=Command)(steps.export)
app.command("import", cls=Command)(steps.import_cmd)
app.command("validate", cls=Command)(steps.validate_cmd)
app.command("status", cls=Command)(runs.status)
app.command("resume", cls=Command)(runs.resume)
app.command("sync", cls=Command)(live.sync)
app.command("cutover", cls=Command)(live.cutover)
app.command("run", cls=Command)(runs.run_cmd)
app.command("plan", cls=Command)(migrate.plan_cmd)
app.command("cleanup", cls=Command)(runs.cleanup)
app.command("policies", cls=Command)(tools.policies_cmd)
app.command("demo", cls=Command)(tools.demo)
local_app.command("up", cls=Command)(tools.local_up)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"ddbmigrate {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version.", metavar=""
        ),
    ] = False,
) -> None:
    """Move DynamoDB tables between AWS accounts and regions through S3."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; turn every error into one message and one exit code."""
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    with _stop_signals():
        try:
            _invoke(command, args)
        except typer.Exit as exc:
            return int(exc.exit_code)
        except (KeyboardInterrupt, typer.Abort) as exc:
            return _stopped(exc, args)
        except typer.TyperException as exc:  # a usage error: unknown flag, bad value...
            exc.show()  # type: ignore[attr-defined]
            return int(ExitCode.USAGE)
        except Exception as exc:
            if "--debug" in args:
                raise
            return _failed(exc, args)
    return int(ExitCode.OK)


def _failed(exc: Exception, args: list[str]) -> int:
    if not isinstance(exc, DdbMigrateError):
        # A bug or an error nobody foresaw: one line all the same; --debug shows where.
        _error(f"{type(exc).__name__}: {exc} (--debug shows the traceback)", None, args)
        return int(ExitCode.FAILURE)
    if not isinstance(exc, ValidationMismatchError):  # its report is already on stdout
        _error(exc.message, exc.hint, args)
    return int(exit_code_for(exc))


def _stopped(exc: BaseException, args: list[str]) -> int:
    """A signal, or a prompt that got no answer (typer's Abort: stdin closed, or a signal)."""
    signalled = exc if isinstance(exc, KeyboardInterrupt) else exc.__context__
    if isinstance(signalled, KeyboardInterrupt):
        return _interrupted(Interrupted.of(signalled), args)
    _error(
        "no answer to the question (stdin is closed or not a terminal): nothing was done",
        "pass --yes to go ahead without a question",
        args,
    )
    return int(ExitCode.DECLINED)


def _invoke(command: Any, args: list[str]) -> None:
    """Parse and run, letting every exception out. ``command.main(standalone_mode=False)``
    would not: typer turns KeyboardInterrupt into ``Exit(130)`` and click returns an Exit's
    code as a value, so interrupts and ``typer.Exit(n)`` both ended as exit 0."""
    with command.make_context("ddbmigrate", list(args)) as ctx:
        command.invoke(ctx)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread, once: a repeat while
    the run is stopping is ignored, so it cannot cut the ledger's last writes short."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (an embedding caller)
        return
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        del frame
        if not received:
            received.append(signum)
            INTERRUPT.set(signum)  # engines on other threads (a pipeline's tables) stop too
            if not INTERRUPT.deferring:  # else raised where the section ends
                raise Interrupted(signum)

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        INTERRUPT.clear()


def _interrupted(exc: Interrupted, args: list[str]) -> int:
    if "--debug" in args:
        traceback.print_exception(exc, file=sys.stderr)
    text = "interrupted: run the same command again"
    if _command(args) == "demo":  # its embedded AWS, the run's tables and staging, are gone
        text = "interrupted: the demo's embedded AWS stopped with it; run it again to start over"
    elif exc.run_id:
        text += f" to resume (run {exc.run_id})"
    if _json_logs(args):
        LineObserver(SystemClock()).error(text)
    else:
        print_interrupted(text)
    return int(exit_code_for(exc))


def _command(args: list[str]) -> str | None:
    """The command's name: the first word that is not an option."""
    return next((a for a in args if not a.startswith("-")), None)


def _error(message: str, hint: str | None, args: list[str]) -> None:
    if _json_logs(args):
        LineObserver(SystemClock()).error(message, hint)
    else:
        print_error(message, hint)


def _json_logs(args: list[str]) -> bool:
    """``--log-format json`` was asked for (read before parsing, like ``--debug``)."""
    return "--log-format=json" in args or any(
        a == "--log-format" and b == "json" for a, b in itertools.pairwise(args)
    )


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
