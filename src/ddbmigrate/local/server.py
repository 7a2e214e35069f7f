"""moto in server mode on a free loopback port: a real HTTP server speaking the AWS protocols.

Its S3 refuses a request whose ExpectedBucketOwner is not the bucket's owner, as AWS does
(``local/moto_main.py``; moto itself ignores the header).

It runs as a child process (so it has its own interpreter and GIL) and is stopped with the
context manager. Accounts are isolated by AssumeRole: credentials returned for
``arn:aws:iam::111111111111:role/x`` act as account 111111111111.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import TracebackType

from ddbmigrate.errors import ConfigError, FatalError

# Base credentials for the embedded AWS; anything non-empty works, AssumeRole picks the account.
LOCAL_ACCESS_KEY = "ddbmigrate-local"
LOCAL_SECRET_KEY = "ddbmigrate-local-secret"  # noqa: S105 - a fixed value for a local emulator
LOCAL_REGION = "us-east-1"
MOTO_MAIN = "ddbmigrate.local.moto_main"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """Start and stop moto's server (``python -m ddbmigrate.local.moto_main``) on 127.0.0.1."""

    def __init__(self, *, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        if importlib.util.find_spec("moto") is None:
            raise ConfigError(
                "the embedded AWS needs moto, which is not installed",
                hint="pip install 'ddbmigrate[local]'",
            )
        env = dict(os.environ, MOTO_ALLOW_NONEXISTENT_REGION="false")
        self._process = subprocess.Popen(
            # moto's server plus S3's ExpectedBucketOwner check, which moto lacks; it lives
            # until stdin closes (stop, or this process's end), whatever signals the group gets.
            [
                *(sys.executable, "-m", MOTO_MAIN, "-H", "127.0.0.1", "-p", str(self.port)),
                "--until-stdin-closes",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise FatalError(f"moto server exited with code {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise FatalError(
            f"moto server did not answer on {self.endpoint_url} within {self.startup_timeout:.0f} s"
        )

    def stop(self) -> None:
        if self._process is None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()  # the server's signal to end (signals it ignores)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
