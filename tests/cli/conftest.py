"""Fixtures of the CLI tests: ``ddbmigrate local up`` running in the background."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from cliprocess import BIN, cli_env


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``ddbmigrate local up`` in the background (one per test module, so each module starts
    from the table it fills); returns the environment it tells us to export, with the
    command it prints under ``_command`` and the export line as printed under
    ``_export_line``."""
    tmp = tmp_path_factory.mktemp("local-up")
    with subprocess.Popen(
        [str(BIN), "local", "up", "--items", "40"],
        env=cli_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("export "):
                break
        exported = dict(pair.split("=", 1) for pair in lines[-1].split()[1:])
        command = "".join(proc.stdout.readline() for _ in range(3))
        try:
            yield {**exported, "_command": command, "_export_line": lines[-1].strip()}
        finally:
            proc.terminate()
            proc.wait(timeout=20)
