"""One AWS account/region as the tool sees it: credentials, region and a client factory.

Where a ``Side`` leaves a field unset, botocore's own chain decides exactly as the AWS CLI
does (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_<SERVICE>, SSO, instance roles ...). A side
with ``role_arn`` assumes that role from those base credentials and refreshes it before it
expires, so a run of many hours keeps working.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import Any

import boto3
from botocore import exceptions as bce
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.session import Session as BotocoreSession

from ddbmigrate.aws.errors import (
    NO_CREDENTIALS_HINT,
    REGION_HINT,
    profile_not_found,
    profiles_not_found,
    translate,
)
from ddbmigrate.config import Side
from ddbmigrate.errors import ConfigError, CredentialsError, DdbMigrateError

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
MAX_POOL_CONNECTIONS = 32
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


class _GivenCredentials(CredentialProvider):  # type: ignore[misc]  # untyped base
    """Hands botocore credentials we already hold instead of running its chain again."""

    METHOD = "ddbmigrate-side"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def botocore_session(profile: str | None, credentials: Any = None) -> BotocoreSession:
    """A botocore session of ``profile`` (its region and settings) that signs with
    ``credentials`` when given: the object itself, not a frozen copy, so an assumed role
    keeps refreshing through a run of many hours."""
    core = BotocoreSession(profile=profile)
    if credentials is not None:
        resolver = CredentialResolver(providers=[_GivenCredentials(credentials)])
        core.register_component("credential_provider", resolver)
    return core


def check_profiles(named: dict[str, str | None]) -> None:
    """Refuse, in one error, every profile (by the flag that names it) that the AWS config
    and credentials files do not define: a user with two typos fixes both at once. Reads
    the files only; no AWS call."""
    wanted = {flag: profile for flag, profile in named.items() if profile}
    if not wanted:
        return
    known = set(BotocoreSession().available_profiles)
    missing = {flag: profile for flag, profile in wanted.items() if profile not in known}
    if missing:
        raise profiles_not_found(missing)


class SideSession:
    """Credentials, region and cached clients for one ``Side``. Thread-safe."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self._base = _boto3_session(side)
        self._session = self._base
        self._credentials: Any = None
        if side.role_arn:
            self._credentials = self._assume_role_credentials(side.role_arn)
            self._session = _boto3_session(side, credentials=self._credentials)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled into a worker process, a session opens anew there from the side's
        # configuration (its own credentials, assumed role and clients): no secret travels.
        return (session_for, (self.side,))

    @property
    def region(self) -> str:
        """The side's region; ConfigError when nothing (flag, env, profile) names one."""
        region = self._session.region_name
        if not region:
            raise ConfigError(f"no AWS region for {self.side.describe()}", hint=REGION_HINT)
        return str(region)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service``, created once; boto3 clients are thread-safe."""
        with self._lock:  # creating clients from one session is not thread-safe
            if service not in self._clients:
                self._clients[service] = self._new_client(service)
            return self._clients[service]

    def credentials(self) -> Any:
        """botocore credentials; call ``get_frozen_credentials()`` per request so refresh works."""
        if self._credentials is None:
            self._credentials = self._base_credentials()
        return self._credentials

    def credential_fingerprint(self) -> str:
        """A one-way digest of the access key id these credentials use now. Getting it
        proves they resolve (an assumed role is assumed); comparing two tells whether two
        processes act with the same keys. It reveals nothing about the keys."""
        try:
            frozen = self.credentials().get_frozen_credentials()
        except DdbMigrateError:
            raise
        except Exception as exc:
            raise translate(
                exc, what=f"credentials for {self.side.describe()}", action="sts:AssumeRole"
            ) from exc
        return hashlib.sha256(str(frozen.access_key).encode()).hexdigest()[:16]

    def account_id(self) -> str:
        """The account these credentials act in (STS GetCallerIdentity, asked once)."""
        if self._account_id is None:
            try:
                identity = self.client("sts").get_caller_identity()
            except Exception as exc:
                raise translate(
                    exc,
                    what=f"STS GetCallerIdentity for {self.side.describe()}",
                    action="sts:GetCallerIdentity",
                ) from exc
            self._account_id = str(identity["Account"])
        return self._account_id

    @property
    def dynamodb_endpoint(self) -> str:
        """The URL the DynamoDB client resolved (side flag, AWS_ENDPOINT_URL_*, or AWS's)."""
        return str(self.client("dynamodb").meta.endpoint_url)

    def _new_client(self, service: str) -> Any:
        region = self.region
        try:
            return self._session.client(
                service,
                region_name=region,
                endpoint_url=self.side.endpoint_url,  # None lets botocore read AWS_ENDPOINT_URL*
                config=client_config(service, path_style=self._custom_endpoint(service)),
            )
        except Exception as exc:
            raise translate(exc, what=f"{service} client for {self.side.describe()}") from exc

    def _custom_endpoint(self, service: str) -> bool:
        # S3 emulators (moto, MinIO) do not resolve virtual-host bucket names.
        env = f"AWS_ENDPOINT_URL_{service.upper()}"
        return bool(
            self.side.endpoint_url or os.environ.get(env) or os.environ.get("AWS_ENDPOINT_URL")
        )

    def _base_credentials(self) -> Any:
        try:
            credentials = self._base.get_credentials()
        except Exception as exc:
            raise translate(exc, what=f"credentials for {self.side.describe()}") from exc
        if credentials is None:
            raise CredentialsError(
                f"no AWS credentials found for {self.side.describe()}", hint=NO_CREDENTIALS_HINT
            )
        return credentials

    def _assume_role_credentials(self, role_arn: str) -> Any:
        """Deferred: the first request calls AssumeRole, never the constructor."""
        extra: dict[str, str] = {"RoleSessionName": _session_name(self.side)}
        if self.side.external_id:
            extra["ExternalId"] = self.side.external_id
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=self._sts_client_for_assume_role,
            source_credentials=self._base_credentials(),
            role_arn=role_arn,
            extra_args=extra,
        )
        return DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role"
        )

    def _sts_client_for_assume_role(self, service: str, **credentials: Any) -> Any:
        # Built at refresh time, so the STS call honours the side's region and endpoint too.
        return self._base.client(
            service,
            region_name=self.region,
            endpoint_url=self.side.endpoint_url,
            config=client_config(service, path_style=False),
            **credentials,
        )


def client_config(service: str, *, path_style: bool) -> Config:
    """Retries, pool size and timeouts shared by every control-plane client."""
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 10},
        "max_pool_connections": MAX_POOL_CONNECTIONS,
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "user_agent_extra": "ddbmigrate",
    }
    if service == "s3" and path_style:
        options["s3"] = {"addressing_style": "path"}
    return Config(**options)


def _boto3_session(side: Side, *, credentials: Any = None) -> Any:
    core = botocore_session(side.profile, credentials)
    try:
        core.get_scoped_config()  # fails now, not mid-run, when the profile does not exist
        # The AWS CLI v2 reads AWS_REGION before AWS_DEFAULT_REGION and the profile; botocore
        # knows only the latter two, so AWS_REGION is applied here.
        region = side.region or os.environ.get("AWS_REGION") or None
        return boto3.Session(botocore_session=core, region_name=region)
    except bce.ProfileNotFound as exc:
        raise profile_not_found(str(exc.kwargs.get("profile", side.profile))) from exc


def side_region(side: Side) -> str:
    """The side's region from flag, environment or profile, with no credentials needed."""
    region = _boto3_session(side).region_name
    if not region:
        raise ConfigError(f"no AWS region for {side.describe()}", hint=REGION_HINT)
    return str(region)


def _session_name(side: Side) -> str:
    name = side.session_name or f"ddbmigrate-{os.getpid()}"
    if not _SESSION_NAME.match(name):
        raise ConfigError(
            f"role session name {name!r} is not valid",
            hint="use 2-64 characters from letters, digits and +=,.@_-",
        )
    return name


_SESSIONS: dict[Side, SideSession] = {}
_SESSIONS_LOCK = threading.Lock()


def session_for(side: Side) -> SideSession:
    """This process's one session of ``side`` (what an unpickled SideSession becomes)."""
    with _SESSIONS_LOCK:
        if side not in _SESSIONS:
            _SESSIONS[side] = SideSession(side)
        return _SESSIONS[side]
