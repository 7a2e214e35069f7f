"""Commands that move no customer data: policies, the demo and the local AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ddbmigrate import api
from ddbmigrate.cli.common import (
    RunRef,
    choice,
    observing,
    print_lines,
    print_migration,
    staging_options,
)
from ddbmigrate.cli.options import (
    CONFIG,
    DEBUG,
    DEST,
    JSON,
    PARALLEL,
    PROGRESS,
    SOURCE,
    BucketOwner,
    Sse,
    SseKms,
)
from ddbmigrate.cli.optionset import Given, Opt, OptionSet, uses
from ddbmigrate.cli.output import stdout
from ddbmigrate.cli.resolve import resolve
from ddbmigrate.local.demo import DEMO_TABLE, run_demo, serve_forever
from ddbmigrate.policies import render as render_policies
from ddbmigrate.policies import write_files as render_files

POLICY_STAGING = OptionSet(
    (Opt("bucket_owner", BucketOwner), Opt("sse", Sse), Opt("sse_kms_key_id", SseKms))
)
"""What a bucket policy depends on: its owner and the encryption of what is written."""


@uses(SOURCE, DEST, CONFIG, POLICY_STAGING, JSON, DEBUG)
def policies_cmd(
    *,
    source_table: Annotated[
        list[str], typer.Option("--source-table", help="Source table (repeat for several).")
    ],
    staging: Annotated[str, typer.Option("--staging", help="The s3:// staging URL.")],
    dest_table: Annotated[
        list[str] | None,
        typer.Option(
            "--dest-table", help="Destination names, in the same order.", show_default="same"
        ),
    ] = None,
    source_account: Annotated[
        str | None, typer.Option("--source-account", help="Source account id.", show_default="STS")
    ] = None,
    dest_account: Annotated[
        str | None,
        typer.Option("--dest-account", help="Destination account id.", show_default="STS"),
    ] = None,
    export_method: Annotated[str, typer.Option("--export-method", help="scan or native.")] = "scan",
    import_method: Annotated[
        str, typer.Option("--import-method", help="batch, native or bulk.")
    ] = "batch",
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Include the validation reads.")
    ] = True,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Include a live migration's stream, UpdateTable and sentinel writes."
        ),
    ] = False,
    dest_kms_key_id: Annotated[
        str | None, typer.Option("--dest-kms-key-id", help="KMS key of the new table.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the three policies as files here.")
    ] = None,
    boost: Annotated[
        int | None,
        typer.Option(
            "--boost",
            metavar="WCU",
            help="Include what --boost needs (UpdateTable, auto scaling) on the destination.",
        ),
    ] = None,
    boost_source: Annotated[
        int | None,
        typer.Option(
            "--boost-source",
            metavar="RCU",
            help="Include what --boost-source needs on the source.",
        ),
    ] = None,
    given: Given,
) -> None:
    """Print the least-privilege IAM policies a migration needs.

    The source role's policy, the staging bucket's policy (letting the source role write
    into the destination's bucket) and the destination role's policy, with every ARN filled
    in from the tables, accounts, regions and staging URL. --output DIR writes them as files.

    Example: ddbmigrate policies --source-profile a --dest-profile b --source-table customer
    --staging s3://bucket-in-b/migrations/ --source-role-arn arn:aws:iam::111111111111:role/m
    """
    run = resolve(given)
    docs = api.policy_documents(
        source=run.source,
        dest=run.dest,
        source_tables=source_table,
        dest_tables=dest_table or None,
        staging=staging_options(staging, given),
        source_account=source_account,
        dest_account=dest_account,
        export_method=choice(export_method, "--export-method", ("scan", "native")),
        import_method=choice(import_method, "--import-method", ("batch", "native", "bulk")),
        validate=validate,
        dest_kms_key_id=dest_kms_key_id,
        boost=boost is not None,
        boost_source=boost_source is not None,
        live=live,
    )
    if output is not None:
        print_lines([f"wrote {path}" for path in render_files(docs, output)])
    else:
        print_lines([render_policies(docs, "json" if given["as_json"] else "text")])


@uses(PARALLEL, PROGRESS, DEBUG)
def demo(
    *,
    items: Annotated[
        int, typer.Option("--items", min=1, max=1_000_000, help="Items in the demo table.")
    ] = 1000,
    given: Given,
) -> None:
    """Migrate a demo table between two local accounts (no AWS).

    Starts an embedded two-account AWS (moto server on loopback), fills table 'customer' in
    account 111111111111 with every attribute type, migrate it through a bucket owned by
    account 222222222222 over HTTP, print the validation report, stop. Touches no real AWS.
    """
    run = resolve(given)
    with observing(given["progress"], table=DEMO_TABLE) as observer:
        report = run_demo(items=items, workers=run.workers, threads=run.threads, observer=observer)
    print_migration(report, as_json=False, ref=RunRef(None))


@uses(DEBUG)
def local_up(
    *,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="Port on 127.0.0.1.", show_default="a free one"
        ),
    ] = None,
    items: Annotated[
        int,
        typer.Option("--items", min=0, max=1_000_000, help="Items in the source table 'customer'."),
    ] = 1000,
    given: Given,
) -> None:
    """Run the embedded two-account AWS in the foreground.

    Prints how to use it; Ctrl-C stops it.
    """
    del given  # --debug only, which main() reads before parsing
    serve_forever(port=port, out=stdout, items=items)
