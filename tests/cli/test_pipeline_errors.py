"""Mistakes in a pipeline file, as ``ddbmigrate run`` shows them: ``file:line: field: message``
in plain words, one line, exit code 2, before any AWS call."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import clean_env, run

pytestmark = pytest.mark.cli

GOOD = """\
source:
  profile: a
destination:
  profile: b
staging: s3://bucket-in-b/migrations/
tables:
  - customer
parallel_tables: 2
"""


def error_of(tmp_path: Path, text: str) -> tuple[str, str]:
    """The ``error:`` line and the ``hint:`` line (or "") of ``run`` on ``text``."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    out = run(["run", str(path)], clean_env(tmp_path))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    hints = [line for line in lines if line.startswith("hint: ")]
    assert len(errors) == 1, out.stderr
    return errors[0].removeprefix(f"error: {path}:"), (hints or [""])[0]


def test_a_key_indented_wrongly_names_its_line_and_says_so(tmp_path: Path) -> None:
    error, _ = error_of(tmp_path, GOOD.replace("destination:", " destination:"))
    assert error == (
        "3: destination: this line is indented differently from the lines above it: the keys "
        "of one mapping (and the items of one list) must start in the same column"
    )
    assert "<unicode string>" not in error


def test_a_value_of_the_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    error, _ = error_of(tmp_path, GOOD.replace("parallel_tables: 2", "parallel_tables: two"))
    assert error == "8: parallel_tables: expected a whole number, got 'two'"
    error, _ = error_of(tmp_path, GOOD.replace("parallel_tables: 2", "parallel_tables: 99"))
    assert error == "8: parallel_tables: expected a whole number from 1 to 64, got 99"
    error, _ = error_of(tmp_path, GOOD + "fail_fast: maybe\n")
    assert error == "9: fail_fast: expected true or false, got 'maybe'"


def test_an_unknown_key_is_named_with_the_closest_known_one(tmp_path: Path) -> None:
    error, hint = error_of(tmp_path, GOOD.replace("  profile: b", "  profil: b"))
    assert error == "4: destination.profil: not a key of destination; did you mean 'profile'?"
    assert hint.startswith("hint: the keys of destination are endpoint_url, external_id, ")


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    error, hint = error_of(tmp_path, GOOD.replace("staging: s3://bucket-in-b/migrations/\n", ""))
    assert error == (
        "1: staging: missing: a pipeline file needs source, destination, staging and tables"
    )
    assert hint == "hint: see the README's example"
