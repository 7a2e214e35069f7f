"""The engine a command asked for: checked before any AWS call, then opened."""

from __future__ import annotations

from dataclasses import dataclass

from ddbmigrate.aws.session import session_for
from ddbmigrate.config import Side
from ddbmigrate.engines.base import ThreadEngine, check_workers, default_workers
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.engines.local import ProcessEngine, local_engine
from ddbmigrate.engines.spark import SparkEngine, open_session
from ddbmigrate.engines.spark import preflight as spark_preflight
from ddbmigrate.errors import CredentialsError, DdbMigrateError
from ddbmigrate.ports import Observer
from ddbmigrate.wiring.accounts import Account

OpenEngine = ThreadEngine | ProcessEngine | SparkEngine


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """The engine a command asked for, sized, and the staging its executors must see."""

    choice: EngineChoice
    workers: int
    threads: int
    locations: tuple[str, ...] = ()

    @classmethod
    def checked(
        cls,
        choice: EngineChoice | None,
        *,
        workers: int | None,
        threads: int,
        locations: list[str],
    ) -> EngineRequest:
        """The request, with the checks that need no AWS call and no JVM made first."""
        request = cls(
            choice or EngineChoice(),
            default_workers() if workers is None else workers,
            threads,
            tuple(locations),
        )
        engine_preflight(
            request.choice, locations, workers=request.workers, threads=request.threads
        )
        return request

    def open(self, sides: list[Account], observer: Observer) -> OpenEngine:
        return open_engine(
            self.choice,
            workers=self.workers,
            threads=self.threads,
            locations=list(self.locations),
            sides=sides,
            observer=observer,
        )

    def workers_of(self, engine: OpenEngine) -> int:
        """Workers the run sizes its units for: the Spark engine's tasks at once, or the
        local workers asked for."""
        return engine.workers if self.choice.spark else self.workers


def engine_preflight(
    choice: EngineChoice, locations: list[str], *, workers: int, threads: int
) -> None:
    """The engine's checks that need no AWS call and no JVM, made first."""
    if choice.spark:
        spark_preflight(choice.spark_master, locations)
    else:
        check_workers(workers, threads)


def open_engine(
    choice: EngineChoice,
    *,
    workers: int,
    threads: int,
    locations: list[str],
    sides: list[Account],
    observer: Observer,
) -> ThreadEngine | ProcessEngine | SparkEngine:
    """The engine a command runs its units on. The spark engine is checked before any data
    moves: staging the executors can see, no speculative tasks, and executors that act as
    the same accounts as this machine (a probe task per side)."""
    if not choice.spark:
        return local_engine(workers, threads)
    session, _started = open_session(choice.spark_master)
    engine = SparkEngine(session, tasks=choice.spark_tasks)
    engine.check_staging(locations)
    engine.check_settings()
    observer.message(f"spark engine: master {engine.master}, {engine.workers} tasks at once")
    check_executors(engine, sides)
    return engine


@dataclass(frozen=True, slots=True)
class _IdentityProbe:
    """A Spark task's proof that it can act as a side. Its credentials must resolve (the
    side's role is assumed); when they are other keys than this machine's for a side
    without a role, the account they reach is returned for the driver to compare (STS
    GetCallerIdentity, asked only then)."""

    def run(self, unit: tuple[Side, str], stop: object) -> tuple[str | None, str | None]:
        side, here = unit
        try:
            session = session_for(side)
            mine = session.credential_fingerprint()  # resolved here: a role is assumed
            if side.role_arn or mine == here:
                return None, None  # the same role, or the same keys: the same account
            return session.account_id(), None
        except DdbMigrateError as exc:
            return None, exc.message


def check_executors(engine: SparkEngine, sides: list[Account]) -> None:
    """Refuse executors that cannot act as a side, or that reach another account with it
    (the cluster's own role where this machine used a profile, say)."""
    units = [(a.side, a.session.credential_fingerprint()) for a in sides]
    found = engine.probe(_IdentityProbe().run, units)
    for account, (executor_account, problem) in zip(sides, found, strict=True):
        if problem is not None:
            raise CredentialsError(
                f"Spark executors cannot act as {account.label}: {problem}",
                hint="executors build their own credentials from the side's settings: give "
                "the cluster's role (instance profile, Glue role) the right to assume the "
                "side's --*-role-arn, or a profile that exists on every executor",
            )
        if executor_account is not None:
            _check_same_account(account, executor_account)


def _check_same_account(account: Account, executor_account: str) -> None:
    hint = "name a role (--source-role-arn / --dest-role-arn) that both assume"
    try:
        here = account.session.account_id()
    except DdbMigrateError as exc:
        raise CredentialsError(
            f"Spark executors use other credentials than this machine for {account.label}, "
            f"and the accounts could not be compared: {exc.message}",
            hint=hint,
        ) from exc
    if executor_account != here:
        raise CredentialsError(
            f"Spark executors act as account {executor_account} for {account.label}, "
            f"but this machine as account {here}",
            hint=hint,
        )
