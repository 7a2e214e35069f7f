"""Every S3 request of every command names the bucket owner it expects; ACLs only where needed.

moto serves S3 without looking at ``x-amz-expected-bucket-owner`` or ``x-amz-acl``, so a test
that asks moto proves nothing about them. Here a recording proxy in front of moto keeps every
S3 request as it was sent, and answers like AWS does when the header names an account other
than the bucket's owner: 403 AccessDenied, nothing done. The owners are the test's own record
of which account created which bucket.

The tool's commands run through the proxy with the two accounts of the embedded AWS (source
111111111111, destination 222222222222, staging bucket of the destination).
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from ddbmigrate import api
from ddbmigrate.cli.app import main
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import ConfigError
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import (
    BUCKET,
    DEST_ACCOUNT,
    SOURCE_ACCOUNT,
    SOURCE_ROLE,
    LocalAWS,
    bootstrap,
)
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, MotoServer
from ddbmigrate.pipeline import MigrateOptions
from tables import make_customer_table

_FAULTS = str(Path(__file__).resolve().parents[1] / "faults")
if _FAULTS not in sys.path:
    sys.path.insert(0, _FAULTS)
from fault_proxy import FaultProxy, _Reply  # noqa: E402

pytestmark = pytest.mark.integration

THIRD_ACCOUNT = "333333333333"
OWNER_HEADER = "x-amz-expected-bucket-owner"
ACL_HEADER = "x-amz-acl"
OWNER_ACL = "bucket-owner-full-control"


# --- the recorder -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """One S3 request as the tool sent it."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def bucket(self) -> str:
        return urlsplit(self.path).path.lstrip("/").partition("/")[0]

    @property
    def operation(self) -> str:
        """The S3 API operation, from the method, the key and the sub-resource."""
        url = urlsplit(self.path)
        key = url.path.lstrip("/").partition("/")[2]
        query = parse_qs(url.query, keep_blank_values=True)
        if not key:
            if "ownershipControls" in query:
                return "GetBucketOwnershipControls"
            if "delete" in query:
                return "DeleteObjects"
            return {"HEAD": "HeadBucket", "GET": "ListObjectsV2"}.get(self.method, self.method)
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            by_method = {"PUT": "UploadPart", "POST": "CompleteMultipartUpload"}
            return by_method.get(self.method, "AbortMultipartUpload")
        return {
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "PUT": "PutObject",
            "DELETE": "DeleteObject",
        }[self.method]

    @property
    def writes(self) -> bool:
        return self.operation in ("PutObject", "CreateMultipartUpload")


class OwnerCheckingProxy(FaultProxy):
    """Forwards everything; keeps each S3 request; refuses one whose expected owner is not
    the bucket's (as AWS does), and, when asked, denies GetBucketOwnershipControls."""

    def __init__(self, upstream: str, owners: dict[str, str]) -> None:
        super().__init__(upstream)
        self.owners = owners
        self.deny_ownership_controls = False
        self._sent: list[Sent] = []
        self._sent_lock = threading.Lock()

    def handle(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        lowered = {name.lower(): value for name, value in headers}
        if "/s3/aws4_request" not in lowered.get("authorization", ""):
            return super().handle(method, path, headers, body)
        sent = Sent(method, path, lowered)
        with self._sent_lock:
            self._sent.append(sent)
        expected = lowered.get(OWNER_HEADER)
        if expected is not None and expected != self.owners.get(sent.bucket, expected):
            return _access_denied(method)
        if self.deny_ownership_controls and sent.operation == "GetBucketOwnershipControls":
            return _access_denied(method)
        return super().handle(method, path, headers, body)

    def take(self) -> list[Sent]:
        """The S3 requests since the last call."""
        with self._sent_lock:
            sent, self._sent = self._sent, []
        return sent


def _access_denied(method: str) -> _Reply:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>Access Denied</Message></Error>"
    )
    headers = [("Content-Type", "application/xml")]
    if method == "HEAD":  # S3 answers HEAD without a body
        return _Reply(403, [*headers, ("Content-Length", "0")], b"", "Forbidden", keep_length=True)
    return _Reply(403, headers, body, "Forbidden")


# --- setup ------------------------------------------------------------------------------------


def _bootstrap(env: LocalAWS) -> None:
    try:
        bootstrap(env)
    except ClientError as exc:  # another module's fixture made the roles already
        if exc.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
            raise


def _source_table(env: LocalAWS, name: str, count: int) -> None:
    make_customer_table(env, name, items=customer_items(count))


def _bucket(env: LocalAWS, account: str, *, enforced: bool = False) -> str:
    """A new bucket of ``account``; BucketOwnerEnforced (ACLs disabled) when asked."""
    name = f"owner-test-{account}-{uuid.uuid4().hex[:8]}"
    s3 = env.client(f"arn:aws:iam::{account}:role/owner-test", "s3")
    s3.create_bucket(Bucket=name)
    if enforced:
        s3.put_bucket_ownership_controls(
            Bucket=name,
            OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        )
    return name


@dataclass(frozen=True, slots=True)
class World:
    direct: LocalAWS
    """Setup and checks, not recorded."""
    via: LocalAWS
    """The tool's way in: through the proxy."""
    proxy: OwnerCheckingProxy
    table: str
    token: str


@pytest.fixture(scope="module")
def world(moto_server: MotoServer) -> Iterator[World]:
    direct = LocalAWS(endpoint_url=moto_server.endpoint_url)
    proxy = OwnerCheckingProxy(moto_server.endpoint_url, {BUCKET: DEST_ACCOUNT})
    with pytest.MonkeyPatch.context() as mp, proxy:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/ddbmigrate-test-aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ddbmigrate-test-aws-credentials")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        _bootstrap(direct)
        token = uuid.uuid4().hex[:8]
        table = f"owned-{token}"
        _source_table(direct, table, 24)
        yield World(direct, LocalAWS(endpoint_url=proxy.url), proxy, table, token)


# --- every command ----------------------------------------------------------------------------


def _every_command(world: World) -> dict[str, list[Sent]]:
    """Each command's S3 requests, in an order where each has something to work on."""
    via, proxy, token = world.via, world.proxy, world.token
    staging = api.StagingOptions(url=f"s3://{BUCKET}/owner-{token}/")
    recorded: dict[str, list[Sent]] = {}
    proxy.take()

    result, error, report = api.observed(
        lambda events: api.migrate(
            source=via.source,
            dest=via.dest,
            staging=staging,
            # Two worker processes: the store and its owner travel to them pickled.
            options=MigrateOptions(
                source_table=world.table, dest_table=f"copy-{token}", segments=2, workers=2
            ),
            observer=events,
        ),
        source_table=world.table,
        dest_table=f"copy-{token}",
        notifications=api.notifier(
            dest=via.dest, reporting=api.Reporting(), on_error=lambda _: None
        ),
        observer=api.NullObserver(),
        clock=SystemClock(),
    )
    assert error is None, error
    assert result is not None
    assert result.validation is not None
    assert result.validation.matches
    run_id = str(report["run_id"])
    recorded["migrate"] = proxy.take()

    warnings: list[str] = []
    written = api.publish_report(
        report,
        reporting=api.Reporting(log_location=f"s3://{BUCKET}/owner-{token}-logs/"),
        side=via.dest,
        log_text="a log line\n",
        clock=SystemClock(),
        warn=warnings.append,
    )
    assert warnings == []
    assert written
    recorded["--log-location upload"] = proxy.take()

    assert api.read_object(written[0], via.dest)
    recorded["pipeline file read (spark job)"] = proxy.take()

    assert [run.run_id for run in api.status(staging=staging, side=via.dest)] == [run_id]
    recorded["status"] = proxy.take()

    with pytest.raises(ConfigError, match="finished"):
        api.resume(run_id=run_id, staging=staging, source=via.source, dest=via.dest)
    recorded["resume"] = proxy.take()

    exported = api.export(
        source=via.source,
        table=world.table,
        staging=api.StagingOptions(
            url=f"s3://{BUCKET}/owner-{token}-export/", bucket_owner=DEST_ACCOUNT
        ),
        workers=1,
    )
    assert exported.item_count == 24
    recorded["export --bucket-owner"] = proxy.take()

    imported = api.import_(
        dest=via.dest,
        source_url=f"s3://{BUCKET}/owner-{token}-export/",
        table=f"imported-{token}",
        workers=1,
    )
    assert imported.item_count == 24
    recorded["import"] = proxy.take()

    removed = api.cleanup(staging=staging, side=via.dest, run_id=run_id)
    assert removed
    recorded["cleanup"] = proxy.take()
    return recorded


@pytest.fixture(scope="module")
def recorded(world: World) -> dict[str, list[Sent]]:
    return _every_command(world)


def test_every_command_sends_s3_requests(recorded: dict[str, list[Sent]]) -> None:
    assert {name for name, sent in recorded.items() if not sent} == set()
    operations = {s.operation for sent in recorded.values() for s in sent}
    assert operations >= {
        "HeadBucket",
        "GetBucketOwnershipControls",
        "ListObjectsV2",
        "GetObject",
        "HeadObject",
        "PutObject",
        "DeleteObject",
    }


def test_every_s3_request_of_every_command_names_the_destination_account(
    recorded: dict[str, list[Sent]],
) -> None:
    """The staging bucket is the destination's: each request says so (export with
    --bucket-owner, since its default is the caller's own account)."""
    wrong = {
        command: [(s.method, s.path, s.headers.get(OWNER_HEADER)) for s in sent]
        for command, sent in recorded.items()
    }
    wrong = {c: [w for w in ws if w[2] != DEST_ACCOUNT] for c, ws in wrong.items()}
    assert {c: ws for c, ws in wrong.items() if ws} == {}
    # The export parts are written by the worker processes: the owner survived pickling.
    assert [s for s in recorded["migrate"] if s.writes and "/data/" in s.path]


def test_only_the_source_sends_an_acl_and_only_bucket_owner_full_control(
    recorded: dict[str, list[Sent]],
) -> None:
    """The staging bucket has no ownership controls (ACLs decide): every object the source
    account writes into it grants the owner control; the owner's own writes carry no ACL."""
    for command in ("migrate", "export --bucket-owner"):
        writes = [s for s in recorded[command] if s.writes]
        assert writes, command
        assert {s.headers.get(ACL_HEADER) for s in writes} == {OWNER_ACL}, command
    for command in ("--log-location upload", "import"):
        writes = [s for s in recorded[command] if s.writes]
        assert writes, command
        assert [s.path for s in writes if ACL_HEADER in s.headers] == [], command


# --- export: the caller's own bucket unless --bucket-owner says -------------------------------


def _export_args(world: World, url: str, *extra: str) -> list[str]:
    return [
        "export",
        "--table",
        world.table,
        "--staging",
        url,
        "--workers",
        "1",
        "--source-role-arn",
        SOURCE_ROLE,
        "--source-region",
        world.via.region,
        "--source-endpoint-url",
        world.via.endpoint_url,
        "--progress",
        "off",
        *extra,
    ]


def test_export_into_a_bucket_of_a_third_account_is_refused(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --bucket-owner, export expects the caller's own account: AWS refuses every
    request into a bucket another account owns, here at the preflight, before any write."""
    bucket = _bucket(world.direct, THIRD_ACCOUNT)
    world.proxy.owners[bucket] = THIRD_ACCOUNT
    world.proxy.take()

    code = main(_export_args(world, f"s3://{bucket}/exports/"))

    assert code != 0
    assert f"not owned by account {SOURCE_ACCOUNT}" in capsys.readouterr().err
    sent = world.proxy.take()
    assert sent
    assert {s.headers.get(OWNER_HEADER) for s in sent} == {SOURCE_ACCOUNT}
    assert [s.operation for s in sent if s.writes] == []
    third = world.direct.client(f"arn:aws:iam::{THIRD_ACCOUNT}:role/owner-test", "s3")
    assert third.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_export_into_the_callers_own_bucket_needs_no_flag_and_no_acl(world: World) -> None:
    bucket = _bucket(world.direct, SOURCE_ACCOUNT)
    world.proxy.owners[bucket] = SOURCE_ACCOUNT
    world.proxy.take()

    assert main(_export_args(world, f"s3://{bucket}/exports/")) == 0

    sent = world.proxy.take()
    assert {s.headers.get(OWNER_HEADER) for s in sent} == {SOURCE_ACCOUNT}
    writes = [s for s in sent if s.writes]
    assert writes
    assert [s.path for s in writes if ACL_HEADER in s.headers] == []


# --- BucketOwnerEnforced: no ACL --------------------------------------------------------------


def test_a_bucket_that_enforces_its_owner_gets_no_acl(world: World) -> None:
    """ACLs disabled (S3's default for new buckets): the destination reads the setting and
    the source writes without an ACL."""
    bucket = _bucket(world.direct, DEST_ACCOUNT, enforced=True)
    world.proxy.owners[bucket] = DEST_ACCOUNT
    world.proxy.take()

    report = api.migrate(
        source=world.via.source,
        dest=world.via.dest,
        staging=api.StagingOptions(url=f"s3://{bucket}/m/"),
        options=MigrateOptions(
            source_table=world.table, dest_table=f"enforced-{world.token}", workers=1
        ),
    )

    assert report.validation is not None
    assert report.validation.matches
    sent = world.proxy.take()
    assert {s.headers.get(OWNER_HEADER) for s in sent} == {DEST_ACCOUNT}
    assert "GetBucketOwnershipControls" in {s.operation for s in sent}
    writes = [s for s in sent if s.writes]
    assert writes
    assert [s.path for s in writes if ACL_HEADER in s.headers] == []


def test_an_unreadable_ownership_setting_falls_back_to_the_acl(world: World) -> None:
    """export --bucket-owner into an enforced bucket: no ACL when the writer may read the
    setting; the ACL when GetBucketOwnershipControls is denied (every setting accepts it)."""
    bucket = _bucket(world.direct, DEST_ACCOUNT, enforced=True)
    world.proxy.owners[bucket] = DEST_ACCOUNT
    acls: dict[bool, set[str | None]] = {}
    for denied in (False, True):
        world.proxy.deny_ownership_controls = denied
        world.proxy.take()
        try:
            args = _export_args(world, f"s3://{bucket}/{denied}/", "--bucket-owner", DEST_ACCOUNT)
            assert main(args) == 0
        finally:
            world.proxy.deny_ownership_controls = False
        writes = [s for s in world.proxy.take() if s.writes]
        assert writes
        acls[denied] = {s.headers.get(ACL_HEADER) for s in writes}

    assert acls == {False: {None}, True: {OWNER_ACL}}
