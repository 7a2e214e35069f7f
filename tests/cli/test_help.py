"""Every command's ``--help`` at 80 and 120 columns, compared with the snapshots in
``tests/cli/snapshots/``. A change of help text fails here; after checking the new text
reads well, regenerate the snapshots with ``UPDATE_HELP_SNAPSHOTS=1 pytest tests/cli/test_help.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import typer
import typer.rich_utils

from ddbmigrate.cli.app import app, main

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_HELP_SNAPSHOTS") == "1"
WIDTHS = (80, 120)


def _commands() -> list[tuple[str, ...]]:
    """The root, every command and every subcommand, from the app itself."""
    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = [()]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        paths.append((name,))
        paths += [(name, sub) for sub in getattr(command, "commands", {})]
    return paths


COMMANDS = _commands()


def _help(
    path: tuple[str, ...],
    width: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """The help as a terminal of ``width`` columns shows it, without colour."""
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("LINES", raising=False)
    # typer reads these from the environment once, at import: fixed here for every host.
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", width)
    monkeypatch.setattr(typer.rich_utils, "FORCE_TERMINAL", False)
    capsys.readouterr()
    assert main([*path, "--help"]) == 0
    return "\n".join(line.rstrip() for line in capsys.readouterr().out.splitlines()) + "\n"


def _snapshot(path: tuple[str, ...], width: int) -> Path:
    return SNAPSHOTS / f"{'-'.join(path) or 'ddbmigrate'}.{width}.txt"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "root")
def test_help_matches_its_snapshot(
    path: tuple[str, ...],
    width: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help(path, width, monkeypatch, capsys)
    snapshot = _snapshot(path, width)
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.exists(), f"no snapshot {snapshot.name}: run with UPDATE_HELP_SNAPSHOTS=1"
    assert text == snapshot.read_text(encoding="utf-8")


def test_every_snapshot_belongs_to_a_command() -> None:
    expected = {_snapshot(path, width).name for path in COMMANDS for width in WIDTHS}
    assert len(expected) == 2 * len(COMMANDS) >= 30
    assert {p.name for p in SNAPSHOTS.glob("*.txt")} == expected


@pytest.mark.parametrize("width", WIDTHS)
def test_help_fits_and_hides_nothing(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in COMMANDS:
        text = _help(path, width, monkeypatch, capsys)
        where = f"{' '.join(path) or 'root'} at {width}"
        assert max(len(line) for line in text.splitlines()) <= width, where
        assert "<bool>" not in text, where  # a flag takes no value
        assert "…" not in text.replace("(…/AWSDynamoDB", ""), where  # nothing cut short
        usage = next(line for line in text.splitlines() if "Usage:" in line)
        assert not re.search(r"[{}]|\[[a-z_]+\]", usage), where  # RUN_ID, not {run_id}
        assert "TOML file with  and" not in text, where  # [source] eaten as markup


def test_brackets_and_defaults_survive(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = " ".join(_help(("migrate",), 120, monkeypatch, capsys).split())
    assert "TOML file with [source] and [destination] tables" in text
    assert "[default: 0.5]" in text  # from ThroughputOptions, shown by typer
    assert "[default: (same name)]" in text
    assert "[default: (one per core)]" in text
    assert "local[N], spark://HOST:PORT" in text
    panels = re.findall(r"╭─ (\w+) ─", _help(("migrate",), 120, monkeypatch, capsys))
    assert panels == [
        "Options",
        "Source",
        "Destination",
        "Staging",
        "Throughput",
        "Engine",
        "Output",
    ]


def test_first_lines_are_short(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = typer.main.get_command(app)
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        first = (command.help or "").split("\n\n")[0]
        assert len(first) <= 66, name  # one line in the command list at 80 columns
