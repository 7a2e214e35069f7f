"""Compression of data files: gzip, zstd or none, chosen on write and detected on read.

AWS's ExportTableToPointInTime writes gzip; ImportTable also takes zstd and uncompressed
files; Data Pipeline backups are usually uncompressed. Readers therefore never trust a file
name: ``decompress`` looks at the first bytes. A truncated or damaged stream is an error,
never a shorter file, because a shorter file would silently lose its last items.
"""

from __future__ import annotations

import gzip
import io
import itertools
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import zstandard

from ddbmigrate.errors import ConfigError, CorruptDataError

Compression = Literal["gzip", "zstd", "none"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# gzip level 1: see native.DEFAULT_GZIP_LEVEL (compression must not become the bottleneck of
# an export). zstd level 3 is zstd's own default and already faster than gzip level 1.
DEFAULT_LEVELS: dict[Compression, int] = {"gzip": 1, "zstd": 3, "none": 0}

_SUFFIXES: dict[Compression, str] = {"gzip": ".gz", "zstd": ".zst", "none": ""}


LEVELS: dict[Compression, tuple[int, int]] = {"gzip": (1, 9), "zstd": (1, 22), "none": (0, 0)}


def check_level(kind: Compression, level: int | None) -> None:
    """Refuse a level the compressor does not have, naming its range."""
    if level is None:
        return
    low, high = LEVELS[kind]
    if kind == "none":
        raise ConfigError("--compression-level needs --compression gzip or zstd")
    if not low <= level <= high:
        raise ConfigError(f"--compression-level {level} is outside {low}-{high} for {kind}")


def suffix_for(kind: Compression) -> str:
    """File name suffix for ``kind``: ``.gz``, ``.zst`` or ``""``."""
    return _SUFFIXES[kind]


def detect(data: bytes) -> Compression:
    """The compression of ``data`` judged by its magic bytes; anything else is ``none``."""
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    if data.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def compress(data: bytes, kind: Compression, level: int | None = None) -> bytes:
    """``data`` compressed as ``kind`` (deterministic: the same input gives the same bytes)."""
    writer = Compressor(kind, level=level)
    writer.write(data)
    return writer.finish()


class Compressor:
    """A streaming compressor for a part writer: ``write()`` chunks, then ``finish()``.

    gzip output has mtime 0 and no file name, so it is byte-identical to what
    ``native.PartWriter`` writes and an MD5 of it is stable across runs.
    """

    def __init__(self, kind: Compression, *, level: int | None = None) -> None:
        if kind not in _SUFFIXES:
            raise ValueError(f"unknown compression {kind!r} (expected gzip, zstd or none)")
        self.kind: Compression = kind
        self.suffix = suffix_for(kind)
        """File name suffix for this compression."""
        self._level = DEFAULT_LEVELS[kind] if level is None else level
        self._buffer = io.BytesIO()
        self._gzip: gzip.GzipFile | None = None
        self._zstd: zstandard.ZstdCompressionObj | None = None
        if kind == "gzip":
            self._gzip = gzip.GzipFile(
                fileobj=self._buffer, mode="wb", compresslevel=self._level, mtime=0
            )
        elif kind == "zstd":
            self._zstd = zstandard.ZstdCompressor(level=self._level).compressobj()
        self._result: bytes | None = None
        self._drained = 0

    def write(self, data: bytes) -> None:
        """Compress and buffer ``data``."""
        if self._result is not None:
            raise RuntimeError("Compressor.write() after finish()")
        if self._gzip is not None:
            self._gzip.write(data)
        elif self._zstd is not None:
            self._buffer.write(self._zstd.compress(data))
        else:
            self._buffer.write(data)

    @property
    def size(self) -> int:
        """Compressed bytes so far, drained or not (what a part's size cap counts)."""
        pending = len(self._result) if self._result is not None else self._buffer.tell()
        return self._drained + pending

    @property
    def pending(self) -> int:
        """Compressed bytes produced and not drained yet."""
        return self._buffer.tell()

    def drain(self) -> bytes:
        """The compressed bytes produced since the last drain, handed over and forgotten:
        a streaming writer passes them on, so a part is never held whole."""
        data = self._buffer.getvalue()
        # The gzip stream writes on sequentially; it never seeks back into its file.
        self._buffer.seek(0)
        self._buffer.truncate()
        self._drained += len(data)
        return data

    def finish(self) -> bytes:
        """End the stream and return the compressed bytes not drained yet (all of them
        when ``drain`` was never called). Idempotent."""
        if self._result is None:
            if self._gzip is not None:
                self._gzip.close()  # writes the trailer; leaves the BytesIO open
            elif self._zstd is not None:
                self._buffer.write(self._zstd.flush())
            self._result = self._buffer.getvalue()
            self._buffer.close()  # the bytes live on in the result only
        return self._result


CHUNK = 1 << 20
"""Bytes of plain output per chunk when decompressing as a stream."""
_STEP = 64 * 1024
# zstd can expand a 4-byte block to 128 KiB and its decompressobj has no output cap, so it is
# fed in small steps: a step's output stays under ~32 MiB whatever the input.
_ZSTD_STEP = 1024

MAX_RATIO = 250
"""Plain bytes per compressed byte above which a file is refused as a decompression bomb.
Real DynamoDB items compress 5-20x; gzip's own ceiling is about 1,030x."""
RATIO_FLOOR = 64 * 1024 * 1024
"""Plain bytes a file may reach at any ratio: a small, very compressible file is harmless."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """When decompression stops: a compressed file that inflates past ``max_ratio`` once it
    has produced more than ``floor`` plain bytes is refused (CorruptDataError)."""

    max_ratio: float = MAX_RATIO
    """Plain bytes per compressed byte read so far."""
    floor: int = RATIO_FLOOR
    """Plain bytes allowed at any ratio."""


@dataclass(slots=True)
class _Meter:
    name: str
    limits: Limits
    fed: int = 0
    produced: int = 0

    def out(self, data: bytes) -> bytes:
        self.produced += len(data)
        limits = self.limits
        if self.produced > limits.floor and self.produced > limits.max_ratio * self.fed:
            raise CorruptDataError(
                f"{self.name}: decompresses to over {limits.max_ratio:g} times its compressed "
                f"size ({self.produced} bytes from {self.fed}); refused as a decompression "
                "bomb, nothing of it is written",
                hint="a real export is never this compressible: check where the file came from",
            )
        return data


def decompressed_chunks(
    data: bytes | Iterable[bytes], *, name: str, limits: Limits | None = None
) -> Iterator[bytes]:
    """The plain bytes of ``data`` (bytes, or compressed chunks as read from a file) in
    chunks of at most about :data:`CHUNK`, so a large file is never held decompressed whole.
    CorruptDataError where the stream turns out truncated or damaged, or inflates past
    ``limits`` (a decompression bomb): callers that must not act on a damaged file check it
    first (:func:`verify`)."""
    chunks = _pieces(data) if isinstance(data, bytes | bytearray) else iter(data)
    head = b""
    for piece in chunks:  # enough bytes to see the magic
        head += piece
        if len(head) >= len(ZSTD_MAGIC):
            break
    stream = itertools.chain([head], chunks)
    kind = detect(head)
    meter = _Meter(name, limits or Limits())
    if kind == "gzip":
        return _gunzip_chunks(stream, name, meter)
    if kind == "zstd":
        return _unzstd_chunks(stream, name, meter)
    return (piece for piece in stream if piece)


def read_chunks(file: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    """A file's bytes in chunks of ``size``."""
    return iter(lambda: file.read(size), b"")


def verify(data: bytes | Iterable[bytes], *, name: str, limits: Limits | None = None) -> None:
    """Decompress ``data`` to the end without keeping it: CorruptDataError if it is damaged."""
    for _ in decompressed_chunks(data, name=name, limits=limits):
        pass


def _pieces(data: bytes | bytearray, step: int = _STEP) -> Iterator[bytes]:
    # Input goes to the decompressors in small steps: each output chunk stays small, and
    # zlib's unconsumed_tail (a copy of the input left over) stays small too.
    view = memoryview(data)
    return (bytes(view[i : i + step]) for i in range(0, len(data), step))


def _small(chunks: Iterator[bytes], meter: _Meter, step: int = _STEP) -> Iterator[bytes]:
    for chunk in chunks:
        for piece in (chunk,) if len(chunk) <= step else _pieces(chunk, step):
            meter.fed += len(piece)
            yield piece


def _gunzip_chunks(chunks: Iterator[bytes], name: str, meter: _Meter) -> Iterator[bytes]:
    member: Any = None  # zlib's Decompress type is not exported
    try:
        for piece in _small(chunks, meter):
            pending = piece
            while pending:
                if member is None:
                    if not pending.startswith(GZIP_MAGIC[: len(pending)]):
                        raise CorruptDataError(
                            f"{name}: truncated or damaged gzip data: bytes after the last member"
                        )
                    member = zlib.decompressobj(16 + zlib.MAX_WBITS)
                # max_length: 64 KiB of input can inflate to 64 MiB; never more than a CHUNK
                # at once, the rest of the input waits in unconsumed_tail.
                out = member.decompress(pending, CHUNK)
                if out:
                    yield meter.out(out)
                if member.eof:
                    pending = member.unused_data
                    member = None
                else:
                    pending = member.unconsumed_tail
        if member is not None:
            out = member.flush()
            if out:
                yield meter.out(out)
            if not member.eof:
                raise CorruptDataError(
                    f"{name}: truncated or damaged gzip data: Compressed file ended before "
                    "the end-of-stream marker was reached"
                )
    except zlib.error as exc:
        raise CorruptDataError(f"{name}: truncated or damaged gzip data: {exc}") from exc


def _unzstd_chunks(chunks: Iterator[bytes], name: str, meter: _Meter) -> Iterator[bytes]:
    frame: Any = None
    try:
        for piece in _small(chunks, meter, _ZSTD_STEP):
            pending = piece
            while pending:
                # One decompressobj per frame: it reports ``eof`` only when its frame is
                # complete, which tells a truncated last frame from a whole one.
                if frame is None:
                    frame = zstandard.ZstdDecompressor().decompressobj()
                out = frame.decompress(pending)
                if out:
                    yield meter.out(out)
                pending = frame.unused_data if frame.eof else b""
                if frame.eof:
                    frame = None
        if frame is not None:
            raise CorruptDataError(
                f"{name}: truncated or damaged zstd data: the last frame is incomplete"
            )
    except zstandard.ZstdError as exc:
        raise CorruptDataError(f"{name}: truncated or damaged zstd data: {exc}") from exc


def decompress(data: bytes, *, name: str) -> bytes:
    """The plain bytes of ``data``, whatever its compression (detected by magic bytes).

    ``name`` is the file's name, for the error. Concatenated gzip members and zstd frames are
    read to the end. CorruptDataError when the stream is truncated or damaged.
    """
    return b"".join(decompressed_chunks(data, name=name))
