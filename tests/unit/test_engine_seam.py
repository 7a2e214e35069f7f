"""The core talks to the engine seam (engines/base.py), never to an engine (issue 13)."""

from __future__ import annotations

import ast
from pathlib import Path

import ddbmigrate
from ddbmigrate.engines import base, local

PACKAGE = Path(ddbmigrate.__file__).parent
IMPLEMENTATIONS = {"ddbmigrate.engines.local", "ddbmigrate.engines.spark"}
# Layers that wire engines in or are engines; every other module is core.
OUTSIDE_CORE = {"engines", "cli", "aws", "local"}
# The wiring that builds engines from options (the façade's helpers may join it).
WIRING = {"api.py", "wiring/engines.py"}


def engine_imports(path: Path) -> set[str]:
    """Engine implementations ``path`` imports, however it spells the import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & IMPLEMENTATIONS


def core_modules() -> list[Path]:
    paths = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in OUTSIDE_CORE or relative.as_posix() in WIRING:
            continue
        paths.append(path)
    return paths


def test_no_core_module_imports_an_engine_implementation() -> None:
    offenders = {
        p.relative_to(PACKAGE).as_posix(): sorted(engine_imports(p)) for p in core_modules()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_steps_are_among_the_modules_checked() -> None:
    names = {p.name for p in core_modules()}
    assert {"exporter.py", "importer.py", "validator.py", "pipeline.py"} <= names


def test_the_check_sees_both_spellings(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from ddbmigrate.engines.local import Shared\nfrom ddbmigrate.engines import spark\n"
    )
    assert engine_imports(module) == IMPLEMENTATIONS


def test_names_stay_importable_from_the_old_place() -> None:
    for name in ("Engine", "Shared", "Cancelled", "ThreadEngine", "INTERRUPT", "run_units"):
        assert getattr(local, name) is getattr(base, name)
