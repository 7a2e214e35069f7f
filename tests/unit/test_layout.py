"""Each step is written once, and the run scaffold once (issue 13): checked on the source.

The steps' workers (``export_table``, ``import_source``, ``validate_tables``) are called
only from ``ddbmigrate/steps/``; the plan lock is taken only in the run scaffold; the core
(steps, pipeline, plans, capacity) imports no wiring, AWS or engine implementation beyond
the engine protocol, and ``capacity`` does not reach back up into ``pipeline``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ddbmigrate
from ddbmigrate.engines.base import DEFAULT_THREADS
from ddbmigrate.options import THREADS

PACKAGE = Path(ddbmigrate.__file__).parent
CORE = ["capacity.py", "pipeline.py", "plans.py", "steps/"]


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def calls_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
    }


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def callers(name: str) -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in modules() if name in calls_of(p)}


@pytest.mark.parametrize(
    ("worker", "step"),
    [
        ("export_table", "steps/export.py"),
        ("import_source", "steps/import_.py"),
        ("validate_tables", "steps/validate.py"),
    ],
)
def test_each_step_is_written_once(worker: str, step: str) -> None:
    assert callers(worker) == {step}


def test_the_run_scaffold_is_written_once() -> None:
    # cleanup.py holds a plan's lock only while it deletes a run's files (no ledger, no
    # engine): the scaffold that opens a run is in wiring/scope.py alone.
    assert callers("take_lock") == {"wiring/scope.py", "cleanup.py"}
    assert callers("open_ledger") == {"wiring/scope.py"}


def test_budgets_are_made_below_and_nothing_calls_back_up() -> None:
    assert "ddbmigrate.pipeline" not in imported_modules(PACKAGE / "capacity.py")
    assert "ddbmigrate.exporter" not in imported_modules(PACKAGE / "validator.py")


def test_the_core_imports_no_wiring() -> None:
    assert (PACKAGE / "steps").is_dir()
    assert (PACKAGE / "wiring").is_dir()
    offenders = []
    for path in modules():
        relative = path.relative_to(PACKAGE).as_posix()
        if not any(relative == c or relative.startswith(c) for c in CORE):
            continue
        for module in imported_modules(path):
            if module.startswith(("ddbmigrate.wiring", "ddbmigrate.api", "ddbmigrate.aws")):
                offenders.append(f"{relative}: {module}")
    assert offenders == []


def test_api_is_a_facade() -> None:
    source = (PACKAGE / "api.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    assert len(source.splitlines()) < 500
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    # Each public function builds its options (the older keywords) and hands over.
    long = [f.name for f in functions if len([s for s in f.body if not is_docstring(s)]) > 3]
    assert long == []


def is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def test_the_option_objects_default_threads_like_the_engine() -> None:
    assert THREADS == DEFAULT_THREADS
