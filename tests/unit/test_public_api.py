"""The public API is what __all__ says, sorted, and every name exists (httpx's habit)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ddbmigrate


def test_all_is_sorted_and_complete() -> None:
    assert ddbmigrate.__all__ == sorted(ddbmigrate.__all__)
    for name in ddbmigrate.__all__:  # the names load on first use (PEP 562): load them all
        getattr(ddbmigrate, name)
    public = {name for name in vars(ddbmigrate) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(ddbmigrate, name)).__name__ == "module"}
    assert set(ddbmigrate.__all__) - {"__version__"} == public - modules


def test_every_error_has_one_root() -> None:
    errors = [getattr(ddbmigrate, n) for n in ddbmigrate.__all__ if n.endswith("Error")]
    assert all(issubclass(e, ddbmigrate.DdbMigrateError) for e in errors)


def test_every_public_name_imports_from_a_fresh_process() -> None:
    """``from ddbmigrate import migrate, MigrateOptions`` (and every other name) still works
    now that the package loads its names lazily; each is the object its module defines."""
    script = (
        "import ddbmigrate\n"
        "from ddbmigrate import *\n"
        "from ddbmigrate import migrate, MigrateOptions, Side, StagingOptions\n"
        "from ddbmigrate import api, errors, pipeline\n"
        "missing = [n for n in ddbmigrate.__all__ if n not in globals()]\n"
        "assert missing == [], missing\n"
        "assert migrate is api.migrate and MigrateOptions is pipeline.MigrateOptions\n"
        "assert ConfigError is errors.ConfigError and StagingOptions is api.StagingOptions\n"
        "assert Side.__module__ == 'ddbmigrate.config'\n"
        "assert set(ddbmigrate.__all__) <= set(dir(ddbmigrate))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'migrat'"):
        _ = ddbmigrate.migrat  # type: ignore[attr-defined]
    assert not hasattr(ddbmigrate, "Error")  # ends in "Error" but is not public
