"""dynalite: an independent DynamoDB implementation (npm), as a second endpoint of the tests.

moto is one implementation with its own quirks; every path proven on dynalite too is proven
on two. dynalite speaks only DynamoDB (no STS, no S3) and lacks some control-plane calls
(DescribeContinuousBackups, UpdateTimeToLive...), which is what the best-effort settings
are tested with.

Installed once into ``.cache/dynalite`` (git-ignored) with npm: ``make test`` runs
``python tests/dynalite.py`` before the suite; the fixture installs it too when it is
missing. Node.js and npm must be on PATH: without them the tests fail, saying so.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

VERSION = "3.2.2"
"""The dynalite release the suite is proven against (one place: the Makefile calls this)."""
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "dynalite"
START_TIMEOUT = 60.0
"""Seconds for node to start listening (generous: the machine may be loaded)."""


class DynaliteMissingError(RuntimeError):
    """node or npm is missing, or npm could not install dynalite."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DynaliteMissingError(
            f"{name} is not on PATH: the test suite runs every endpoint test against dynalite "
            "(npm) too; install Node.js 18 or later with npm (e.g. apt-get install nodejs npm)"
        )
    return path


def cli_path() -> Path:
    return CACHE / "node_modules" / "dynalite" / "cli.js"


def installed_version() -> str | None:
    package = CACHE / "node_modules" / "dynalite" / "package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def install() -> Path:
    """dynalite ``VERSION`` in the cache folder (npm install, once); its cli.js."""
    CACHE.mkdir(parents=True, exist_ok=True)
    # Two test processes may both find it missing: one installs, the other waits for it.
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed_version() != VERSION:
            npm = _tool("npm")
            command = [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund"]
            done = subprocess.run(
                [*command, f"dynalite@{VERSION}"], capture_output=True, text=True, check=False
            )
            if done.returncode != 0 or installed_version() != VERSION:
                raise DynaliteMissingError(
                    f"npm install dynalite@{VERSION} into {CACHE} failed "
                    f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}"
                )
    return cli_path()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DynaliteServer:
    """dynalite in memory on a free loopback port, for one test session."""

    def __init__(self) -> None:
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DynaliteServer:
        cli = install()
        node = _tool("node")
        self.port = free_port()
        # Tables become ACTIVE at once: the tests wait on the tool, not on a simulated delay.
        delays = ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
        self._process = subprocess.Popen(
            [node, str(cli), "--port", str(self.port), *delays],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise DynaliteMissingError(f"dynalite exited at start: {err[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.1)  # polling a port, not racing a result
        self.__exit__(None, None, None)
        raise DynaliteMissingError(f"dynalite did not listen within {START_TIMEOUT:.0f} s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr:
                self._process.stderr.close()
            self._process = None


if __name__ == "__main__":
    # `make test` installs it before the suite, so no test process waits on npm.
    try:
        print(f"dynalite {VERSION}: {install()}")
    except DynaliteMissingError as error:
        sys.exit(f"error: {error}")
