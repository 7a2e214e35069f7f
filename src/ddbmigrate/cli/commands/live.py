"""A live run after ``migrate --live``: ``sync`` keeps the destination in step, ``cutover``
finishes it with proof."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from ddbmigrate import api
from ddbmigrate.cli.common import (
    finish_validation,
    print_json,
    print_lines,
    reported,
    staging_options,
)
from ddbmigrate.cli.options import (
    CONFIG,
    DEBUG,
    DEST,
    JSON,
    LIVE_ENGINE,
    LOGS,
    NOTIFY_LAG,
    NOTIFY_TARGETS,
    OWNER,
    PROGRESS,
    READ,
    SOURCE,
    WRITE,
)
from ddbmigrate.cli.optionset import Given, uses
from ddbmigrate.cli.output import live_lines
from ddbmigrate.cli.resolve import Resolved, resolve
from ddbmigrate.notify import BEHIND_AFTER, MultiNotifier
from ddbmigrate.ports import Observer

_T = TypeVar("_T")

LiveRun = Annotated[str, typer.Argument(help="The live run (see `status`).")]
LiveStaging = Annotated[
    str, typer.Option("--staging", help="The staging URL the run was made with.")
]


@uses(
    *(SOURCE, DEST, CONFIG, OWNER, WRITE, LIVE_ENGINE, NOTIFY_TARGETS, NOTIFY_LAG),
    *(JSON, PROGRESS, LOGS, DEBUG),
)
def sync(
    run_id: LiveRun,
    *,
    staging: LiveStaging,
    until_caught_up: Annotated[
        bool,
        typer.Option("--until-caught-up", help="Stop once caught up, instead of at Ctrl-C."),
    ] = False,
    given: Given,
) -> None:
    """Keep a live run's destination in step with the source.

    Replays the source's stream from the run's checkpoints and keeps following it until
    Ctrl-C (exit code 130; the same command again resumes, nothing lost or applied out of
    order) or, with --until-caught-up, until caught up (a pass finds nothing new, or the
    newest applied change is under 5 seconds old). Writes within the destination's write
    budget (--write-percent, --max-wcu). Pass the same profiles, roles and endpoints as the
    migrate command. With --engine spark each pass reads the shards as Spark tasks.
    --notify-sns and --notify-webhook receive replay_started, caught_up and fell_behind
    events (lag over --notify-lag).

    Example: ddbmigrate sync 20260101T000000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    --source-profile a --dest-profile b
    """
    run = resolve(given)
    status = _reported(
        given,
        run,
        lambda observer, notifications: api.sync(
            run_id=run_id,
            staging=staging_options(staging, given),
            source=run.source,
            dest=run.dest,
            throughput=run.throughput,
            until_caught_up=until_caught_up,
            observer=observer,
            notifications=notifications,
            engine=run.engine,
        ),
    )
    if given["as_json"]:
        print_json({"run_id": run_id, **status.to_dict()})
    else:
        print_lines(live_lines(run_id, status))


@uses(
    *(SOURCE, DEST, CONFIG, OWNER, READ, WRITE, LIVE_ENGINE, NOTIFY_TARGETS),
    *(JSON, PROGRESS, LOGS, DEBUG),
)
def cutover(
    run_id: LiveRun,
    *,
    staging: LiveStaging,
    source_stopped: Annotated[
        bool,
        typer.Option(
            "--source-stopped",
            help="You stopped the application's writes to the source table (required).",
        ),
    ] = False,
    given: Given,
) -> None:
    """Finish a live run: catch up, prove it, validate.

    With the application's writes to the source stopped (say so with --source-stopped):
    writes a sentinel item to the source and waits until the replay applied it and its
    removal, drains every shard, then compares both tables item by item and prints MATCH
    with the counts (exit code 3 when they differ). The stream is disabled again when the
    run enabled it, and the run is finished. With --engine spark the drain and the
    comparison run as Spark tasks. --notify-sns and --notify-webhook receive a
    cutover event: MATCH with the counts, or what went wrong.

    Example: ddbmigrate cutover 20260101T000000Z-1a2b3c4d --staging s3://bucket-in-b/migrations/
    --source-stopped --source-profile a --dest-profile b
    """
    run = resolve(given)
    done = _reported(
        given,
        run,
        lambda observer, notifications: api.cutover_run(
            run_id=run_id,
            staging=staging_options(staging, given),
            source=run.source,
            dest=run.dest,
            source_stopped=source_stopped,
            throughput=run.throughput,
            observer=observer,
            notifications=notifications,
            engine=run.engine,
        ),
    )
    if given["as_json"]:
        print_json(done.to_dict())
    finish_validation(done.validation, as_json=given["as_json"])


def _reported(given: Given, run: Resolved, command: Callable[[Observer, MultiNotifier], _T]) -> _T:
    """``command`` with the live run's notifications and the run log (no report counts)."""
    result: _T = reported(
        lambda observer, notifications: (command(observer, notifications), {}),
        dest=run.dest,
        reporting=_notify(given),
        progress=given["progress"],
        log_format=given["log_format"],
    )
    return result


def _notify(given: Given) -> api.Reporting:
    """Where a live command's events go; a bad URL or ARN is refused before anything runs."""
    return api.Reporting(
        notify_sns=given["notify_sns"],
        notify_webhook=given["notify_webhook"],
        notify_lag=given.get("notify_lag") or BEHIND_AFTER,
    )
