"""The embedded two-account AWS: moto server plus the setup the AWS walkthrough does by hand.

Source account 111111111111 with role ``ddbmigrate-source``; destination account
222222222222 with role ``ddbmigrate-destination`` and the staging bucket, whose bucket policy
lets the source role write (the walkthrough's steps 3-4). Everything goes over HTTP through
boto3 exactly as against AWS; the tool reaches each account by assuming its role.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from ddbmigrate.config import Side
from ddbmigrate.local.server import (
    LOCAL_ACCESS_KEY,
    LOCAL_REGION,
    LOCAL_SECRET_KEY,
    MotoServer,
)

SOURCE_ACCOUNT = "111111111111"
DEST_ACCOUNT = "222222222222"
SOURCE_ROLE = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/ddbmigrate-source"
DEST_ROLE = f"arn:aws:iam::{DEST_ACCOUNT}:role/ddbmigrate-destination"
BUCKET = f"ddbmigrate-staging-{DEST_ACCOUNT}"
README_BUCKET = "bucket-in-b"
"""The README's example bucket, made by ``local up`` so the README's commands run verbatim."""


@dataclass(frozen=True, slots=True)
class LocalAWS:
    """A running embedded AWS and how to reach each account."""

    endpoint_url: str
    region: str = LOCAL_REGION

    @property
    def source(self) -> Side:
        return Side(role_arn=SOURCE_ROLE, region=self.region, endpoint_url=self.endpoint_url)

    @property
    def dest(self) -> Side:
        return Side(role_arn=DEST_ROLE, region=self.region, endpoint_url=self.endpoint_url)

    @property
    def staging(self) -> str:
        return f"s3://{BUCKET}/migrations/"

    @property
    def base_env(self) -> dict[str, str]:
        """Base credentials the roles are assumed from (moto accepts any)."""
        return {
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,  # what boto3 reads (AWS_REGION it does not)
        }

    def session(self, role_arn: str) -> Any:
        """A boto3 session acting as the account of ``role_arn`` (for setup and tests)."""
        base = boto3.Session(
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_SECRET_KEY,
            region_name=self.region,
        )
        sts = base.client("sts", endpoint_url=self.endpoint_url)
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="ddbmigrate-local-setup")
        c = creds["Credentials"]
        return boto3.Session(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
            region_name=self.region,
        )

    def client(self, role_arn: str, service: str) -> Any:
        return self.session(role_arn).client(service, endpoint_url=self.endpoint_url)


def _trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                    "Action": "sts:AssumeRole",
                }
                for acct in (SOURCE_ACCOUNT, DEST_ACCOUNT)
            ],
        }
    )


def staging_bucket_policy(bucket: str, source_role: str) -> dict[str, Any]:
    """Let the source role write exports into the destination's bucket (walkthrough step 4)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SourceAccountWritesExports",
                "Effect": "Allow",
                "Principal": {"AWS": source_role},
                # No s3:PutObjectAcl: a PUT's canned ACL is authorised as s3:PutObject.
                "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Sid": "SourceAccountListsBucket",
                "Effect": "Allow",
                "Principal": {"AWS": source_role},
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }


def bootstrap(env: LocalAWS) -> None:
    """Create both roles, the staging bucket and its policy; a second call changes nothing."""
    for role in (SOURCE_ROLE, DEST_ROLE):
        iam = env.client(role, "iam")
        name = role.rsplit("/", 1)[1]
        if name not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust_policy())
    add_staging_bucket(env, BUCKET)


def add_staging_bucket(env: LocalAWS, bucket: str) -> None:
    """A bucket of the destination account that the source role may write; idempotent."""
    s3 = env.client(DEST_ROLE, "s3")
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps(staging_bucket_policy(bucket, SOURCE_ROLE))
    )


@contextmanager
def running(*, port: int | None = None) -> Iterator[LocalAWS]:
    """Start moto, set up both accounts, yield, stop moto."""
    with MotoServer(port=port) as server:
        env = LocalAWS(endpoint_url=server.endpoint_url)
        bootstrap(env)
        yield env


@contextmanager
def base_credentials(env: LocalAWS) -> Iterator[None]:
    """Point this process's AWS credential chain at the embedded AWS, then restore it."""
    names = [*env.base_env, "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"]
    saved = {name: os.environ.get(name) for name in names}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(env.base_env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
