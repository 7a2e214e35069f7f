"""Settings and fixtures shared by every test folder.

The hypothesis profile every property test runs under; one moto server per test session (a
real HTTP server in a child process), and an environment that keeps the host's AWS setup out
of the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, MotoServer
from dynalite import DynaliteMissingError, DynaliteServer
from dynamoimpl import IMPLEMENTATIONS, DynamoImpl

# Property tests must not depend on how busy the machine is: an example that takes 300 ms
# while five other test processes share two cores is no bug, so no deadline and no too_slow
# health check. derandomize: every run tries the same examples, so a green suite stays green
# and a failure is reproduced by running the test again (no example database to share between
# xdist workers). `pytest --hypothesis-profile=explore` searches new examples instead.
settings.register_profile(
    "ddbmigrate",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore", parent=settings.get_profile("ddbmigrate"), derandomize=False, print_blob=True
)
settings.load_profile("ddbmigrate")

# Variables that would make a test depend on the machine it runs on.
_AMBIENT_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CA_BUNDLE",
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """The embedded AWS, started once for the whole session (moto starts lazily)."""
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def dynalite_server() -> Iterator[DynaliteServer]:
    """dynalite (tests/dynalite.py), installed once and started per session. Fails, not
    skips, without Node.js and npm: a suite that silently tested one implementation would
    pass for the wrong reason."""
    server, missing = DynaliteServer(), ""
    try:
        server.__enter__()
    except DynaliteMissingError as exc:
        missing = str(exc)
    if missing:
        pytest.fail(missing, pytrace=False)  # outside the except: one message, no chain
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Base credentials of the embedded AWS and nothing from the host's AWS setup."""
    for name in _AMBIENT_AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)


@pytest.fixture(params=IMPLEMENTATIONS)
def dynamo_impl(
    request: pytest.FixtureRequest,
    moto_server: MotoServer,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> DynamoImpl:
    """The test once on moto and once on dynalite (tests/dynamoimpl.py), STS and S3 on moto,
    with the environment that points the tool's DynamoDB there. dynalite starts only for the
    tests that ask for it."""
    if request.param == "moto":
        return DynamoImpl("moto", moto_server.endpoint_url, moto_server.endpoint_url)
    dynalite: DynaliteServer = request.getfixturevalue("dynalite_server")
    impl = DynamoImpl("dynalite", dynalite.endpoint_url, moto_server.endpoint_url)
    impl.use(monkeypatch)
    return impl
