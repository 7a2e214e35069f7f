"""Sides and options, and the one place that decides precedence: flags > env > file > defaults."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ddbmigrate.errors import ConfigError

SIDE_FIELDS = ("profile", "role_arn", "external_id", "session_name", "region", "endpoint_url")


@dataclass(frozen=True, kw_only=True, slots=True)
class Side:
    """How to reach one AWS account/region. Unset fields fall back to the AWS CLI's own chain."""

    profile: str | None = None
    """Named profile from ~/.aws/config (SSO profiles work too)."""
    role_arn: str | None = None
    """Role to assume from the base credentials; refreshed automatically before expiry."""
    external_id: str | None = field(default=None, repr=False)
    """ExternalId for the AssumeRole call, when the role's trust policy asks for one. It
    travels with the side (a worker or Spark task assumes the role itself) but is never
    shown: not in logs, messages, reprs or the run ledger."""
    session_name: str | None = None
    """RoleSessionName; defaults to ``ddbmigrate-<pid>``."""
    region: str | None = None
    """Region; otherwise AWS_REGION / AWS_DEFAULT_REGION / the profile's region."""
    endpoint_url: str | None = None
    """One endpoint for every service of this side (moto, LocalStack, a VPC endpoint)."""

    def describe(self) -> str:
        """Short text for logs; never contains secrets (an external id shows as set)."""
        shown = [
            f"{f.name}={'(set)' if f.name == 'external_id' else getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name)
        ]
        return ", ".join(shown) or "default AWS credential chain"


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML config file with ``[source]`` and ``[destination]`` tables."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {str(path)!r} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc
    for section in ("source", "destination"):
        _check_side(path, section, data.get(section, {}))
    return data


def _check_side(path: Path, section: str, table: object) -> None:
    """A side is a table of known keys with string values; anything else is named."""
    where = f"config file {str(path)!r}"
    if not isinstance(table, dict):
        raise ConfigError(
            f"{where}: {section} must be a table, not {type(table).__name__}",
            hint=f'write it as [{section}] with keys such as region = "us-east-1"',
        )
    unknown = set(table) - set(SIDE_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)} in [{section}]",
            hint=f"allowed keys: {', '.join(SIDE_FIELDS)}",
        )
    for key, value in table.items():
        if not isinstance(value, str):
            raise ConfigError(
                f"{where}: [{section}] {key} must be a string, not {type(value).__name__}",
                hint=f'quote it: {key} = "{value}"',
            )


def resolve_side(
    role: str,
    *,
    flags: Mapping[str, str | None],
    env: Mapping[str, str] | None = None,
    file: Mapping[str, Any] | None = None,
) -> Side:
    """Decide each field of a side: flag, then ``DDBMIGRATE_<ROLE>_<FIELD>``, then the file.

    ``role`` is ``source`` or ``destination``; the env prefix is ``SOURCE`` or ``DEST``.
    """
    env = os.environ if env is None else env
    section = (file or {}).get(role, {})
    prefix = "DDBMIGRATE_" + ("SOURCE" if role == "source" else "DEST") + "_"
    values: dict[str, str | None] = {}
    for name in SIDE_FIELDS:
        value = flags.get(name) or env.get(prefix + name.upper()) or section.get(name)
        values[name] = str(value) if value else None
    return Side(**values)
