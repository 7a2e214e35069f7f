"""ddbmigrate: move DynamoDB tables between AWS accounts and regions through S3.

The public API: the functions of :mod:`ddbmigrate.api`, the option and result types they
take and return, and the error classes.
"""

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
    "ExportResult",
    "FatalError",
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
    "ValidationMismatchError",
    "ValidationReport",
    "__version__",
    "copy_schema",
    "export",
    "import_",
    "migrate",
    "validate",
]
