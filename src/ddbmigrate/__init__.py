"""ddbmigrate: move DynamoDB tables between AWS accounts and regions through S3.

The public API: the functions of :mod:`ddbmigrate.api`, the option and result types they
take and return, and the error classes.

Names load on first use (PEP 562): ``import ddbmigrate.model`` must not pay for boto3,
because the core modules live in this package and the public functions pull in the AWS
boundary. Type checkers read the imports below instead.
"""

# Modules, not names, so that the namespace holds nothing public but ``__all__``.
import importlib
import typing

if typing.TYPE_CHECKING:
    from ddbmigrate.api import StagingOptions, copy_schema, export, import_, migrate, validate
    from ddbmigrate.config import Side
    from ddbmigrate.engines.choice import EngineChoice
    from ddbmigrate.errors import (
        AccessDeniedError,
        CapacityGuardError,
        ConfigError,
        CorruptDataError,
        CredentialsError,
        DdbMigrateError,
        DestinationNotEmptyError,
        EngineError,
        FatalError,
        NotFoundError,
        RejectedItemError,
        ResumeMismatchError,
        SchemaMismatchError,
        StagingError,
        ThrottledError,
        TransientError,
        ValidationMismatchError,
    )
    from ddbmigrate.exporter import ExportResult
    from ddbmigrate.importer import ImportResult
    from ddbmigrate.options import ExportOptions, ImportOptions, ValidateOptions
    from ddbmigrate.pipeline import MigrateOptions, MigrateReport
    from ddbmigrate.validator import ValidationReport

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "CapacityGuardError",
    "ConfigError",
    "CorruptDataError",
    "CredentialsError",
    "DdbMigrateError",
    "DestinationNotEmptyError",
    "EngineChoice",
    "EngineError",
    "ExportOptions",
    "ExportResult",
    "FatalError",
    "ImportOptions",
    "ImportResult",
    "MigrateOptions",
    "MigrateReport",
    "NotFoundError",
    "RejectedItemError",
    "ResumeMismatchError",
    "SchemaMismatchError",
    "Side",
    "StagingError",
    "StagingOptions",
    "ThrottledError",
    "TransientError",
    "ValidateOptions",
    "ValidationMismatchError",
    "ValidationReport",
    "__version__",
    "copy_schema",
    "export",
    "import_",
    "migrate",
    "validate",
]

# Where each public name is defined; the errors are every other name that ends in "Error".
_HOMES = {
    "StagingOptions": "api",
    "copy_schema": "api",
    "export": "api",
    "import_": "api",
    "migrate": "api",
    "validate": "api",
    "Side": "config",
    "EngineChoice": "engines.choice",
    "ExportResult": "exporter",
    "ImportResult": "importer",
    "ExportOptions": "options",
    "ImportOptions": "options",
    "ValidateOptions": "options",
    "MigrateOptions": "pipeline",
    "MigrateReport": "pipeline",
    "ValidationReport": "validator",
}


def _home(name: str) -> str | None:
    if name in _HOMES:
        return _HOMES[name]
    return "errors" if name.endswith("Error") and name in __all__ else None


def __getattr__(name: str) -> typing.Any:
    home = _home(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once loaded, a plain attribute: __getattr__ is not asked again
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
