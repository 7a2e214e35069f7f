"""Core modules never import the outside world (DESIGN.md, "Shape of the code")."""

from __future__ import annotations

import ast
import subprocess
import sys
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


# The edges that wire the core to AWS and to the terminal; every other module is core and
# loads without them (issue 13: ``import ddbmigrate.model`` paid 0.5 s for boto3).
EDGE_FILES = {"__init__.py", "__main__.py", "api.py", "spark_job.py"}
EDGE_LAYERS = {"aws", "cli", "local", "wiring"}
BOUNDARY = (
    "ddbmigrate.aws",
    "ddbmigrate.api",
    "ddbmigrate.cli",
    "ddbmigrate.local",
    "ddbmigrate.wiring",
)


def core_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in EDGE_LAYERS or relative.as_posix() in EDGE_FILES:
            continue
        parts = ("ddbmigrate", *relative.with_suffix("").parts)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imported_names(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, by full name (``from ddbmigrate import
    api`` counts as ``ddbmigrate.api``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def crosses(name: str) -> bool:
    return any(name == edge or name.startswith(f"{edge}.") for edge in BOUNDARY)


def test_no_core_module_imports_the_aws_boundary_or_the_cli() -> None:
    offenders = []
    for module in core_modules():
        relative = Path(*module.split(".")[1:])
        path = PACKAGE / relative / "__init__.py"
        path = path if path.exists() else (PACKAGE / relative).with_suffix(".py")
        offenders += [f"{module}: {name}" for name in imported_names(path) if crosses(name)]
    assert offenders == []


def test_the_boundary_check_sees_a_package_import() -> None:
    assert crosses("ddbmigrate.aws.session")
    assert not crosses("ddbmigrate.awsome")
    assert "ddbmigrate.api" in imported_names(PACKAGE / "spark_job.py")
    assert "ddbmigrate.model" in core_modules()
    assert "ddbmigrate.api" not in core_modules()


def loaded_after(statement: str) -> list[str]:
    """The modules a fresh interpreter holds after ``statement``."""
    script = f"{statement}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def outside(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in OUTSIDE or crosses(name)]


def test_importing_the_model_loads_no_sdk() -> None:
    """``python -X importtime -c "import ddbmigrate.model"`` shows no boto3, botocore or
    urllib3: the package's ``__init__`` loads its public names lazily."""
    modules = loaded_after("import ddbmigrate.model")
    assert "ddbmigrate.model" in modules
    assert outside(modules) == []


def test_importing_every_core_module_loads_no_sdk() -> None:
    modules = loaded_after("\n".join(f"import {name}" for name in core_modules()))
    assert "ddbmigrate.engines.spark" in modules
    assert "ddbmigrate.pipeline" in modules
    assert outside(modules) == []


def test_the_public_api_still_loads_the_aws_boundary() -> None:
    # The other side of the coin: the check would see boto3 if something loaded it.
    assert "boto3" in loaded_after("from ddbmigrate import migrate")
