"""Sides: flags > env > config file > AWS defaults; staging URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddbmigrate.cli.exit_codes import ExitCode, exit_code_for
from ddbmigrate.config import Side, load_config_file, resolve_side
from ddbmigrate.errors import (
    ConfigError,
    NotFoundError,
    ThrottledError,
    ValidationMismatchError,
)
from ddbmigrate.model import StoreURL


def test_flags_beat_env_beat_file() -> None:
    file = {"source": {"profile": "from-file", "region": "eu-west-1", "role_arn": "arn:file"}}
    env = {"DDBMIGRATE_SOURCE_PROFILE": "from-env", "DDBMIGRATE_SOURCE_REGION": "us-west-2"}
    side = resolve_side("source", flags={"profile": "from-flag"}, env=env, file=file)
    assert side == Side(profile="from-flag", region="us-west-2", role_arn="arn:file")


def test_destination_reads_dest_env_and_destination_table() -> None:
    side = resolve_side(
        "destination",
        flags={},
        env={"DDBMIGRATE_DEST_ROLE_ARN": "arn:aws:iam::222222222222:role/x"},
        file={"destination": {"external_id": "xyz"}},
    )
    assert side.role_arn == "arn:aws:iam::222222222222:role/x"
    assert side.external_id == "xyz"
    assert side.profile is None


def test_nothing_given_means_the_default_chain() -> None:
    side = resolve_side("source", flags={}, env={}, file=None)
    assert side == Side()
    assert side.describe() == "default AWS credential chain"


def test_config_file_unknown_keys_and_bad_toml(tmp_path: Path) -> None:
    good = tmp_path / "ok.toml"
    good.write_text('[source]\nprofile = "a"\n[destination]\nregion = "eu-west-1"\n')
    assert load_config_file(good)["destination"]["region"] == "eu-west-1"
    bad_key = tmp_path / "bad.toml"
    bad_key.write_text('[source]\nprofil = "a"\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['profil'\] in \[source\]"):
        load_config_file(bad_key)
    broken = tmp_path / "broken.toml"
    broken.write_text("[source\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config_file(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source = 3\n", r"source must be a table, not int"),
        ('destination = "eu-west-1"\n', r"destination must be a table, not str"),
        ("[source]\nregion = 5\n", r"\[source\] region must be a string, not int"),
        ("[destination]\nprofile = true\n", r"\[destination\] profile must be a string"),
    ],
)
def test_a_side_of_the_wrong_type_is_named(tmp_path: Path, text: str, message: str) -> None:
    """TOML types a value by its spelling: an unquoted region is an int, not a string."""
    path = tmp_path / "typed.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config_file(path)


def test_store_urls() -> None:
    url = StoreURL.parse("s3://bucket-in-b/migrations/")
    assert (url.scheme, url.bucket, url.prefix) == ("s3", "bucket-in-b", "migrations")
    assert str(url.join("AWSDynamoDB", "x")) == "s3://bucket-in-b/migrations/AWSDynamoDB/x"
    assert StoreURL.parse("s3://b").prefix == ""
    local = StoreURL.parse("./exports")
    assert local.scheme == "file"
    assert Path(local.prefix).is_absolute()
    with pytest.raises(ConfigError, match="has no bucket"):
        StoreURL.parse("s3:///prefix")
    with pytest.raises(ConfigError, match="scheme ddbmigrate does not know"):
        StoreURL.parse("gs://bucket/x")


@pytest.mark.parametrize("text", ["no-such-bucket/x/", "exports", "bucket-in-b", "a/b/c"])
def test_a_staging_url_without_scheme_or_explicit_path_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        StoreURL.parse(text)
    assert info.value.message == (
        f"staging URL {text!r} is neither s3://BUCKET/PREFIX/ nor an explicit local path"
    )
    assert (info.value.hint or "").startswith(f"did you mean s3://{text} ? ")
    assert f"./{text}" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/srv/exports/", "/srv/exports"),
        ("./exports", "{cwd}/exports"),
        ("../exports", "{parent}/exports"),
        (".", "{cwd}"),
        ("file:///srv/exports", "/srv/exports"),
        ("file://./exports", "{cwd}/exports"),
        ("~/exports", "{home}/exports"),
    ],
)
def test_every_explicit_local_path_form_is_accepted_as_an_absolute_directory(
    text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    url = StoreURL.parse(text)
    want = expected.format(cwd=tmp_path, parent=tmp_path.parent, home=tmp_path / "home")
    assert (url.scheme, url.prefix) == ("file", str(Path(want).resolve()))
    assert url.describe() == f"local directory {url.prefix}"


def test_an_s3_url_describes_itself_as_the_url() -> None:
    assert StoreURL.parse("s3://bucket-in-b/m/").describe() == "s3://bucket-in-b/m"


def test_exit_codes_are_decided_by_error_class() -> None:
    assert exit_code_for(ConfigError("x")) is ExitCode.USAGE
    assert exit_code_for(NotFoundError("x")) is ExitCode.FAILURE
    assert exit_code_for(ThrottledError("x")) is ExitCode.TRANSIENT
    assert exit_code_for(ValidationMismatchError("x", report=None)) is ExitCode.MISMATCH
    assert exit_code_for(KeyboardInterrupt()) is ExitCode.INTERRUPTED
