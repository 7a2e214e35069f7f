"""AWS config and credentials files for the embedded AWS: profiles ``a`` and ``b``.

The README's examples name ``--source-profile a --dest-profile b``; with these two files
exported (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE) they run verbatim against the
embedded AWS. Each profile assumes its account's role from the ``default`` base keys, the
way a real profile with ``role_arn`` and ``source_profile`` does, so account isolation is
the same AssumeRole the tool uses everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY

PROFILES = {"a": SOURCE_ROLE, "b": DEST_ROLE}


@dataclass(frozen=True, slots=True)
class ProfileFiles:
    """Where the pair was written and the environment that points at it."""

    config: Path
    credentials: Path
    env: dict[str, str]


def config_text(env: LocalAWS) -> str:
    """``default`` holds the region; ``a``/``b`` assume the source/destination roles."""
    blocks = [f"[default]\nregion = {env.region}\n"]
    blocks += [
        f"[profile {name}]\nrole_arn = {role}\nsource_profile = default\nregion = {env.region}\n"
        for name, role in PROFILES.items()
    ]
    return "\n".join(blocks)


def credentials_text() -> str:
    """The base keys moto accepts; AssumeRole from them picks the account."""
    return (
        f"[default]\naws_access_key_id = {LOCAL_ACCESS_KEY}\n"
        f"aws_secret_access_key = {LOCAL_SECRET_KEY}\n"
    )


def write_profiles(env: LocalAWS, directory: Path) -> ProfileFiles:
    """Write ``config`` and ``credentials`` into ``directory``; return the exports to use them."""
    config, credentials = directory / "config", directory / "credentials"
    config.write_text(config_text(env), encoding="utf-8")
    credentials.write_text(credentials_text(), encoding="utf-8")
    credentials.chmod(0o600)  # the AWS CLI's own mode for a credentials file
    exports = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        # boto3 reads AWS_DEFAULT_REGION (AWS_REGION only through the tool's own fallback).
        "AWS_DEFAULT_REGION": env.region,
        "AWS_ENDPOINT_URL": env.endpoint_url,
    }
    return ProfileFiles(config=config, credentials=credentials, env=exports)
