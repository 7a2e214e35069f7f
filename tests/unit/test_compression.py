"""formats/compression.py: gzip, zstd and none; detection by magic bytes; damage is an error."""

from __future__ import annotations

import gzip
import itertools

import pytest
import zstandard
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.formats import compression, native
from ddbmigrate.formats.compression import Compression, Compressor, compress, decompress

KINDS: list[Compression] = ["gzip", "zstd", "none"]
DATA = b'{"Item":{"a":{"S":"x"}}}\n' * 1000


@settings(max_examples=40)
@given(data=st.binary(max_size=4096), kind=st.sampled_from(KINDS))
def test_round_trip(data: bytes, kind: Compression) -> None:
    # Plain data is recognised by not starting with a magic number; UTF-8 text never does
    # (both magics have a continuation byte where a character must start).
    assume(kind != "none" or compression.detect(data) == "none")
    assert decompress(compress(data, kind), name="f") == data


@pytest.mark.parametrize(
    ("kind", "magic", "suffix"),
    [("gzip", b"\x1f\x8b", ".gz"), ("zstd", b"\x28\xb5\x2f\xfd", ".zst"), ("none", b"{", "")],
)
def test_magic_bytes_and_suffix(kind: Compression, magic: bytes, suffix: str) -> None:
    data = compress(DATA, kind)
    assert data.startswith(magic)
    assert compression.detect(data) == kind
    assert compression.suffix_for(kind) == suffix
    assert Compressor(kind).suffix == suffix


def test_plain_data_is_returned_as_is() -> None:
    assert decompress(b"$ion_1_0 {Item:{}}\n", name="f") == b"$ion_1_0 {Item:{}}\n"
    assert decompress(b"", name="f") == b""


@pytest.mark.parametrize("kind", KINDS)
def test_streaming_equals_one_shot_and_is_deterministic(kind: Compression) -> None:
    writer = Compressor(kind, level=3)
    for start in range(0, len(DATA), 777):
        writer.write(DATA[start : start + 777])
    data = writer.finish()
    assert data == writer.finish()  # idempotent
    assert decompress(data, name="f") == DATA
    assert compress(DATA, kind) == compress(DATA, kind)
    with pytest.raises(RuntimeError):
        writer.write(b"more")


def test_gzip_matches_the_native_part_writer_byte_for_byte() -> None:
    part = native.PartWriter()
    part.add({"a": {"S": "x"}})
    data, _, _ = part.finish()
    assert compress(b'{"Item":{"a":{"S":"x"}}}\n', "gzip") == data


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown compression"):
        Compressor("lz4")  # type: ignore[arg-type]


def test_concatenated_members_and_frames_are_read_to_the_end() -> None:
    assert decompress(gzip.compress(b"a\n") + gzip.compress(b"b\n"), name="f") == b"a\nb\n"
    frames = zstandard.ZstdCompressor().compress(b"a\n") + compress(b"b\n", "zstd")
    assert decompress(frames, name="f") == b"a\nb\n"


@pytest.mark.parametrize("cut", [1, 8, 100])
def test_truncated_gzip_is_an_error_never_partial_items(cut: int) -> None:
    data = compress(DATA, "gzip")[:-cut]
    with pytest.raises(
        CorruptDataError, match=r"^part\.json\.gz: truncated or damaged gzip data: "
    ):
        decompress(data, name="part.json.gz")


def test_damaged_gzip_is_an_error() -> None:
    data = bytearray(compress(DATA, "gzip", level=9))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(CorruptDataError, match="truncated or damaged gzip data"):
        decompress(bytes(data), name="x.gz")


@pytest.mark.parametrize("data", [compress(DATA, "zstd")[:-5], b"\x28\xb5\x2f\xfd junk"])
def test_truncated_or_damaged_zstd_is_an_error(data: bytes) -> None:
    with pytest.raises(CorruptDataError, match=r"^x\.zst: truncated or damaged zstd data"):
        decompress(data, name="x.zst")


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=60)
@given(
    data=st.binary(min_size=1, max_size=200_000),
    kind=st.sampled_from(KINDS),
    members=st.integers(1, 3),
    cuts=st.lists(st.integers(0, 10**9), max_size=6),
)
def test_streamed_decompression_equals_whole_whatever_the_chunks(
    data: bytes, kind: Compression, members: int, cuts: list[int]
) -> None:
    assume(kind != "none" or compression.detect(data) == "none")
    # Concatenated gzip members and zstd frames, as several writers would append them.
    stored = b"".join(compress(data, kind) for _ in range(members)) if kind != "none" else data
    whole = decompress(stored, name="f")
    streamed = b"".join(compression.decompressed_chunks(_split(stored, cuts), name="f"))
    assert streamed == whole
    assert b"".join(compression.decompressed_chunks(stored, name="f")) == whole


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_truncated_stream_fails_at_its_end_never_shortens_quietly(kind: Compression) -> None:
    stored = compress(DATA * 50, kind)
    with pytest.raises(CorruptDataError, match="truncated"):
        b"".join(compression.decompressed_chunks([stored[:-9]], name="f"))
    with pytest.raises(CorruptDataError, match="truncated"):
        compression.verify(stored[: len(stored) // 2], name="f")


def test_bytes_after_the_last_gzip_member_are_damage() -> None:
    with pytest.raises(CorruptDataError, match="bytes after the last member"):
        compression.verify([compress(DATA, "gzip"), b"garbage"], name="f")


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
def test_drained_output_joined_is_the_whole_stream(kind: Compression) -> None:
    writer = Compressor(kind, level=1)
    pieces: list[bytes] = []
    for _ in range(20):
        writer.write(DATA)
        pieces.append(writer.drain())
    pieces.append(writer.finish())
    assert writer.size == len(b"".join(pieces))
    assert decompress(b"".join(pieces), name="f") == DATA * 20
