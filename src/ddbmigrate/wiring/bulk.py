"""``--import-method bulk`` and ``--boost`` / ``--boost-source``, wired to AWS: the
StartBulkPutItems port of the destination, the capacity ports of both sides, and the
restore of a crashed run's boosts (``resume``, ``cleanup``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

from ddbmigrate.aws.boost import BotoCapacityPort
from ddbmigrate.aws.bulk import BotoBulkPort
from ddbmigrate.boost import Boost, Direction, RestoreResult, restore_pending
from ddbmigrate.bulk import BATCH_HINT, BulkOptions, BulkRefusedError, BulkTier
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.model import StoreURL
from ddbmigrate.options import BulkSettings
from ddbmigrate.plans import BulkPlan
from ddbmigrate.steps.bulk import BoostRequest, BulkStep, restore_message
from ddbmigrate.wiring.accounts import Account, StagingOptions

_SSE: dict[str, Literal["AES256", "KMS"]] = {"AES256": "AES256", "aws:kms": "KMS"}


def check_bulk_location(url: str) -> None:
    """StartBulkPutItems reads S3 only: a local staging or SOURCE is refused before any
    data moves (the export would otherwise run first)."""
    if StoreURL.parse(url).scheme != "s3":
        raise BulkRefusedError(
            f"--import-method bulk needs the export in S3, and {url!r} is a local folder",
            hint=BATCH_HINT,
        )


def bulk_step(
    dst: Account, settings: BulkSettings | None, *, owner: str | None, staging: StagingOptions
) -> BulkStep:
    """The destination's bulk operations with the user's rate and tier; the error report is
    encrypted as the staging objects are (``--sse``)."""
    settings = settings or BulkSettings()
    options = BulkOptions(
        max_wru=settings.max_wru,
        tier=cast(BulkTier, settings.tier),  # BulkOptions refuses any other tier
        sse=_SSE.get(staging.sse or ""),
        kms_key=staging.sse_kms_key_id,
    )
    return BulkStep(port=BotoBulkPort(dst.session), options=options, bucket_owner=owner)


def bulk_plan(method: str, settings: BulkSettings | None) -> BulkPlan | None:
    """What the run's plan records of a bulk import (None for other methods)."""
    if method != "bulk":
        return None
    settings = settings or BulkSettings()
    return BulkPlan(max_wru=settings.max_wru, tier=settings.tier)


def settings_of(plan: BulkPlan | None) -> BulkSettings | None:
    """The bulk settings a run recorded (a resume uses them)."""
    return None if plan is None else BulkSettings(max_wru=plan.max_wru, tier=plan.tier)


def boost_request(
    ledger: Ledger,
    account: Account,
    *,
    side: Literal["source", "dest"],
    table: str,
    units: int | None,
) -> BoostRequest | None:
    """``--boost`` (dest, writes) or ``--boost-source`` (source, reads), journaled in the run."""
    if units is None:
        return None
    direction: Direction = "write" if side == "dest" else "read"
    boost = Boost.for_ledger(ledger, BotoCapacityPort(account.session), side=side, table=table)
    return BoostRequest(boost, direction, units)


def restore_boosts(ledger: Ledger, accounts: Callable[[str], Account]) -> list[str]:
    """Restore what a crashed run left boosted; one line per table."""
    results: list[RestoreResult] = restore_pending(
        ledger, lambda side: BotoCapacityPort(accounts(side).session)
    )
    return [restore_message(result) for result in results]
