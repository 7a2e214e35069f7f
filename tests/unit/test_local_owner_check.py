"""The embedded S3's ExpectedBucketOwner check (moto ignores the header; AWS does not)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.s3.models import s3_backends

from ddbmigrate.local.moto_main import with_owner_check


@pytest.fixture
def bucket() -> Iterator[str]:
    s3_backends.bucket_accounts["owned-by-b"] = ("aws", "222222222222")
    yield "owned-by-b"
    s3_backends.bucket_accounts.pop("owned-by-b", None)


def _call(
    method: str, path: str, owner: str | None, host: str = "127.0.0.1:5000"
) -> tuple[str, bytes]:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"moto"]

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": host}
    if owner:
        environ["HTTP_X_AMZ_EXPECTED_BUCKET_OWNER"] = owner
    body = b"".join(with_owner_check(app)(environ, lambda status, headers: seen.append(status)))
    return seen[0], body


def test_a_foreign_expected_owner_is_refused_like_aws(bucket: str) -> None:
    status, body = _call("GET", f"/{bucket}/k", "333333333333")
    assert status == "403 Forbidden"
    assert b"<Code>AccessDenied</Code>" in body
    assert _call("HEAD", f"/{bucket}", "333333333333") == ("403 Forbidden", b"")


@pytest.mark.parametrize(
    ("path", "owner", "host"),
    [
        ("/owned-by-b/k", "222222222222", "127.0.0.1:5000"),  # the right owner
        ("/owned-by-b/k", None, "127.0.0.1:5000"),  # no header: nothing to check
        ("/no-such-bucket/k", "333333333333", "127.0.0.1:5000"),  # moto says NoSuchBucket
        ("/owned-by-b/k", "333333333333", "x.localhost:5000"),  # virtual host: not read
    ],
)
def test_everything_else_reaches_moto(bucket: str, path: str, owner: str | None, host: str) -> None:
    assert _call("PUT", path, owner, host) == ("200 OK", b"moto")
