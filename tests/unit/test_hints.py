"""Messages and hints name only options, and method values, that the CLI accepts.

Every string constant in the package (f-string parts too) is searched for ``--flag`` words;
each must be an option of some ``ddbmigrate`` command, read from the typer app itself. The
values given to ``--export-method``/``--import-method`` in those strings must be ones the
CLI takes, checked by running ``main`` with them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

import ddbmigrate
from ddbmigrate.cli.app import app, main
from ddbmigrate.cli.exit_codes import ExitCode

PACKAGE = Path(ddbmigrate.__file__).parent
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w{-])")
"""An option word; not one followed by ``-{`` (``--max-{unit}``: an f-string builds it)."""
METHOD = re.compile(r"--(export|import)-method[ =]([a-z]+)")
OTHER_TOOLS = frozenset(
    {
        "--help",  # typer's help option (context settings, not a parameter)
        "--profile",  # `aws configure --profile`, `aws sso login --profile`
        "--export-arn",  # `aws dynamodb describe-export`
        "--import-arn",  # `aws dynamodb describe-import`
        "--bulk-operation-arn",  # `aws dynamodb describe-bulk-operation`
        "--table-name",  # `aws dynamodb update-continuous-backups`
        "--point-in-time-recovery-specification",
        "--conf",  # spark-submit
        "--until-stdin-closes",  # the embedded moto server's own (local/moto_main.py)
    }
)
"""Options of the AWS CLI, spark-submit and the embedded server, named in hints and commands."""


def _options(command: Any) -> Iterator[str]:
    """Every option string of ``command`` and its subcommands (typer's own click types)."""
    for param in command.params:
        yield from param.opts
        yield from param.secondary_opts
    for sub in getattr(command, "commands", {}).values():
        yield from _options(sub)


def _strings() -> Iterator[tuple[str, int, str]]:
    """(file, line, text) of every string constant in the package's source."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield str(path.relative_to(PACKAGE)), node.lineno, node.value


def test_every_flag_named_in_a_message_exists() -> None:
    known = set(_options(typer.main.get_command(app))) | OTHER_TOOLS
    named = {
        (f"--{flag}", where, line)
        for where, line, text in _strings()
        for flag in FLAG.findall(text)
    }
    assert len(named) > 50  # the search finds the package's hints at all
    unknown = sorted(f"{where}:{line}: {flag}" for flag, where, line in named if flag not in known)
    assert unknown == []


def _method_values() -> set[tuple[str, str]]:
    return {(kind, value) for _, _, text in _strings() for kind, value in METHOD.findall(text)}


def test_the_search_finds_method_values() -> None:
    assert ("import", "batch") in _method_values()
    assert ("export", "native") in _method_values() or ("import", "native") in _method_values()


@pytest.mark.parametrize(("kind", "value"), sorted(_method_values()))
def test_every_method_value_named_in_a_message_is_accepted(
    kind: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `policies` makes no AWS call once the accounts and regions are given: an accepted
    # value prints the policies, a refused one is a usage error naming the flag.
    code = main(
        [
            "policies",
            *("--source-table", "customer", "--staging", "s3://bucket-in-b/p/"),
            *("--source-account", "111111111111", "--dest-account", "222222222222"),
            *("--source-region", "eu-west-1", "--dest-region", "eu-west-1"),
            f"--{kind}-method",
            value,
        ]
    )
    out = capsys.readouterr()
    assert code == ExitCode.OK, out.err
    assert f"--{kind}-method" not in out.err


def test_a_method_the_cli_refuses_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "policies",
            *("--source-table", "customer", "--staging", "s3://bucket-in-b/p/"),
            *("--source-account", "111111111111", "--dest-account", "222222222222"),
            *("--source-region", "eu-west-1", "--dest-region", "eu-west-1"),
            *("--import-method", "scan"),
        ]
    )
    assert code == ExitCode.USAGE
    assert "--import-method" in capsys.readouterr().err
