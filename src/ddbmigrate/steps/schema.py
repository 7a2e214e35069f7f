"""The schema step: the destination table made like the source (or checked), once.

With a ledger, the table to create is pinned before CreateTable, so a resume finishes
that table (settings, indexes) instead of leaving it half made.
"""

from __future__ import annotations

from ddbmigrate import schema as schemas
from ddbmigrate import settings as opt
from ddbmigrate.checkpoint import Ledger
from ddbmigrate.errors import (
    AccessDeniedError,
    NotFoundError,
    ResumeMismatchError,
    UnsupportedError,
)
from ddbmigrate.ports import NullObserver, Observer, TableAdmin, TableSchema
from ddbmigrate.steps.context import RunContext

TABLE_PIN = "table"
"""The run ledger's record of the table the run creates (``schema.TableTarget``)."""


def ensure_table(
    admin: TableAdmin,
    *,
    source: TableSchema,
    existing: TableSchema | None,
    table_name: str,
    dest_kms_key_id: str | None = None,
    wait_timeout: float = 1800.0,
    observer: Observer | None = None,
    ledger: Ledger | None = None,
    settings: frozenset[str] = opt.ALL,
    log: opt.SettingsLog | None = None,
) -> str:
    """Create the destination like the source (or check the one there); say what was done.

    With a ``ledger``, the table to create is recorded before CreateTable; a resume that
    finds it then applies whatever the table still lacks (TTL, PITR, tags, stream, deletion
    protection, indexes) instead of leaving it as it is. Optional ``settings`` the endpoint
    lacks or the role may not set are left out and recorded in ``log``.
    """
    observer = observer or NullObserver()
    log = log or opt.SettingsLog(observer)
    _note_unread(source, settings, log)
    target = schemas.TableTarget.of(
        source, table_name=table_name, dest_kms_key_id=dest_kms_key_id, settings=settings
    )
    pinned = _pinned_table(ledger, target)
    if existing is not None:
        schemas.check_compatible(source=source, dest=existing, dest_flag="--dest-table")
        if pinned is None:
            for note in schemas.schema_differences(source, existing):
                observer.message(f"destination {table_name!r} exists and is left as it is: {note}")
            return f"table {table_name!r} exists with the same key; left as it is"
        applied = finish_table(admin, pinned, existing, wait_timeout, observer, log=log)
        done = f"; applied what it lacked: {', '.join(applied)}" if applied else ""
        return f"table {table_name!r} was created earlier in this run{done}"
    target = pinned or target
    for line in schemas.summary_lines(target):
        observer.message(line)
    if ledger is not None:
        # Recorded first: a crash after CreateTable leaves a table the resume must finish.
        ledger.set(**{TABLE_PIN: target.to_json()})
    admin.create_table(target.request)
    admin.wait_active(table_name, timeout=wait_timeout)
    created = admin.read_schema(table_name)
    if created is None:
        raise NotFoundError(
            f"table {table_name!r} was created but DescribeTable does not find it",
            hint="run the same command again",
        )
    # It may be a table someone else made meanwhile: same key?
    schemas.check_compatible(source=source, dest=created, dest_flag="--dest-table")
    skip = _ignored_by_create(target, created, log)
    finish_table(admin, target, created, wait_timeout, observer, log=log, skip=skip)
    for name, label in target.optional_settings().items():
        log.copied(name, label)
    return f"created table {table_name!r} like {source.name!r}"


def _pinned_table(ledger: Ledger | None, target: schemas.TableTarget) -> schemas.TableTarget | None:
    """The table this run recorded (when it did); refuses a source that changed since."""
    if ledger is None or not ledger.run.get(TABLE_PIN):
        return None
    pinned = schemas.TableTarget.from_json(ledger.run[TABLE_PIN])
    if pinned.name != target.name:
        raise ResumeMismatchError(
            f"run {ledger.run_id!r} was creating table {pinned.name!r}, not {target.name!r}",
            hint="resume it with the table it was started with, or start a new run",
        )
    if changed := schemas.target_changes(pinned, target):
        raise ResumeMismatchError(
            f"run {ledger.run_id!r} was creating table {pinned.name!r} from a table "
            f"description that has changed since: {', '.join(changed)} differ",
            hint=f"delete table {pinned.name!r} and start a new run, or restore the source's "
            "settings and run the same command again",
        )
    return pinned


def _ignored_by_create(
    target: schemas.TableTarget, table: TableSchema, log: opt.SettingsLog
) -> frozenset[str]:
    """The optional settings the endpoint ignored in the CreateTable that just made
    ``table``: not copied (an UpdateTable for them would only be refused). Not asked of a
    table found on a resume: what made it, and what it lacks, is not known there."""
    ignored = schemas.ignored_by_create(target, table)
    for name, field_name in ignored.items():
        why = opt.reason("destination", "unsupported", f"{field_name} in CreateTable")
        log.not_copied(name, opt.LABELS[name], why)
    return frozenset(ignored)


def finish_table(
    admin: TableAdmin,
    target: schemas.TableTarget,
    table: TableSchema,
    wait_timeout: float,
    observer: Observer,
    *,
    log: opt.SettingsLog | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Apply what ``table`` lacks of ``target``, one call each; return what was applied.
    An optional setting the endpoint lacks or the role may not set goes to ``log``; those in
    ``skip`` are left alone."""
    log = log or opt.SettingsLog(observer)
    applied: list[str] = []
    for setting in schemas.missing_settings(target, table):
        if setting.setting in skip:
            continue
        observer.message(f"table {target.name!r}: applying {setting.label}")
        try:
            setting.apply(admin, target.name)
        except (UnsupportedError, AccessDeniedError) as exc:
            if setting.setting is None:
                raise  # an index is the table itself, never best effort
            why = opt.reason("destination", opt.kind_of(exc), setting.operation)
            log.not_copied(setting.setting, opt.LABELS[setting.setting], why)
            continue
        if setting.updates_table:
            admin.wait_active(target.name, timeout=wait_timeout)
        applied.append(setting.label)
    return applied


def _note_unread(source: TableSchema, settings: frozenset[str], log: opt.SettingsLog) -> None:
    """The chosen settings the source could not read: not copied (said once per setting)."""
    for name, (kind, operation) in source.unread.items():
        if name in settings:
            log.not_copied(name, opt.LABELS[name], opt.reason("source", kind, operation))


def source_settings(
    src: TableSchema, settings: frozenset[str], *, strict: bool, observer: Observer
) -> opt.SettingsLog:
    """A log of the optional settings, with those the source could not read (before any
    data moves, so ``--strict-settings`` stops the run there) and those left out by choice."""
    log = opt.SettingsLog(observer, strict=strict)
    _note_unread(src, settings, log)
    chosen = schemas.TableTarget.of(src, table_name=src.name)
    for name, label in chosen.optional_settings().items():
        if name not in settings:
            log.outcomes.append(
                opt.SettingOutcome(name, label, False, f"left out by {opt.SETTINGS_FLAG}")
            )
    return log


def schema_step(
    ctx: RunContext,
    admin: TableAdmin,
    *,
    source: TableSchema,
    existing: TableSchema | None,
    table_name: str,
    dest_kms_key_id: str | None,
    settings: frozenset[str],
    wait_timeout: float,
    log: opt.SettingsLog,
) -> str:
    """The destination made like ``source`` (recorded as the run's schema step), once."""
    ledger = ctx.run_ledger
    if ledger.step_state("schema") == "done" and existing is not None:
        return f"table {table_name!r} was created earlier in this run"
    action = ensure_table(
        admin,
        source=source,
        existing=existing,
        table_name=table_name,
        dest_kms_key_id=dest_kms_key_id,
        wait_timeout=wait_timeout,
        observer=ctx.observer,
        ledger=ledger,
        settings=settings,
        log=log,
    )
    ledger.step("schema", "done")
    return action
