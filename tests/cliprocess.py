"""The installed ``ddbmigrate`` command as a user runs it, for the tests that start it as a
subprocess: where it is, and an environment holding nothing of the host's AWS setup but the
embedded AWS's keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY

BIN = Path(sys.executable).parent / "ddbmigrate"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment less every ``AWS_*``/``DDBMIGRATE_*`` variable, with the
    embedded AWS's keys, no config or credentials file, and a wide terminal (one line a
    message); ``extra`` last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DDBMIGRATE_"))}
    env.update(
        AWS_ACCESS_KEY_ID=LOCAL_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=LOCAL_SECRET_KEY,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def ddbmigrate(
    *args: str, home: Path, timeout: float = 240, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it (this interpreter, so PYTHONPATH applies), in the
    environment of :func:`cli_env` for a test's folder ``home``, with ``env`` over it."""
    return subprocess.run(
        [sys.executable, "-m", "ddbmigrate", *args],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def side(flag: str, url: str, role: str) -> list[str]:
    """One side (``flag`` is ``source`` or ``dest``) of the embedded AWS at ``url`` as flags."""
    return [
        f"--{flag}-endpoint-url",
        url,
        f"--{flag}-region",
        LOCAL_REGION,
        f"--{flag}-role-arn",
        role,
    ]


def side_flags(source_url: str, dest_url: str | None = None) -> list[str]:
    """Both sides as flags, for the embedded AWS (or a proxy or stub in front of a side),
    progress off: what the live-migration tests pass to every command."""
    return [
        *side("source", source_url, SOURCE_ROLE),
        *side("dest", dest_url or source_url, DEST_ROLE),
        *("--progress", "off"),
    ]
