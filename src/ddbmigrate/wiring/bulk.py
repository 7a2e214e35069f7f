"""``--import-method bulk`` and ``--boost`` / ``--boost-source``, wired to AWS: the
StartBulkPutItems port of the destination, the capacity ports of both sides, and the
restore of a crashed run's boosts (``resume``, ``cleanup``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, cast

from ddbmigrate.aws.boost import BotoCapacityPort
from ddbmigrate.aws.bulk import BotoBulkPort
from ddbmigrate.boost import Boost, Direction, RestoreResult, outlook, restore_pending
from ddbmigrate.bulk import BATCH_HINT, BulkOptions, BulkRefusedError, BulkTier
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.clock import SystemClock
from ddbmigrate.estimate import Prices
from ddbmigrate.import_compare import ImportPrices, TableFigures, boost_lines, method_lines
from ddbmigrate.model import StoreURL
from ddbmigrate.options import BulkSettings
from ddbmigrate.pipeline import MigrateOptions
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


def import_rows(
    dst: Account,
    sized: Mapping[str, Any],
    *,
    dest_description: Mapping[str, Any] | None,
    options: MigrateOptions,
    write_rate: float,
    prices: Prices,
) -> list[str]:
    """``plan``'s rows: batch vs bulk vs native import for this table, and with ``--boost``
    what it changes (and whether AWS will let the restore happen at once)."""
    figures = TableFigures.of(
        {**sized, **_billing(dest_description)},
        batch_rate=write_rate,
        bulk_max_wru=options.bulk.max_wru if options.bulk else None,
    )
    unit_prices = ImportPrices(
        write_per_million=prices.on_demand_write_per_million,
        wcu_hour=prices.provisioned_wcu_hour,
    )
    rows = method_lines(figures, unit_prices)
    if options.boost is None:
        return rows
    current = _write_units(dest_description or sized)
    rows += boost_lines(figures, current_wcu=current, boost_to=options.boost, prices=unit_prices)
    if dest_description is not None:
        rows += [
            f"boost          {line}" for line in _outlook(dst, options.dest_table, options.boost)
        ]
    return rows


def _billing(description: Mapping[str, Any] | None) -> dict[str, Any]:
    """The destination's billing mode when it exists (else the source's, which it copies)."""
    if description is None or "BillingModeSummary" not in description:
        return {}
    return {"BillingModeSummary": description["BillingModeSummary"]}


def _write_units(description: Mapping[str, Any]) -> int | None:
    mode = (description.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    if mode != "PROVISIONED":
        return None
    return int((description.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits") or 0)


def _outlook(dst: Account, table: str, units: int) -> list[str]:
    """When the restore of a boost to ``units`` would have to wait (no run folder needed)."""
    return outlook(BotoCapacityPort(dst.session), table, "write", units, clock=SystemClock())
