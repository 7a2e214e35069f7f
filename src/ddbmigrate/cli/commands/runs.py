"""Runs recorded under a staging URL: status, resume, cleanup; and pipeline files (``run``)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated

import typer

from ddbmigrate import api
from ddbmigrate.checkpoint import RunStatus
from ddbmigrate.cleanup import running, unfinished
from ddbmigrate.cli.common import (
    RunRef,
    observing,
    print_json,
    print_lines,
    print_migration,
    reported,
    staging_options,
)
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.cli.options import (
    CONFIG,
    DEBUG,
    DEST,
    ENGINE,
    JSON,
    LOGS,
    OWNER,
    PROGRESS,
    READ,
    REPORTING,
    SOURCE,
    WRITE,
    SparkMaster,
)
from ddbmigrate.cli.optionset import Given, Opt, OptionSet, uses
from ddbmigrate.cli.output import export_line, import_line, stderr
from ddbmigrate.cli.resolve import check_file_profiles, resolve
from ddbmigrate.engines.base import check_workers
from ddbmigrate.errors import FatalError, ValidationMismatchError
from ddbmigrate.exporter import ExportResult
from ddbmigrate.importer import ImportResult
from ddbmigrate.multi import TableOutcome
from ddbmigrate.pipeline import MigrateReport
from ddbmigrate.pipelinefile import PipelineSpec, load_pipeline


@uses(DEST, CONFIG, OWNER, JSON, DEBUG)
def status(
    run_id: Annotated[str | None, typer.Argument(help="One run.", show_default="all runs")] = None,
    *,
    staging: Annotated[
        str, typer.Option("--staging", help="The staging URL the runs were made with.")
    ],
    given: Given,
) -> None:
    """Show the runs recorded under a staging URL.

    From STAGING/ddbmigrate/runs/: finished, running (a live process holds it), stopped
    (nobody does: killed, crashed, or its heartbeat went stale) or live (a live migration
    whose copy is done), steps, segments exported, files imported, rejects and where they
    are listed, and the commands that continue it (resume; for a live run, sync and
    cutover). A run whose ledger file is damaged is listed as DAMAGED with the
    reason. Reads with the destination's credentials (the staging bucket is the
    destination's).

    Example: ddbmigrate status --staging s3://bucket-in-b/migrations/ --dest-profile b
    """
    found = api.status(
        staging=staging_options(staging, given), side=resolve(given).dest, run_id=run_id
    )
    if given["as_json"]:
        print_json([_status_json(run, staging, given) for run in found])
        return
    if not found:
        print_lines([f"no runs under {staging}"])
    for run in found:
        nexts = next_commands(run, staging, given)
        print_lines([*run.lines(), *(f"  {name:<9} {command}" for name, command in nexts.items())])


def _status_json(run: RunStatus, staging: str, given: Given) -> dict[str, object]:
    nexts = next_commands(run, staging, given)
    return {**asdict(run), "state": run.state, "resume": nexts.get("resume"), "next": nexts}


def next_commands(run: RunStatus, staging: str, given: Given) -> dict[str, str]:
    """What continues the run: ``resume`` for a stopped run; ``sync`` and ``cutover`` for
    a live run whose copy is done (a resume would only replay until caught up)."""
    if run.state == "live":
        return {
            "sync": _command_for(run, ["sync", run.run_id], staging, given),
            "cutover": _command_for(
                run, ["cutover", run.run_id, "--source-stopped"], staging, given
            ),
        }
    again = resume_command(run, staging, given)
    return {"resume": again} if again else {}


UNFINISHED = ("stopped", "live")
"""States of a run that can still be continued (``resume``, or ``sync``/``cutover``)."""

# The fields of a side a run records in its plan, and the flags that set them again.
_SIDE_FLAGS = ("profile", "role_arn", "region", "endpoint_url")


def resume_command(run: RunStatus, staging: str, given: Given) -> str | None:
    """The command that continues a stopped run, with the sides its plan recorded (a
    resume takes them from its own flags); None unless the run is stopped."""
    if run.state != "stopped":
        return None
    return _command_for(run, ["resume", run.run_id], staging, given)


def _command_for(run: RunStatus, command: list[str], staging: str, given: Given) -> str:
    """``ddbmigrate COMMAND --staging STAGING`` with the sides the run's plan recorded."""
    words = ["ddbmigrate", *command, "--staging", staging]
    for role in ("source", "dest"):
        side = run.plan.get(role)
        recorded: dict[str, object] = side if isinstance(side, dict) else {}
        for name in _SIDE_FLAGS:
            if recorded.get(name):
                words += [f"--{role}-{name.replace('_', '-')}", str(recorded[name])]
    if given["bucket_owner"]:
        words += ["--bucket-owner", str(given["bucket_owner"])]
    return shlex.join(words)


@uses(SOURCE, DEST, CONFIG, OWNER, READ, WRITE, ENGINE, JSON, PROGRESS, LOGS, DEBUG)
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to continue (see `status`).")],
    *,
    staging: Annotated[
        str, typer.Option("--staging", help="The staging URL the run was made with.")
    ],
    given: Given,
) -> None:
    """Continue a stopped run.

    A migrate, export or import run, with the tables and options it recorded;
    finished segments and files are not done again. Re-running the original command does
    the same. Profiles, roles, external ids, regions and endpoints come from this command's
    flags, config file and environment, never from the run's record in the staging store
    (a note says when they differ from what the run recorded): pass the same ones as the
    original command.

    Example: ddbmigrate resume 20260101T000000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    --source-profile a --dest-profile b
    """
    run = resolve(given)
    with observing(given["progress"], given["log_format"]) as observer:
        result = api.resume(
            run_id=run_id,
            staging=staging_options(staging, given),
            source=run.source,
            dest=run.dest,
            throughput=run.throughput,
            workers=run.workers,
            threads=run.threads,
            observer=observer,
            engine=run.engine,
        )
    _print_resumed(result, as_json=given["as_json"], ref=RunRef(staging, run_id))


def _print_resumed(
    result: MigrateReport | ExportResult | ImportResult, *, as_json: bool, ref: RunRef
) -> None:
    if isinstance(result, MigrateReport):
        print_migration(result, as_json=as_json, ref=ref)
    elif as_json:
        print_json(ref.json(result.to_dict()))
    elif isinstance(result, ExportResult):
        print_lines([export_line(result)])
    else:
        print_lines([import_line(result, None)])


FILE_PARALLEL = OptionSet(
    tuple(
        Opt(
            name,
            Annotated[
                int | None,
                typer.Option(f"--{name}", help=text, show_default=f"the file's {name} key"),
            ],
        )
        for name, text in (
            ("workers", "Worker processes per table (with engine spark: Spark tasks at once)."),
            ("threads", "Most requests in flight (and segments or files) per worker."),
        )
    )
)
"""``--workers`` and ``--threads`` over the pipeline file's keys (no default of their own)."""


@uses(FILE_PARALLEL, REPORTING, JSON, PROGRESS, DEBUG)
def run_cmd(
    pipeline_file: Annotated[Path, typer.Argument(help="The pipeline file (YAML).")],
    *,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop the other tables when one fails.")
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local or spark.",
            show_default="the file's engine key, else local",
        ),
    ] = None,
    spark_master: SparkMaster = None,
    given: Given,
) -> None:
    """Run every table of a pipeline file.

    Sides, tables (names, globs, renames), staging,
    throughput, steps, retries, notifications, log location, HTML report. Tables run side by
    side; one failing does not stop the others unless --fail-fast. Exits 0 only when every
    table finished and matched; 6 when every table was copied but one or more was not
    validated (validate: false). A flag given here wins over the file's key of the same
    name (workers, threads, notify, log_location, report_html, engine).

    Example: ddbmigrate run pipeline.yaml --report-html report.html
    """
    spec = _with_flags(load_pipeline(pipeline_file), fail_fast, engine, spark_master)
    spec = _with_given(spec, given)
    check_file_profiles(spec)
    outcomes: list[TableOutcome] = reported(
        lambda observer, notifications: api.run_pipeline(
            spec, observer=observer, notifications=notifications
        ),
        dest=spec.dest,
        reporting=api.reporting_of(spec),
        progress=given["progress"],
        log_format=given["log_format"],
    )
    if given["as_json"]:
        print_json([_outcome_json(o) for o in outcomes])
    else:
        print_lines([o.line() for o in outcomes])
    _raise_for_failed(outcomes, as_json=given["as_json"])


def _with_flags(
    spec: PipelineSpec, fail_fast: bool, engine: str | None, spark_master: str | None
) -> PipelineSpec:
    """The file's settings with the command's flags over them."""
    if fail_fast:
        spec = replace(spec, fail_fast=True)
    if engine is not None or spark_master is not None:
        spec = replace(
            spec,
            engine=replace(
                spec.engine,
                name=engine or spec.engine.name,
                spark_master=spark_master or spec.engine.spark_master,
            ),
        )
    return spec


# ``run``'s shared options that stand for a pipeline file key of the same name.
_FILE_KEYS = ("notify_sns", "notify_webhook", "log_location", "report_html")


def _with_given(spec: PipelineSpec, given: Given) -> PipelineSpec:
    """The shared options given on the command line over the file's keys."""
    keys: dict[str, object] = {
        name: str(given[name]) for name in _FILE_KEYS if given[name] is not None
    }
    if given["notify_steps"]:
        keys["notify_steps"] = True
    if given["threads"] is not None:
        keys["threads"] = given["threads"]
    if given["workers"] is not None:
        keys["workers"] = given["workers"]
        if spec.engine.name == "spark":  # with spark, workers counts the tasks at once
            keys["engine"] = replace(spec.engine, spark_tasks=given["workers"])
    spec = replace(spec, **keys)  # type: ignore[arg-type]
    if not spec.engine.spark and {"workers", "threads"} & keys.keys():
        # The file's keys were checked on load; flags over them are checked here, before any
        # table starts, as a usage error (else each table failed on them, exit 1).
        check_workers(spec.workers, spec.threads)
    return spec


def _outcome_json(outcome: TableOutcome) -> dict[str, object]:
    return {
        "source_table": outcome.job.source_table,
        "dest_table": outcome.job.dest_table,
        "status": outcome.status,
        "error": outcome.error,
        "report": outcome.report.to_dict() if outcome.report else None,
    }


def _raise_for_failed(outcomes: list[TableOutcome], *, as_json: bool) -> None:
    """Failures first (exit 1, or 3 when every one is a mismatch); then tables copied but
    not validated (exit 6, with a line saying so); else exit 0: every table matched."""
    failed = [o for o in outcomes if not o.ok]
    copied = [o for o in outcomes if o.status == "copied"]
    if not failed and copied:
        if not as_json:  # JSON carries each table's status
            print_lines(
                [
                    f"{len(copied)} of {len(outcomes)} tables copied, not validated "
                    f"(validate: false): exit {int(ExitCode.NOT_VALIDATED)}, not 0"
                ]
            )
        raise typer.Exit(ExitCode.NOT_VALIDATED)
    if not failed:
        return
    message = f"{len(failed)} of {len(outcomes)} tables did not finish cleanly"
    if all(o.status == "mismatch" for o in failed):
        raise ValidationMismatchError(message, report=failed)
    raise FatalError(
        message, hint="`ddbmigrate status --staging URL` shows each run; run again to resume"
    )


@uses(SOURCE, DEST, CONFIG, OWNER, DEBUG)
def cleanup(
    run_id: Annotated[str, typer.Argument(help="The run to delete (see `status`).")],
    *,
    staging: Annotated[str, typer.Option("--staging", help="The staging URL of the run.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete an unfinished run too (it can no longer be resumed)."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    given: Given,
) -> None:
    """Delete a run's staging data.

    Its export and its run folder. Asks first unless --yes (answering no, or no answer
    because stdin is not a terminal, deletes nothing and exits 5). An unfinished run is
    refused (a resume needs its data) unless --force; a run a live process holds is always
    refused. Any capacity the run raised (--boost, --boost-source) and did not restore (a
    crash) is restored first, whether the run finished or not.

    Example: ddbmigrate cleanup 20261127T143000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    """
    run = resolve(given)
    side = run.dest
    options = staging_options(staging, given)
    found = api.status(staging=options, side=side, run_id=run_id)[0]
    if found.holder:  # its capacity is that process's to restore
        raise running(run_id, found.holder)
    restored = api.restore_run_boosts(staging=options, side=side, run_id=run_id, source=run.source)
    for line in restored:
        stderr.print(line, markup=False)
    if found.state in UNFINISHED and not force:
        raise unfinished(run_id)
    if not yes:
        _confirm(found, staging)
    removed = api.cleanup(staging=options, side=side, run_id=run_id, force=force)
    print_lines([f"deleted {len(removed):,} objects of run {run_id}"])


def _confirm(found: RunStatus, staging: str) -> None:
    """Ask; no means exit 5. Without a readable stdin there is no answer (typer's Abort:
    ``main`` says so and exits 5 too)."""
    if sys.stdin is None or sys.stdin.closed:
        raise typer.Abort
    what = f"run {found.run_id} under {staging}"
    if found.state in UNFINISHED:
        what = f"unfinished run {found.run_id} under {staging} (it can no longer be resumed)"
    if not typer.confirm(f"delete the export and ledger of {what}?", err=True):
        stderr.print(f"not confirmed: nothing of run {found.run_id} was deleted", markup=False)
        raise typer.Exit(ExitCode.DECLINED)
