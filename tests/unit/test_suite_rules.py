"""Rules the test suite keeps, checked on its own source.

Every property test runs under the suite's hypothesis profile (tests/conftest.py): no
deadline and no too_slow health check, so a loaded machine cannot fail a test that is right.
Every test asserts something.
"""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import HealthCheck, settings

TESTS = Path(__file__).resolve().parents[1]
LOAD_DEPENDENT = ("deadline", "suppress_health_check", "timeout")


def test_the_suite_profile_has_no_deadline_and_no_too_slow_check() -> None:
    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check


def test_a_test_that_sets_its_example_count_keeps_the_profile() -> None:
    # What `@settings(max_examples=30)` on a test builds: the unset fields come from the profile.
    own = settings(max_examples=30)
    assert own.deadline is None
    assert HealthCheck.too_slow in own.suppress_health_check


def test_no_test_file_sets_its_own_deadline_or_health_checks() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "settings":
                found += [
                    f"{path.relative_to(TESTS)}:{node.lineno} {kw.arg}"
                    for kw in node.keywords
                    if kw.arg in LOAD_DEPENDENT
                ]
    assert found == [], "set these in the profile of tests/conftest.py, not per test"


# --- every test asserts something ---

_CHECKS = ("raises", "warns", "fail", "deprecated_call")
"""pytest calls that assert (``pytest.raises`` as a context or a call, ``pytest.fail``)."""


def _asserts_directly(function: ast.FunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in _CHECKS:
            return True
    return False


def _functions() -> dict[Path, list[ast.FunctionDef]]:
    found: dict[Path, list[ast.FunctionDef]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[path] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    return found


def test_every_test_asserts_something() -> None:
    """A test that only runs code passes whatever the code returns: each test function has an
    assert or a pytest.raises (or calls a helper of the test suite that has one)."""
    functions = _functions()
    # A helper asserts if it asserts itself or calls one that does (checks may be nested).
    helpers = {f.name for fs in functions.values() for f in fs if not f.name.startswith("test_")}
    asserting = {f.name for fs in functions.values() for f in fs if _asserts_directly(f)}
    while True:
        more = {
            f.name
            for fs in functions.values()
            for f in fs
            if f.name in helpers - asserting and _calls(f) & asserting
        }
        if not more:
            break
        asserting |= more
    silent = [
        f"{path.relative_to(TESTS)}:{f.lineno} {f.name}"
        for path, fs in functions.items()
        for f in fs
        if f.name.startswith("test_") and f.name not in asserting and not _calls(f) & asserting
    ]
    assert silent == []


def _calls(function: ast.FunctionDef) -> set[str]:
    return {
        ast.unparse(n.func).split(".")[-1] for n in ast.walk(function) if isinstance(n, ast.Call)
    }
