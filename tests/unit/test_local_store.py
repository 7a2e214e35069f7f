"""stores/local.py: atomic, durable files below a directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ddbmigrate.errors import NotFoundError, StagingError
from ddbmigrate.ports import Store
from ddbmigrate.stores import LocalStore


def test_put_get_exists_delete(tmp_path: Path) -> None:
    store: Store = LocalStore(str(tmp_path))
    store.put("runs/r1/state.json", b"{}")
    assert store.get("runs/r1/state.json") == b"{}"
    assert (tmp_path / "runs" / "r1" / "state.json").read_bytes() == b"{}"
    assert store.exists("runs/r1/state.json")
    assert not store.exists("runs/r1")
    store.delete("runs/r1/state.json")
    store.delete("runs/r1/state.json")  # absent is fine
    assert not store.exists("runs/r1/state.json")


def test_put_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    store.put("a.json", b"old")
    store.put("a.json", b"new")
    assert store.get("a.json") == b"new"
    assert os.listdir(tmp_path) == ["a.json"]


def test_get_missing_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=str(tmp_path / "nope" / "x")):
        LocalStore(str(tmp_path)).get("nope/x")


def test_list_is_recursive_sorted_and_relative(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    for key in ["b/2", "a/x/1", "a/1", "a/10", "ab", "c"]:
        store.put(key, b".")
    (tmp_path / "a" / ".tmp-1.abc").write_bytes(b"crash leftover")
    assert list(store.list("")) == ["a/1", "a/10", "a/x/1", "ab", "b/2", "c"]
    assert list(store.list("a/")) == ["a/1", "a/10", "a/x/1"]
    assert list(store.list("a")) == ["a/1", "a/10", "a/x/1", "ab"]  # a string prefix, like S3
    assert list(store.list("a/1")) == ["a/1", "a/10"]
    assert list(store.list("missing/")) == []


def test_root_accepts_file_urls(tmp_path: Path) -> None:
    assert LocalStore(f"file://{tmp_path}").root == str(tmp_path.resolve())


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/etc/passwd"])
def test_keys_cannot_leave_the_directory(tmp_path: Path, key: str) -> None:
    with pytest.raises(StagingError, match="outside the staging directory"):
        LocalStore(str(tmp_path)).put(key, b"x")


def test_a_file_in_the_way_is_a_staging_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StagingError, match="cannot write"):
        LocalStore(str(tmp_path / "file")).put("x", b"x")


def test_get_of_a_directory_is_not_found(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    store.put("d/x", b"x")
    with pytest.raises(NotFoundError):
        store.get("d")


def test_unreadable_file_is_a_staging_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(str(tmp_path))
    store.put("x", b"x")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(StagingError, match=r"cannot read .*x: Permission denied"):
        store.get("x")


def test_failed_rename_leaves_the_old_object_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(str(tmp_path))
    store.put("x", b"old")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StagingError, match="cannot write"):
        store.put("x", b"new")
    monkeypatch.undo()
    assert store.get("x") == b"old"
    assert os.listdir(tmp_path) == ["x"]


def test_a_streamed_write_is_invisible_until_commit(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    writer = store.open_write("exports/data/000000-00000.json.gz")
    writer.write(b"part ")
    writer.write(b"one")
    assert not store.exists("exports/data/000000-00000.json.gz")
    assert list(store.list("exports/")) == []  # the temporary file is never listed
    writer.commit()
    assert store.get("exports/data/000000-00000.json.gz") == b"part one"
    with store.open_read("exports/data/000000-00000.json.gz") as file:
        assert file.read(4) == b"part"


def test_an_aborted_write_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    writer = store.open_write("x/y.bin")
    writer.write(b"half")
    writer.abort()
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == []


def test_open_read_of_an_absent_key_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        LocalStore(str(tmp_path)).open_read("nope.json")


def test_a_symlink_out_of_the_staging_directory_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "staging", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.json").write_bytes(b"not yours")
    (root / "ddbmigrate").symlink_to(outside, target_is_directory=True)
    (root / "link.json").symlink_to(outside / "secret.json")
    store = LocalStore(str(root))
    refused = "resolves to .*elsewhere.*, outside the staging directory"

    with pytest.raises(StagingError, match=f"staging key 'ddbmigrate/secret.json' {refused}"):
        store.get("ddbmigrate/secret.json")
    with pytest.raises(StagingError, match=f"staging key 'link.json' {refused}"):
        store.get("link.json")
    for write in (store.put, store.put_if_absent):
        with pytest.raises(StagingError, match=re.escape("staging key 'ddbmigrate/runs/x.json'")):
            write("ddbmigrate/runs/x.json", b"{}")
    with pytest.raises(StagingError, match=re.escape("staging key 'link.json'")):
        store.put("link.json", b"overwritten")
    with pytest.raises(StagingError, match=re.escape("staging key 'ddbmigrate/secret.json'")):
        store.open_read("ddbmigrate/secret.json")
    with pytest.raises(StagingError, match=re.escape("staging key 'ddbmigrate/runs'")):
        list(store.list("ddbmigrate/runs/"))
    assert "secret.json" not in " ".join(store.list(""))  # a linked folder is not walked
    assert sorted(os.listdir(outside)) == ["secret.json"]
    assert (outside / "secret.json").read_bytes() == b"not yours"


def test_a_symlink_that_stays_inside_the_staging_directory_is_followed(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    store.put("real/a.json", b"{}")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert store.get("alias/a.json") == b"{}"
