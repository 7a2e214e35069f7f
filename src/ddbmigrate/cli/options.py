"""Every option more than one command takes, declared once.

An option whose value may also come from the environment or the config file has the default
of the option dataclass that holds it (shown by ``--help``); :func:`ddbmigrate.cli.resolve.resolve`
looks further when the command line did not give it. Panels: ``cli/helptext.py``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ddbmigrate import api
from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.cli.logging_setup import LogFormat
from ddbmigrate.cli.optionset import Opt, OptionSet
from ddbmigrate.config import SIDE_FIELDS
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.engines.local import DEFAULT_THREADS
from ddbmigrate.notify import BEHIND_AFTER

THROUGHPUT = ThroughputOptions()


class ProgressMode(StrEnum):
    """How progress is shown on stderr."""

    auto = "auto"
    on = "on"
    off = "off"
    raw = "raw"


def _side_set(role: str, flag: str, helps: tuple[str, ...]) -> OptionSet:
    """The six options of a side; each also reads DDBMIGRATE_<ROLE>_<FIELD> and the side's
    table of --config."""
    return OptionSet(
        tuple(
            Opt(
                f"{role}_{name}",
                Annotated[
                    str | None,
                    typer.Option(f"--{flag}-{name.replace('_', '-')}", help=text),
                ],
            )
            for name, text in zip(SIDE_FIELDS, helps, strict=True)
        )
    )


SOURCE = _side_set(
    "source",
    "source",
    (
        "Source AWS profile (SSO too).",
        "Role to assume for the source (refreshed automatically).",
        "ExternalId for the source AssumeRole.",
        "RoleSessionName for the source.",
        "Source region.",
        "Endpoint for every source service (e.g. moto, LocalStack).",
    ),
)
DEST = _side_set(
    "dest",
    "dest",
    (
        "Destination AWS profile (SSO too).",
        "Role to assume for the destination.",
        "ExternalId for the destination AssumeRole.",
        "RoleSessionName for the destination.",
        "Destination region.",
        "Endpoint for every destination service.",
    ),
)
CONFIG = OptionSet(
    (
        Opt(
            "config",
            Annotated[
                Path | None,
                typer.Option(
                    "--config",
                    help="TOML file with [source] and [destination] tables (profile, role_arn, "
                    "external_id, session_name, region, endpoint_url), and [throughput] and "
                    "[engine] tables for the throughput and engine flags. Flags and environment "
                    "variables win over it.",
                    envvar="DDBMIGRATE_CONFIG",
                ),
            ],
        ),
    )
)
DEBUG = OptionSet(
    (Opt("debug", Annotated[bool, typer.Option("--debug", help="Show tracebacks.")], False),)
)
"""Read by ``main()`` before parsing, so even a parse error can show a traceback."""
READ = OptionSet(
    (
        Opt(
            "read_percent",
            Annotated[
                float,
                typer.Option(
                    "--read-percent",
                    help="Share of the source's read capacity to use: a fraction from 0.1 to "
                    "1.5 (0.5 = half), like Data Pipeline's readThroughputPercent. For a number "
                    "of units per second, use --max-rcu.",
                ),
            ],
            THROUGHPUT.read_percent,
        ),
        Opt(
            "max_rcu",
            Annotated[
                float | None,
                typer.Option(
                    "--max-rcu",
                    help="Cap on read units per second (on-demand tables: the capacity to share).",
                ),
            ],
        ),
    )
)
WRITE = OptionSet(
    (
        Opt(
            "write_percent",
            Annotated[
                float,
                typer.Option(
                    "--write-percent",
                    help="Share of the destination's write capacity to use: a fraction from "
                    "0.1 to 1.5 (0.5 = half). For a number of units per second, use --max-wcu.",
                ),
            ],
            THROUGHPUT.write_percent,
        ),
        Opt(
            "max_wcu",
            Annotated[
                float | None,
                typer.Option(
                    "--max-wcu",
                    help="Cap on write units per second (on-demand tables: the capacity to share).",
                ),
            ],
        ),
    )
)
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Worker processes, each with its own connections and a 1/N share of the "
        "capacity budget; 1 runs everything in this process. With --engine spark: shares of "
        "the budget, at least the Spark tasks that can run at once.",
        show_default="one per core",
    ),
]
Threads = Annotated[
    int,
    typer.Option(
        "--threads",
        help="Most requests each worker keeps in flight, and segments or files it works on "
        "at once; the requests in flight adapt below it to latency and capacity.",
    ),
]
SparkMaster = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master for --engine spark: local[N], spark://HOST:PORT, yarn ...",
        show_default="the running SparkSession, else local[*]",
    ),
]
PARALLEL = OptionSet((Opt("workers", Workers), Opt("threads", Threads, DEFAULT_THREADS)))
"""Workers and threads, without an engine choice (``plan``, ``demo``)."""
ENGINE = PARALLEL + OptionSet(
    (
        Opt(
            "engine",
            Annotated[
                str,
                typer.Option(
                    "--engine",
                    help="local: worker processes of this machine; spark: Spark tasks on EMR, "
                    "Glue or any Spark cluster (needs pyspark: the spark extra of ddbmigrate).",
                ),
            ],
            EngineChoice().name,
        ),
        Opt("spark_master", SparkMaster),
    )
)
LIVE_ENGINE = OptionSet(
    (
        Opt(
            "engine",
            Annotated[
                str,
                typer.Option(
                    "--engine",
                    help="local: the replay reads the shards on threads of this process; spark: "
                    "each replay pass reads them as Spark tasks, one per shard (needs pyspark: "
                    "the spark extra of ddbmigrate).",
                ),
            ],
            EngineChoice().name,
        ),
        Opt("spark_master", SparkMaster),
    )
)
"""The engine of ``sync`` and ``cutover``: where the replay's shards are read."""
Segments = Annotated[
    int | None,
    typer.Option(
        "--segments",
        min=1,
        max=1_000_000,
        help="Parallel Scan segments.",
        show_default="one per GiB of table, at least --workers x --threads",
    ),
]
BucketOwner = Annotated[
    str | None,
    typer.Option(
        "--bucket-owner",
        help="Account id that must own the staging bucket, sent as ExpectedBucketOwner with "
        "every S3 request.",
        show_default="the destination account; for export, the caller's account (STS)",
    ),
]
Sse = Annotated[
    str | None,
    typer.Option("--sse", help="Server-side encryption of staging objects: AES256 or aws:kms."),
]
SseKms = Annotated[str | None, typer.Option("--sse-kms-key-id", help="KMS key for --sse aws:kms.")]
OWNER = OptionSet((Opt("bucket_owner", BucketOwner),))
STAGING_WRITES = OWNER + OptionSet(
    (
        Opt(
            "acl",
            Annotated[
                str,
                typer.Option(
                    "--acl",
                    help="Canned ACL of objects written into a bucket another account owns; not "
                    "sent when its Object Ownership is BucketOwnerEnforced; 'none' sends none.",
                ),
            ],
            api.DEFAULT_ACL,
        ),
        Opt("sse", Sse),
        Opt("sse_kms_key_id", SseKms),
    )
)
"""How staging objects are written: owner, ACL and encryption."""
JSON = OptionSet(
    (
        Opt(
            "as_json",
            Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")],
            False,
        ),
    )
)
PROGRESS = OptionSet(
    (
        Opt(
            "progress",
            Annotated[
                ProgressMode,
                typer.Option(
                    "--progress",
                    help="Progress on stderr: auto (bars on a terminal), on, off, raw (a plain "
                    "line per step every 5 s, for logs).",
                ),
            ],
            ProgressMode.auto,
        ),
    )
)
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="text (for people) or json (one JSON object per line, for machines) on stderr.",
    ),
]
MaxRejects = Annotated[
    int,
    typer.Option(
        "--max-rejects",
        min=0,
        help="Bad lines or refused items to record (in the run's rejects file) and skip before "
        "stopping; any reject still makes the exit code non-zero.",
    ),
]
SettingsChoice = Annotated[
    str,
    typer.Option(
        "--settings",
        help="Optional table settings to copy: all, keys-only, or a list of ttl, pitr, "
        "tags, stream, deletion-protection, table-class, sse. Best effort: one the "
        "endpoint lacks or the role is denied is left out with a warning. Keys, indexes "
        "and billing always.",
    ),
]
StrictSettings = Annotated[
    bool,
    typer.Option(
        "--strict-settings",
        help="Stop (exit 1) when a chosen table setting cannot be read or copied.",
    ),
]
NOTIFY_TARGETS = OptionSet(
    (
        Opt(
            "notify_sns",
            Annotated[
                str | None,
                typer.Option(
                    "--notify-sns",
                    help="SNS topic ARN for success and failure events, and a live run's "
                    "replay and cutover events (published as the destination).",
                ),
            ],
        ),
        Opt(
            "notify_webhook",
            Annotated[
                str | None,
                typer.Option(
                    "--notify-webhook",
                    help="URL that receives each event as a JSON POST.",
                ),
            ],
        ),
    )
)
"""Where events go (``sync`` and ``cutover`` take only these and ``--notify-lag``)."""
NOTIFY = NOTIFY_TARGETS + OptionSet(
    (
        Opt(
            "notify_steps",
            Annotated[
                bool,
                typer.Option(
                    "--notify-steps",
                    help="Also notify when each step finishes.",
                ),
            ],
            False,
        ),
    )
)
NOTIFY_LAG = OptionSet(
    (
        Opt(
            "notify_lag",
            Annotated[
                float,
                typer.Option(
                    "--notify-lag",
                    min=1.0,
                    metavar="<float>",
                    help="Live runs: seconds of replay lag past which a fell_behind event is "
                    "sent (and caught_up once the replay has caught up again).",
                ),
            ],
            BEHIND_AFTER,
        ),
    )
)
"""The live runs' lag alarm (``migrate --live``, ``sync``): ``run`` keeps the default."""
LOGS = OptionSet((Opt("log_format", LogFormatOpt, LogFormat.text),))
"""The format of what goes to stderr."""
REPORTING = (
    NOTIFY
    + LOGS
    + OptionSet(
        (
            Opt(
                "log_location",
                Annotated[
                    str | None,
                    typer.Option(
                        "--log-location",
                        help="s3:// URL or directory where report.json and run.log are uploaded.",
                    ),
                ],
            ),
            Opt(
                "report_html",
                Annotated[
                    Path | None,
                    typer.Option(
                        "--report-html",
                        help="Write a one-page HTML report (per-table results, items/s chart).",
                    ),
                ],
            ),
        )
    )
)
"""Where a migration's events, log and report go."""
BulkMaxWru = Annotated[
    int | None,
    typer.Option(
        "--bulk-max-wru",
        min=1024,
        help="With --import-method bulk: the operation's MaxWriteRequestUnits (write request "
        "units per second).",
        show_default="AWS decides",
    ),
]
BulkTierOpt = Annotated[
    str,
    typer.Option(
        "--bulk-tier",
        help="With --import-method bulk: PerformanceTier STANDARD or ACCELERATED.",
    ),
]
BULK = OptionSet((Opt("bulk_max_wru", BulkMaxWru), Opt("bulk_tier", BulkTierOpt, "STANDARD")))
"""StartBulkPutItems' rate and tier (``--import-method bulk``)."""
BoostOpt = Annotated[
    int | None,
    typer.Option(
        "--boost",
        min=1,
        metavar="WCU",
        help="Raise the destination's write capacity (provisioned units, auto-scaling min/max, "
        "on-demand maximum) to WCU for the import; restored exactly afterwards, also after a "
        "crash by resume or cleanup.",
        show_default="no boost",
    ),
]
BoostSourceOpt = Annotated[
    int | None,
    typer.Option(
        "--boost-source",
        min=1,
        metavar="RCU",
        help="Raise the source's read capacity to RCU for the export's scan; restored after.",
        show_default="no boost",
    ),
]
