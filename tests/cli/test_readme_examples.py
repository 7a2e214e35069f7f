"""The README's examples, run as written against ``ddbmigrate local up`` (issue 14), so the
README cannot drift from the CLI.

Every fenced block that holds a ``ddbmigrate`` or ``make`` command is marked, on the line
before its fence, either ``<!-- local-example -->`` (it runs against the embedded AWS after
the line ``local up`` prints, and must exit 0) or ``<!-- not-a-local-example: why -->``.
The local ones run in README order, each in one bash, in one working directory: a later
example may use what an earlier one made (the first migrate makes the destination table).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from cliprocess import BIN
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.cli

README = Path(__file__).parents[2] / "README.md"
LOCAL = "<!-- local-example -->"
NOT_LOCAL = re.compile(r"<!-- not-a-local-example: (\S.*) -->")
COMMAND = re.compile(r"^\s*(ddbmigrate|make) ", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    line: int
    """README line of the opening fence."""
    mark: str
    """The line before the fence."""
    text: str

    @property
    def local(self) -> bool:
        return self.mark == LOCAL


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text with the non-blank line before its fence."""
    blocks: list[Block] = []
    lines = text.splitlines()
    opened: int | None = None
    for number, line in enumerate(lines):
        if not line.strip().startswith("```"):
            continue
        if opened is None:
            opened = number
            continue
        before = next((li.strip() for li in reversed(lines[:opened]) if li.strip()), "")
        blocks.append(Block(opened + 1, before, "\n".join(lines[opened + 1 : number]) + "\n"))
        opened = None
    assert opened is None, f"README.md:{opened + 1}: a fence is never closed"
    return blocks


def test_every_command_block_says_whether_it_runs_locally() -> None:
    """A new example cannot slip past the test: it is marked one way or the other."""
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    commands = [b for b in blocks if COMMAND.search(b.text)]
    unmarked = [b.line for b in commands if not b.local and not NOT_LOCAL.fullmatch(b.mark)]
    assert unmarked == [], f"README.md lines {unmarked}: mark the block {LOCAL} or not-a-local"
    local = [b for b in commands if b.local]
    assert len(local) >= 8, [b.line for b in local]
    assert "--source-profile a" in local[0].text
    assert "--dest-profile b" in local[0].text


def shell_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: nothing of this host's AWS setup, ``ddbmigrate`` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DDBMIGRATE_"))}
    env["PATH"] = f"{BIN.parent}{os.pathsep}{env['PATH']}"
    env["HOME"] = str(tmp_path)
    env["COLUMNS"] = "200"
    return env


def test_the_local_examples_run_in_order(local_up: dict[str, str], tmp_path: Path) -> None:
    """The line ``local up`` prints, eval'd, then every local example as written: exit 0."""
    assert set(local_up) >= {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION"}
    assert "AWS_REGION" not in local_up  # boto3 reads AWS_DEFAULT_REGION
    local = [b for b in fenced_blocks(README.read_text(encoding="utf-8")) if b.local]
    first = ""
    for block in local:
        script = f"set -e\neval {shlex.quote(local_up['_export_line'])}\n{block.text}"
        out = subprocess.run(
            ["bash", "-c", script],
            env=shell_env(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert out.returncode == 0, f"README.md:{block.line}:\n{block.text}\n{out.stderr}"
        first = first or out.stdout
    assert "MATCH: 40 of 40 items identical" in first
    endpoint = local_up["AWS_ENDPOINT_URL"]
    source, dest = (dynamodb_client(endpoint, role) for role in (SOURCE_ROLE, DEST_ROLE))
    assert_same_items(source, "customer", dest, "customer", count=40)  # judged by the test
