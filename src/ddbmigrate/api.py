"""The library's entry points: wire AWS (or a local directory) into the core steps.

A façade: every public function lives in ``ddbmigrate.wiring`` (one module per concern)
and is named here, so the CLI and any Python program import one module. This is the only
module the CLI calls.
"""

from __future__ import annotations

from ddbmigrate.capacity import ThroughputOptions, task_shares
from ddbmigrate.config import Side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.exporter import ExportResult
from ddbmigrate.importer import ImportResult
from ddbmigrate.pipeline import MigrateOptions, MigrateReport
from ddbmigrate.ports import NullObserver, Observer
from ddbmigrate.validator import ValidationReport
from ddbmigrate.wiring.accounts import (
    DATA_PLANE_ENV,
    DEFAULT_ACL,
    Account,
    StagingOptions,
    data_plane,
    read_object,
    run_store,
)
from ddbmigrate.wiring.commands import (
    copy_schema,
    migrate,
    migrate_plan,
    plan_lines,
    policy_documents,
    validate,
)
from ddbmigrate.wiring.engines import check_executors, engine_preflight, open_engine
from ddbmigrate.wiring.exports import export
from ddbmigrate.wiring.imports import import_
from ddbmigrate.wiring.records import cleanup, resume, status
from ddbmigrate.wiring.reporting import (
    Reporting,
    merge_reports,
    notifier,
    observed,
    publish_report,
)
from ddbmigrate.wiring.scope import RESUMER_DECIDES, open_ledger
from ddbmigrate.wiring.tables import expand_pipeline, reporting_of, run_pipeline

__all__ = [  # the functions, and the types they take and return
    "DATA_PLANE_ENV",
    "DEFAULT_ACL",
    "RESUMER_DECIDES",
    "Account",
    "EngineChoice",
    "ExportResult",
    "ImportResult",
    "MigrateOptions",
    "MigrateReport",
    "NullObserver",
    "Observer",
    "Reporting",
    "Side",
    "StagingOptions",
    "ThroughputOptions",
    "ValidationReport",
    "check_executors",
    "cleanup",
    "copy_schema",
    "data_plane",
    "engine_preflight",
    "expand_pipeline",
    "export",
    "import_",
    "merge_reports",
    "migrate",
    "migrate_plan",
    "notifier",
    "observed",
    "open_engine",
    "open_ledger",
    "plan_lines",
    "policy_documents",
    "publish_report",
    "read_object",
    "reporting_of",
    "resume",
    "run_pipeline",
    "run_store",
    "status",
    "task_shares",
    "validate",
]
