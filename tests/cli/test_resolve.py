"""Shared options are declared once and settled in one place: flags > env > file > defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from ddbmigrate import api
from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.cli.app import app, main
from ddbmigrate.cli.resolve import resolve
from ddbmigrate.config import Side
from ddbmigrate.errors import ConfigError

CONFIG = """
[source]
profile = "file-profile"
region = "eu-west-1"

[throughput]
read_percent = 0.25
write_percent = 0.75

[engine]
threads = 8
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ddbmigrate.toml"
    path.write_text(CONFIG, encoding="utf-8")
    # resolve() refuses a profile the AWS config file does not define: these do exist.
    aws = tmp_path / "aws-config"
    aws.write_text("".join(f"[profile {n}]\n" for n in ("file-profile", "env-profile", "p")))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws))
    return path


def _given(**values: Any) -> dict[str, Any]:
    """What a command taking the throughput and engine options receives with no flags."""
    base = dict.fromkeys(
        ["read_percent", "write_percent", "max_rcu", "max_wcu", "workers", "threads", "engine"]
    )
    return base | {"source_profile": None, "source_region": None} | values


def test_defaults_come_from_the_option_dataclasses() -> None:
    run = resolve(_given(), env={})
    assert run.throughput == ThroughputOptions()
    assert run.engine.name == "local"
    assert run.workers is None
    assert run.source == Side()


def test_a_flag_beats_the_environment_which_beats_the_file(config: Path) -> None:
    env = {"DDBMIGRATE_READ_PERCENT": "0.4", "DDBMIGRATE_SOURCE_PROFILE": "env-profile"}
    from_file = resolve(_given(config=config), env={})
    assert from_file.throughput.read_percent == 0.25
    assert from_file.throughput.write_percent == 0.75
    assert from_file.threads == 8
    assert from_file.source == Side(profile="file-profile", region="eu-west-1")
    from_env = resolve(_given(config=config), env=env)
    assert from_env.throughput.read_percent == 0.4
    assert from_env.source.profile == "env-profile"
    from_flag = resolve(_given(config=config, read_percent=1.0, source_profile="p"), env=env)
    assert from_flag.throughput.read_percent == 1.0
    assert from_flag.source.profile == "p"
    assert from_flag.source.region == "eu-west-1"  # each field on its own


def test_a_setting_the_command_has_no_flag_for_keeps_its_default(config: Path) -> None:
    # `export` takes --read-percent only: a write share from env or file must not reach it.
    run = resolve({"read_percent": None, "config": config}, env={"DDBMIGRATE_WRITE_PERCENT": "9"})
    assert run.throughput.write_percent == ThroughputOptions().write_percent
    assert run.throughput.read_percent == 0.25


def test_a_bad_value_names_where_it_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DDBMIGRATE_WORKERS='many' is not a whole number"):
        resolve(_given(), env={"DDBMIGRATE_WORKERS": "many"})
    path = tmp_path / "bad.toml"
    path.write_text("[throughput]\nread_percnt = 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['read_percnt'\] in \[throughput\]"):
        resolve(_given(config=path), env={})


def test_a_misspelt_or_misplaced_table_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("[throughtput]\nread_percent = 0.25\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown table\(s\) \['throughtput'\]"):
        resolve(_given(config=path), env={})
    path.write_text("read_percent = 0.25\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown table\(s\) \['read_percent'\]"):
        resolve(_given(config=path), env={})
    path.write_text("engine = 'spark'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"engine must be a \[engine\] table"):
        resolve(_given(config=path), env={})


def test_an_out_of_range_share_from_the_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"outside 0\.1-1\.5"):
        resolve(_given(), env={"DDBMIGRATE_READ_PERCENT": "5"})


def test_the_data_plane_from_the_file_reaches_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DDBMIGRATE_DATA_PLANE", raising=False)
    path = tmp_path / "plane.toml"
    path.write_text('[engine]\ndata_plane = "boto3"\n', encoding="utf-8")
    assert resolve(_given(config=path), env={}).data_plane == "boto3"
    monkeypatch.setenv("DDBMIGRATE_DATA_PLANE", "nope")
    with pytest.raises(ConfigError, match="is not lean or boto3"):
        resolve(_given(), env={"DDBMIGRATE_DATA_PLANE": "nope"})


NOT_SIDE = ("--source-table", "--dest-table", "--source-account", "--dest-account")
NOT_SIDE += ("--dest-kms-key-id",)


def _side_options(name: str) -> list[tuple[str, str | None]]:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return [
        (p.opts[0], getattr(p, "help", None))
        for p in command.params
        if p.opts[0].startswith(("--source-", "--dest-")) and p.opts[0] not in NOT_SIDE
    ]


def test_every_command_with_both_sides_takes_the_same_twelve_options() -> None:
    commands = ("migrate", "schema", "validate", "resume", "plan", "policies")
    shapes = {name: _side_options(name) for name in commands}
    assert len(shapes["migrate"]) == 12
    assert {name: shape for name, shape in shapes.items() if shape != shapes["migrate"]} == {}
    assert _side_options("export") == shapes["migrate"][:6]
    assert _side_options("import") == shapes["migrate"][6:]


def _planned_read_percent(args: list[str], monkeypatch: pytest.MonkeyPatch) -> float:
    """The read share ``plan`` hands the API, run through the real command line."""
    seen: list[ThroughputOptions] = []

    def plan_lines(**kwargs: Any) -> list[str]:
        seen.append(kwargs["throughput"])
        return []

    monkeypatch.setattr(api, "plan_lines", plan_lines)
    assert main(["plan", "--source-table", "t", *args]) == 0
    return seen[0].read_percent


def test_a_flag_equal_to_the_default_still_beats_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DDBMIGRATE_READ_PERCENT", "0.3")
    assert _planned_read_percent([], monkeypatch) == 0.3
    default = ThroughputOptions().read_percent
    assert _planned_read_percent(["--read-percent", str(default)], monkeypatch) == default


@pytest.mark.parametrize(
    ("flag", "said"),
    [("--workers", "--workers 0 must be at least 1"), ("--threads", "--threads 0 must be between")],
)
def test_run_refuses_a_bad_workers_or_threads_flag_before_any_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, said: str
) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "source: {region: us-east-1}\ndestination: {region: us-east-1}\n"
        f"staging: {tmp_path / 'staging'}\ntables: [t]\n",
        encoding="utf-8",
    )
    assert main(["run", str(pipeline), flag, "0", "--progress", "off"]) == 2
    assert said in capsys.readouterr().err
