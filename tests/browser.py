"""A page loaded in a real headless Chromium (Debian's ``chromium`` package): the DOM it
built and every console line it logged.

No skip when Chromium is missing: a suite that quietly left the browser check out would
pass for the wrong reason. ``make test`` installs it when it can (see the Makefile).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_HINT = (
    "Chromium is needed to check the HTML report in a real browser and was not found on "
    "PATH: install Debian's package with `apt-get install -y chromium` (as root; `make test` "
    "tries this itself when chromium is missing)"
)

# With --enable-logging=stderr, every console message (console.error, an uncaught
# exception, a resource that failed to load) is a line like
# [pid:tid:time:INFO:CONSOLE:1] "Uncaught ReferenceError: …", source: file:///… (1)
_CONSOLE = re.compile(r":CONSOLE(?::\d+|\(\d+\))\]\s*(.*)$")


@dataclass(frozen=True)
class LoadedPage:
    dom: str
    """The document as the browser built it (``--dump-dom``)."""
    console: list[str]
    """Every console message the page logged."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


def load(page: Path, profile: Path) -> LoadedPage:
    """Load ``page`` once, headless, with its own throwaway profile directory."""
    done = subprocess.run(
        [
            chromium(),
            *("--headless", "--disable-gpu", "--no-sandbox", "--no-first-run"),
            *("--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}"),
            *("--dump-dom", page.resolve().as_uri()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [m.group(1) for line in done.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return LoadedPage(done.stdout, console)
