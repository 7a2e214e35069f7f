"""``ports.Store`` on an S3 prefix, usually in a bucket another account owns.

Every request carries ``ExpectedBucketOwner`` (``api`` always knows the owner of an s3://
staging: the flag, or an account learned from STS), so a bucket name taken over by a
stranger makes the call fail instead of handing them our data.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import orjson
from boto3.s3.transfer import TransferConfig

from ddbmigrate.aws.errors import translate
from ddbmigrate.aws.session import SideSession
from ddbmigrate.errors import AccessDeniedError, DdbMigrateError, NotFoundError, StagingError
from ddbmigrate.model import StoreURL
from ddbmigrate.ports import StoreWriter

MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_BYTES = 8 * 1024 * 1024
"""Parts of a streamed upload (S3's minimum is 5 MiB, except for the last)."""
SPOOL_BYTES = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024
_TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD
)


class S3Store:
    """Objects below ``s3://bucket/prefix``, addressed by keys relative to that prefix."""

    def __init__(
        self,
        session: SideSession,
        url: StoreURL,
        *,
        expected_owner: str | None,
        acl: str | None = "bucket-owner-full-control",
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
    ) -> None:
        if url.scheme != "s3":
            raise ValueError(f"S3Store needs an s3:// URL, got {url}")
        self._session = session
        self.url = url
        self.bucket = url.bucket
        self.prefix = url.prefix.strip("/")
        self._owner = {"ExpectedBucketOwner": expected_owner} if expected_owner else {}
        self.expected_owner = expected_owner
        self.acl = acl
        self._write_args = {**self._owner, **_write_args(acl, sse, sse_kms_key_id)}

    @property
    def root(self) -> str:
        return str(self.url)

    def put(self, key: str, data: bytes) -> None:
        """One PUT (or a multipart upload above 16 MiB); S3 shows the object only when complete."""
        full = self._key(key)
        try:
            if len(data) <= MULTIPART_THRESHOLD:
                self._s3.put_object(Bucket=self.bucket, Key=full, Body=data, **self._write_args)
            else:
                self._s3.upload_fileobj(
                    io.BytesIO(data),
                    self.bucket,
                    full,
                    ExtraArgs=self._write_args,
                    Config=_TRANSFER,
                )
        except Exception as exc:
            raise self._error(exc, key, "s3:PutObject") from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """One PUT with ``If-None-Match: *``: S3 creates the object only if the key is free,
        atomically, and answers 412 (or 409 while another conditional write of the key is
        in flight) otherwise. Small objects only (run locks), so never multipart."""
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                IfNoneMatch="*",
                **self._write_args,
            )
        except Exception as exc:
            if _error_code(exc) in _TAKEN:
                return False
            raise self._error(exc, key, "s3:PutObject") from exc
        return True

    def get(self, key: str) -> bytes:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=self._key(key), **self._owner)
            return response["Body"].read()  # type: ignore[no-any-return]
        except Exception as exc:
            raise self._error(exc, key, "s3:GetObject") from exc

    def open_read(self, key: str) -> BinaryIO:
        """The object downloaded in chunks into a spooled temporary file (memory up to
        8 MiB, then disk), so a large data file is never held whole in memory."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=self._key(key), **self._owner)
            for chunk in response["Body"].iter_chunks(READ_CHUNK):
                spool.write(chunk)
        except Exception as exc:
            spool.close()
            raise self._error(exc, key, "s3:GetObject") from exc
        spool.seek(0)
        return cast(BinaryIO, spool)

    def open_write(self, key: str) -> StoreWriter:
        """A multipart upload fed in parts of 8 MiB (one PUT when the object is smaller)."""
        return _S3Writer(self, key)

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._key(key), **self._owner)
        except Exception as exc:
            error = self._error(exc, key, "s3:GetObject")
            if isinstance(error, NotFoundError):
                return False
            raise error from exc
        return True

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (a plain string prefix, as S3 means it), sorted."""
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self._s3.get_paginator("list_objects_v2")
        keys: list[str] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix, **self._owner):
                keys.extend(obj["Key"][len(base) :] for obj in page.get("Contents", []))
        except Exception as exc:
            raise self._error(exc, prefix, "s3:ListBucket", resource=self._bucket_arn) from exc
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(key), **self._owner)
        except Exception as exc:
            raise self._error(exc, key, "s3:DeleteObject") from exc

    def fingerprints(self, prefix: str) -> dict[str, str]:
        """Size and ETag of each object below ``prefix``, from the listing (one request per
        1,000 keys, no HEAD per object)."""
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self._s3.get_paginator("list_objects_v2")
        found: dict[str, str] = {}
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix, **self._owner):
                for obj in page.get("Contents", []):
                    found[obj["Key"][len(base) :]] = f"{obj['Size']}:{obj['ETag'].strip(chr(34))}"
        except Exception as exc:
            raise self._error(exc, prefix, "s3:ListBucket", resource=self._bucket_arn) from exc
        return found

    def check_bucket(self) -> None:
        """HeadBucket: the bucket exists, we may use it, and the expected account owns it."""
        try:
            self._s3.head_bucket(Bucket=self.bucket, **self._owner)
        except Exception as exc:
            raise self._bucket_error(exc) from exc

    def probe_write(self) -> None:
        """Prove we may write here by putting a marker object, then delete it."""
        key = f"ddbmigrate/preflight/{uuid.uuid4().hex}.json"
        body = orjson.dumps({"written_by": "ddbmigrate", "purpose": "preflight write check"})
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, **self._write_args
            )
        except Exception as exc:
            raise self._probe_error(exc) from exc
        # Writing is what the run needs; a marker left behind for lack of DeleteObject is harmless.
        with contextlib.suppress(AccessDeniedError):
            self.delete(key)

    @property
    def _s3(self) -> Any:
        return self._session.client("s3")

    @property
    def _bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    def _key(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _object_arn(self, key: str) -> str:
        return f"{self._bucket_arn}/{self._key(key)}"

    def _error(
        self, exc: Exception, key: str, action: str, *, resource: str | None = None
    ) -> DdbMigrateError:
        what = f"s3://{self.bucket}/{self._key(key)}"
        error = translate(exc, what=what, action=action, resource=resource or self._object_arn(key))
        if isinstance(error, AccessDeniedError) and self.expected_owner:
            return self._maybe_wrong_owner(error)
        return error

    def _maybe_wrong_owner(self, error: AccessDeniedError) -> AccessDeniedError:
        # AWS answers a wrong ExpectedBucketOwner with a plain AccessDenied: say both causes.
        owner = self.expected_owner
        return AccessDeniedError(
            f"{error.message} (bucket {self.bucket!r} is not owned by account {owner}, "
            "or this identity may not use it)",
            hint=f"pass --bucket-owner with the account that owns {self.bucket!r} "
            f"(expected now: {owner})" + (f"; if it is: {error.hint}" if error.hint else ""),
        )

    def _bucket_error(self, exc: Exception) -> DdbMigrateError:
        error = translate(exc, what=f"bucket {self.bucket!r}", action="s3:ListBucket")
        if isinstance(error, NotFoundError):
            return StagingError(
                f"bucket {self.bucket!r} does not exist",
                hint="create it in the destination account, or fix --staging",
            )
        if isinstance(error, AccessDeniedError) and self.expected_owner:
            return StagingError(
                f"bucket {self.bucket!r} is not owned by account {self.expected_owner}, "
                "or you may not access it",
                hint="pass --bucket-owner ACCOUNT when another account owns the bucket, and "
                f"grant s3:ListBucket on {self._bucket_arn} (see `ddbmigrate policies`)",
            )
        return error

    def _probe_error(self, exc: Exception) -> DdbMigrateError:
        error = self._error(exc, "ddbmigrate/preflight/", "s3:PutObject")
        if not isinstance(error, AccessDeniedError):
            return error
        # A canned ACL on a PUT is authorised as s3:PutObject (ADR 0017): no PutObjectAcl.
        where = f"{self._bucket_arn}/{self.prefix}/*" if self.prefix else f"{self._bucket_arn}/*"
        return AccessDeniedError(
            f"cannot write to {self.root}: {error.message}",
            hint=f"grant s3:PutObject on {where} (see `ddbmigrate policies`)",
        )


_TAKEN = {"PreconditionFailed", "ConditionalRequestConflict"}


def _error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def acl_needed(session: SideSession, bucket: str, *, owner: str | None) -> bool:
    """Whether objects another account writes into ``bucket`` need a canned ACL for its owner
    to control them: not when its Object Ownership is BucketOwnerEnforced (ACLs disabled, the
    owner owns every object; S3's default for new buckets since April 2023).

    No ownership controls at all means ACLs decide (the pre-2023 default). An answer that
    cannot be read (access denied, an emulator without the call) also sends the ACL: a
    ``bucket-owner-full-control`` ACL is accepted by every setting, BucketOwnerEnforced too.
    """
    args = {"Bucket": bucket, **({"ExpectedBucketOwner": owner} if owner else {})}
    try:
        answer = session.client("s3").get_bucket_ownership_controls(**args)
    except Exception:  # noqa: BLE001 - the preflight's HeadBucket names what is wrong
        return True  # OwnershipControlsNotFoundError, AccessDenied, NoSuchBucket, no network
    rules = answer.get("OwnershipControls", {}).get("Rules", [])
    return not any(rule.get("ObjectOwnership") == "BucketOwnerEnforced" for rule in rules)


def _write_args(acl: str | None, sse: str | None, kms_key: str | None) -> dict[str, str]:
    args: dict[str, str] = {}
    if acl:
        args["ACL"] = acl
    if sse:
        args["ServerSideEncryption"] = sse
    if kms_key:
        args["SSEKMSKeyId"] = kms_key
    return args


class _S3Writer:
    """Buffers up to one part; S3 shows the object only when the upload completes."""

    def __init__(self, store: S3Store, key: str) -> None:
        self._store = store
        self._key = key
        self._full = store._key(key)
        self._buffer = io.BytesIO()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._buffer.write(data)
        if self._buffer.tell() >= PART_BYTES:
            self._upload_part()

    def commit(self) -> None:
        s3, bucket = self._store._s3, self._store.bucket
        try:
            if self._upload_id is None:
                body = self._buffer.getvalue()
                s3.put_object(Bucket=bucket, Key=self._full, Body=body, **self._store._write_args)
                return
            if self._buffer.tell():
                self._upload_part()
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key=self._full,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
                **self._store._owner,
            )
        except Exception as exc:
            raise self._store._error(exc, self._key, "s3:PutObject") from exc

    def abort(self) -> None:
        """Abort the multipart upload, so its parts do not linger (and cost) in the bucket."""
        self._buffer = io.BytesIO()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        with contextlib.suppress(Exception):  # a bucket lifecycle rule cleans up what is left
            self._store._s3.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._full, UploadId=upload_id, **self._store._owner
            )

    def _upload_part(self) -> None:
        s3, bucket = self._store._s3, self._store.bucket
        try:
            if self._upload_id is None:
                started = s3.create_multipart_upload(
                    Bucket=bucket, Key=self._full, **self._store._write_args
                )
                self._upload_id = str(started["UploadId"])
            number = len(self._parts) + 1
            answer = s3.upload_part(
                Bucket=bucket,
                Key=self._full,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=self._buffer.getvalue(),
                **self._store._owner,
            )
        except Exception as exc:
            raise self._store._error(exc, self._key, "s3:PutObject") from exc
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        self._buffer = io.BytesIO()
