"""The public API is what __all__ says, sorted, and every name exists (httpx's habit)."""

from __future__ import annotations

import ddbmigrate


def test_all_is_sorted_and_complete() -> None:
    assert ddbmigrate.__all__ == sorted(ddbmigrate.__all__)
    public = {name for name in vars(ddbmigrate) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(ddbmigrate, name)).__name__ == "module"}
    assert set(ddbmigrate.__all__) - {"__version__"} == public - modules


def test_every_error_has_one_root() -> None:
    errors = [getattr(ddbmigrate, n) for n in ddbmigrate.__all__ if n.endswith("Error")]
    assert all(issubclass(e, ddbmigrate.DdbMigrateError) for e in errors)
