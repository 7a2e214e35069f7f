"""Untrusted data files: the shape check on MD5-verified lines, the linear line splitter and
its cap, decompression caps, and the per-item isolation of a batch DynamoDB refuses.

Nothing here times anything: linearity is shown by counting the bytes the splitter copies,
boundedness by how much of an endless line it reads before it stops.
"""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import zstandard

from ddbmigrate import items
from ddbmigrate.errors import CorruptDataError, TransientError
from ddbmigrate.formats import codecs, compression, native
from ddbmigrate.formats.detect import detect
from ddbmigrate.importer import ImportOptions, import_source
from ddbmigrate.model import Item, KeyAttribute, KeySchema
from ddbmigrate.ports import WriteRequest, WriteResult
from ddbmigrate.retry import RetryPolicy
from ddbmigrate.runs import RejectLog, RejectsError
from ddbmigrate.testing import FakeClock, MemoryStore

KEY = KeySchema(KeyAttribute("name", "S"), None)
MiB = 1024 * 1024

# --- the shape check ----------------------------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    """A value with ``levels`` levels of M (the attribute's own map counts as 1)."""
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"a": value}}
    return value


HOSTILE = {
    "nested 200 levels": nested(200),
    "nested 33 levels": nested(items.MAX_DEPTH + 1),
    "S holding a number": {"S": 123},
    "S holding a list": {"S": ["a"]},
    "N holding a number": {"N": 1},
    "B holding null": {"B": None},
    "empty set": {"SS": []},
    "set of numbers": {"NS": [1, 2]},
    "BOOL as text": {"BOOL": "true"},
    "NULL false": {"NULL": False},
    "M holding a list": {"M": []},
    "L holding a map": {"L": {}},
    "two type keys": {"S": "a", "N": "1"},
    "no type key": {},
    "unknown type key": {"X": "1"},
    "bare text": "plain",
    "deep list": {"L": [{"L": [{"S": 1}]}]},
}


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_an_md5_verified_line_still_gets_the_shape_check(value: Any) -> None:
    """The trusted decoder used to return these as they were: the deep one then failed to
    encode (a traceback), the others stopped the run at DynamoDB."""
    line = _line({"name": {"S": "x"}, "v": value})
    with pytest.raises(CorruptDataError, match=r"attribute 'v"):
        native.decode_trusted_line(line)


def _line(item: dict[str, Any]) -> bytes:
    # orjson refuses to encode past 254 levels; the json module writes what a hostile file
    # would hold.
    return json.dumps({"Item": item}).encode()


def test_the_shape_check_accepts_every_type_up_to_dynamodbs_depth() -> None:
    item = {
        "name": {"S": "x"},
        "n": {"N": "1.5"},
        "b": {"B": "AAE="},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1"]},
        "bs": {"BS": ["AAE="]},
        "t": {"BOOL": False},
        "z": {"NULL": True},
        "l": {"L": [{"S": "a"}, {"M": {}}]},
        "deep": nested(items.MAX_DEPTH),
    }
    items.check_shape(item)
    assert native.decode_trusted_line(_line(item)) == item


def test_a_deep_item_is_named_not_a_recursion_error() -> None:
    with pytest.raises(CorruptDataError, match=r"is nested more than 32 levels deep"):
        native.decode_trusted_line(_line({"name": {"S": "x"}, "v": nested(200)}))


# --- the line splitter ----------------------------------------------------------------------


class Counted(bytes):
    """A chunk that counts the bytes copied when it is concatenated (``a + chunk``)."""

    copied = 0

    def __add__(self, other: bytes) -> bytes:  # type: ignore[override]
        Counted.copied += len(self) + len(other)
        return bytes(self) + bytes(other)

    def __radd__(self, other: bytes) -> bytes:
        Counted.copied += len(self) + len(other)
        return bytes(other) + bytes(self)


def test_a_line_spanning_many_chunks_is_split_in_linear_time() -> None:
    """One 8 MiB line in 2,048 chunks of 4 KiB: ``pending + chunk`` copied the line so far
    once per chunk (~8 GiB in all); the splitter copies each byte a bounded number of times."""
    Counted.copied = 0
    piece = b"x" * 4096
    chunks = [Counted(piece) for _ in range(2048)] + [Counted(b"\n{}\n")]
    total = sum(map(len, chunks))

    lines = list(codecs.stream_lines(chunks, "datapipeline", max_line=16 * MiB))

    assert [len(line) for _, line in lines] == [2048 * 4096, 2]
    assert [number for number, _ in lines] == [1, 2]
    assert Counted.copied <= 2 * total  # quadratic would be ~1,000 times this


def endless_line(reads: list[int]) -> Iterator[bytes]:
    """``{"Item":`` and then ``x`` forever, in 64 KiB chunks; counts the chunks read and
    refuses to go on past 64 MiB (the test's own guard against an endless loop)."""
    yield b'{"Item":{"a":{"S":"'
    for _ in itertools.count():
        reads.append(1)
        assert len(reads) < 1024, "read 64 MiB of one line without stopping"
        yield b"x" * 65536


def test_a_line_over_the_cap_stops_the_file_as_soon_as_it_passes_it() -> None:
    reads: list[int] = []
    good = [b'{"Item":{"a":{"S":"1"}}}\n']
    with pytest.raises(CorruptDataError, match=r"^line 2 is longer than 4194304 bytes"):
        list(codecs.stream_lines(itertools.chain(good, endless_line(reads)), "native-json"))
    assert len(reads) <= 4 * MiB // 65536 + 1  # it stopped at the cap, not at the end


def test_a_line_at_the_cap_is_kept_and_one_byte_more_is_refused() -> None:
    cap = 1000
    at_cap = [b"a" * 500, b"a" * 500 + b"\nnext\n"]
    assert [len(line) for line in codecs.split_lines(at_cap, max_line=cap)] == [1000, 4, 0]
    with pytest.raises(CorruptDataError, match="line 1 is longer than 1000 bytes"):
        list(codecs.split_lines([b"a" * 500, b"a" * 501 + b"\n"], max_line=cap))
    with pytest.raises(CorruptDataError, match="line 3 is longer than 1000 bytes"):
        list(codecs.split_lines([b"a\nb\n" + b"c" * 1001 + b"\n"], max_line=cap))
    # Whatever the chunking, the lines are those of the whole text.
    text = b'{"a":1}\n\n  \r\n{"b":2}\r\nlast-without-newline'
    for size in (1, 3, 7, 64, 4096):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert list(codecs.split_lines(chunks, max_line=cap)) == text.split(b"\n")


# --- decompression caps -------------------------------------------------------------------


def gzip_of_zeros(size: int) -> Iterator[bytes]:
    """A gzip stream of ``size`` zero bytes, made in pieces (never held plain)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    for _ in range(size // MiB):
        yield packer.compress(block)
    yield packer.flush()


def test_a_gzip_bomb_stops_at_the_ratio_cap_in_bounded_chunks() -> None:
    bomb = b"".join(gzip_of_zeros(80 * MiB))  # ~80 KiB: a ratio of about 1,000
    sizes: list[int] = []
    chunks = compression.decompressed_chunks(bomb, name="part.json.gz")
    with pytest.raises(CorruptDataError, match="refused as a decompression bomb") as info:
        sizes.extend(map(len, chunks))
    assert info.value.message.startswith("part.json.gz: decompresses to over 250 times")
    assert max(sizes) <= compression.CHUNK  # never more than a chunk at once, however compressible
    assert sum(sizes) <= 64 * MiB + compression.CHUNK  # stopped right past the floor


def test_a_zstd_bomb_stops_at_the_ratio_cap() -> None:
    bomb = zstandard.ZstdCompressor().compress(bytes(16 * MiB))
    sizes: list[int] = []
    chunks = compression.decompressed_chunks(
        bomb, name="part.json.zst", limits=compression.Limits(floor=MiB)
    )
    with pytest.raises(CorruptDataError, match="refused as a decompression bomb"):
        sizes.extend(map(len, chunks))
    assert sum(sizes) <= 40 * MiB


def test_ordinary_compressed_data_is_not_a_bomb() -> None:
    lines = b"".join(
        orjson.dumps({"Item": {"name": {"S": f"n{i}"}, "v": {"N": str(i)}}}) + b"\n"
        for i in range(2000)
    )
    low = compression.Limits(floor=0)  # the ratio alone decides
    assert (
        b"".join(compression.decompressed_chunks(gzip.compress(lines), name="a", limits=low))
        == lines
    )
    zstd = zstandard.ZstdCompressor().compress(lines)
    assert b"".join(compression.decompressed_chunks(zstd, name="a", limits=low)) == lines


# --- a batch DynamoDB refuses because of one item -----------------------------------------


@dataclass
class PoisonTable:
    """A table that answers a server error (TransientError) to every request holding an
    item named ``poison*`` and, when ``down_after`` is set, to every request after that many
    successful ones (an outage)."""

    table_name: str = "dest"
    items: dict[str, Item] = field(default_factory=dict)
    down_after: int | None = None
    ok_calls: int = 0
    calls: int = 0

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        self.calls += 1
        names = [r["PutRequest"]["Item"]["name"]["S"] for r in requests]
        if self.down_after is not None and self.ok_calls >= self.down_after:
            raise TransientError("dest: BatchWriteItem failed: HTTP500: outage")
        if any(n.startswith("poison") for n in names):
            raise TransientError("dest: BatchWriteItem failed: InternalServerError: boom")
        self.ok_calls += 1
        for request in requests:
            item = request["PutRequest"]["Item"]
            self.items[item["name"]["S"]] = item
        return WriteResult(consumed=float(len(requests)))


def data_file(names: list[str]) -> MemoryStore:
    store = MemoryStore()
    body = b"".join(native.encode_item_line({"name": {"S": n}}) for n in names)
    store.put("part.json", body)
    return store


def run(store: MemoryStore, table: PoisonTable, *, max_rejects: int = 5) -> RejectLog:
    rejects = RejectLog(store, "ddbmigrate/runs/t", max_rejects=max_rejects)
    import_source(
        store=store,
        plan=detect(store, single_file="part.json"),
        writer=table,
        key=KEY,
        options=ImportOptions(workers=1, retry=RetryPolicy(max_attempts=3)),
        rejects=rejects,
        clock=FakeClock(),
    )
    return rejects


def test_an_item_that_draws_a_server_error_alone_is_rejected_and_the_rest_written() -> None:
    names = [f"good-{i:02d}" for i in range(40)]
    names[29] = "poison-30"
    store = data_file(names)
    table = PoisonTable()

    with pytest.raises(RejectsError, match=r"part.json line 30: DynamoDB answered this item"):
        run(store, table)

    assert sorted(table.items) == sorted(n for n in names if n != "poison-30")
    recorded = store.get("ddbmigrate/runs/t/rejects/rejects.jsonl").splitlines()
    assert [(orjson.loads(r)["file"], orjson.loads(r)["line"]) for r in recorded] == [
        ("part.json", 30)
    ]


def test_an_outage_is_transient_and_rejects_nothing() -> None:
    """A server error for every request is DynamoDB's, not an item's: the run stops as
    transient after the batch and at most three items alone."""
    store = data_file([f"good-{i:02d}" for i in range(40)])
    table = PoisonTable(down_after=0)

    with pytest.raises(TransientError, match="outage"):
        run(store, table)

    assert not store.exists("ddbmigrate/runs/t/rejects/rejects.jsonl")
    assert table.calls <= 3 + 3 * 3  # 3 attempts each

    # The batch fails on its poison item; alone, the first items go through, then DynamoDB
    # goes down: the items that failed alone are not blamed, since the re-sent good one
    # fails too.
    names = [f"good-{i:02d}" for i in range(25)]
    names[0] = "poison-1"
    store = data_file(names)
    table = PoisonTable(down_after=5)

    with pytest.raises(TransientError, match="outage"):
        run(store, table)

    assert not store.exists("ddbmigrate/runs/t/rejects/rejects.jsonl")
    assert len(table.items) == 5
