"""Every property test runs under the suite's hypothesis profile (tests/conftest.py): no
deadline and no too_slow health check, so a loaded machine cannot fail a test that is right."""

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
