"""Core modules never import the outside world (DESIGN.md, "Shape of the code")."""

from __future__ import annotations

import ast
from pathlib import Path

import ddbmigrate

PACKAGE = Path(ddbmigrate.__file__).parent
OUTSIDE = {"boto3", "botocore", "urllib3", "typer", "rich", "click", "pyspark", "s3transfer"}
ALLOWED = {
    "aws": {"boto3", "botocore", "urllib3", "s3transfer"},
    "local": {"boto3", "botocore"},
    "cli": {"typer", "rich"},
}
# The optional extra, imported inside functions only (checked below).
ALLOWED_FILES = {"engines/spark.py": {"pyspark"}}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_each_module_imports_only_what_its_layer_may() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        layer = relative.parts[0] if len(relative.parts) > 1 else ""
        allowed = ALLOWED.get(layer, set()) | ALLOWED_FILES.get(relative.as_posix(), set())
        bad = (imported_roots(path) & OUTSIDE) - allowed
        if bad:
            offenders.append(f"{relative}: {sorted(bad)}")
    assert offenders == []


def test_the_check_itself_sees_imports() -> None:
    assert "boto3" in imported_roots(PACKAGE / "aws" / "session.py")


def test_pyspark_is_imported_inside_functions_only() -> None:
    """ddbmigrate.engines.spark loads without pyspark: the engine is chosen by name, and
    ``--engine spark`` without the extra says how to install it."""
    tree = ast.parse((PACKAGE / "engines" / "spark.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    modules = {n.module for n in top if isinstance(n, ast.ImportFrom)}
    assert not any(str(m).startswith("pyspark") for m in names | modules)
    assert "pyspark" in imported_roots(PACKAGE / "engines" / "spark.py")
