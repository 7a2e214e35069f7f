"""AWS's managed export (ExportTableToPointInTime) and import (ImportTable), opt-in by
``--export-method native`` / ``--import-method native``, as ``pipeline.ManagedPaths``."""

from __future__ import annotations

from ddbmigrate.aws import native_paths
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import ConfigError
from ddbmigrate.formats.detect import SourcePlan
from ddbmigrate.model import StoreURL
from ddbmigrate.pipeline import ManagedPaths, MigrateOptions
from ddbmigrate.ports import TableSchema
from ddbmigrate.schema import create_table_request
from ddbmigrate.wiring.accounts import Account, StagingOptions


def managed_paths(
    src: Account,
    dst: Account,
    *,
    staging: StagingOptions,
    owner: str | None,
    options: MigrateOptions,
    clock: SystemClock,
) -> ManagedPaths:
    """AWS's managed export/import for the options that ask for them."""
    url = StoreURL.parse(staging.url)
    if url.scheme != "s3" and "native" in (options.export_method, options.import_method):
        raise ConfigError(
            "--export-method/--import-method native need an s3:// staging URL",
            hint="AWS's managed export and import read and write S3 only",
        )
    export = import_ = check = None
    if options.export_method == "native":

        def export(schema: TableSchema, ledger: Ledger) -> str:
            return native_export(
                src,
                dst,
                url=url,
                staging=staging,
                owner=owner,
                schema=schema,
                ledger=ledger,
                clock=clock,
            )

    if options.import_method == "native":

        def check(schema: TableSchema) -> list[str]:
            request = create_table_request(
                schema, table_name=options.dest_table, dest_kms_key_id=options.dest_kms_key_id
            )
            return native_paths.check_importable(request)

        def import_(schema: TableSchema, plan: SourcePlan) -> int:
            return native_import(
                dst, url=url, owner=owner, schema=schema, plan=plan, options=options, clock=clock
            )

    return ManagedPaths(export=export, check_import=check, import_=import_)


def native_export(
    src: Account,
    dst: Account,
    *,
    url: StoreURL,
    staging: StagingOptions,
    owner: str | None,
    schema: TableSchema,
    ledger: Ledger,
    clock: SystemClock,
) -> str:
    """ExportTableToPointInTime into <staging>/native/<run-id>/; resumable by its ARN."""
    arn = str(ledger.run.get("native_export_arn") or "")
    if not arn:
        if not schema.pitr_enabled:
            raise native_paths.pitr_required(str(schema.description.get("TableArn", schema.name)))
        prefix = "/".join(p for p in (url.prefix, "native", ledger.run_id) if p)
        arn = native_paths.start_native_export(
            src.session,
            table_arn=str(schema.description["TableArn"]),
            bucket=url.bucket,
            prefix=prefix,
            bucket_owner=owner,
            sse=staging.sse,
            kms_key=staging.sse_kms_key_id,
        )
        ledger.set(native_export_arn=arn)
    description = native_paths.wait_native_export(src.session, arn, clock=clock, timeout=86400.0)
    folder = native_paths.find_export_dir(dst.session, description, bucket_owner=owner)
    return folder[len(url.prefix) + 1 :] if url.prefix else folder


def native_import(
    dst: Account,
    *,
    url: StoreURL,
    owner: str | None,
    schema: TableSchema,
    plan: SourcePlan,
    options: MigrateOptions,
    clock: SystemClock,
) -> int:
    """ImportTable from the export's data files, then what ImportTable cannot set."""
    request = create_table_request(
        schema, table_name=options.dest_table, dest_kms_key_id=options.dest_kms_key_id
    )
    folder = "/".join(p for p in (url.prefix, plan.folder) if p)
    arn = native_paths.start_native_import(
        dst.session,
        bucket=url.bucket,
        key_prefix=native_paths.data_prefix_of(folder),
        bucket_owner=owner,
        input_format="ION" if plan.format == "native-ion" else "DYNAMODB_JSON",
        compression="GZIP",
        create_request=request,
    )
    done = native_paths.wait_native_import(
        dst.session, arn, clock=clock, timeout=86400.0, expected_items=plan.total_items
    )
    native_paths.apply_after_import(dst.admin, options.dest_table, schema, clock=clock)
    return int(done.get("ImportedItemCount", 0))
