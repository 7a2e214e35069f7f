"""Helpers that once had two or three copies now have one (issue 13): the credentials
provider handed to botocore, and the error a worker sends back to its parent."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
from botocore.credentials import Credentials

import ddbmigrate
from ddbmigrate.aws.session import botocore_session
from ddbmigrate.engines.local import Cancelled
from ddbmigrate.engines.portable import from_spark_task, from_worker, portable
from ddbmigrate.errors import FatalError, ThrottledError

PACKAGE = Path(ddbmigrate.__file__).parent


def definitions(predicate: type[ast.AST], keep: object) -> list[str]:
    """``module:name`` of every definition of the kind ``predicate`` that ``keep`` accepts."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, predicate) and keep(node):  # type: ignore[operator]
                found.append(f"{path.relative_to(PACKAGE).as_posix()}:{node.name}")  # type: ignore[attr-defined]
    return found


def is_credential_provider(node: ast.ClassDef) -> bool:
    return any(ast.unparse(base).endswith("CredentialProvider") for base in node.bases)


def test_one_static_credentials_provider() -> None:
    assert definitions(ast.ClassDef, is_credential_provider) == ["aws/session.py:_GivenCredentials"]


def test_one_portable() -> None:
    named = definitions(ast.FunctionDef, lambda node: node.name.lstrip("_") == "portable")
    assert named == ["engines/portable.py:portable"]


def test_the_given_credentials_sign_and_keep_refreshing() -> None:
    held = Credentials("AKIDEXAMPLE", "secret")
    # The very object, not a frozen copy: a refreshable one renews itself through a long run.
    assert botocore_session(None, held).get_credentials() is held


@pytest.mark.parametrize("error", [ThrottledError("slow down"), Cancelled()])
def test_our_errors_travel_as_themselves(error: BaseException) -> None:
    assert from_worker(error) is error
    assert from_spark_task(error) is error


def test_any_other_error_becomes_fatal_with_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        error = from_worker(exc)
    assert isinstance(error, FatalError)
    assert error.message == "a worker failed: ValueError: boom"
    assert "Traceback" in str(error.hint)
    assert "raise ValueError" in str(error.hint)
    pickle.dumps(error)


def test_what_failed_is_named() -> None:
    error = portable(KeyError("k"), failed="a Spark task")
    assert isinstance(error, FatalError)
    assert error.message == "a Spark task failed: KeyError: 'k'"
