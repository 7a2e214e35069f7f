"""Where and how an export's files are written: the native export layout (DYNAMODB_JSON or
ION) or the Data Pipeline backup layout, each with its manifests.

Native (FORMATS.md §1)::

    AWSDynamoDB/<export-id>/_started, ddbmigrate-table.json, data/<segment>-<part>.json.gz,
    manifest-files.json (+ .md5), manifest-summary.json (+ .md5, written last)

Data Pipeline (FORMATS.md §2), for teams whose downstream jobs still read it::

    <yyyy-MM-dd-HH-mm-ss>/<uuid>[.gz|.zst], manifest (version 3, written last), _SUCCESS

Part names are derived from the export id, segment and part number, so a resumed export
rewrites a part under the same name instead of leaving a stray one.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ddbmigrate.formats import codecs, datapipeline, native
from ddbmigrate.formats.compression import Compression, Compressor, suffix_for
from ddbmigrate.formats.detect import Format
from ddbmigrate.formats.tablefile import TABLE_FILE, table_file_bytes
from ddbmigrate.model import Item, PartInfo
from ddbmigrate.ports import Store, StoreWriter, TableSchema

# Fast levels: the export must keep up with DynamoDB; measured in docs/adr/0003.
DEFAULT_LEVELS: dict[str, int] = {"gzip": 1, "zstd": 3, "none": 0}


class PartWriterLike(Protocol):
    """Builds one data file as items arrive."""

    @property
    def item_count(self) -> int: ...

    @property
    def size(self) -> int:
        """Stored (compressed) bytes so far."""
        ...

    def add(self, item: Item) -> None: ...

    def add_many(self, items: list[Item]) -> None: ...

    def finish(self) -> tuple[int, str, int]:
        """Store the file; return (item count, base64 MD5 of the stored bytes, their size)."""
        ...

    def abort(self) -> None:
        """Drop what was written so far (the run stopped before the file was complete)."""
        ...


SPILL_BYTES = 1024 * 1024
"""Compressed bytes a data file holds in memory before they go on to the store."""


class DataFileWriter:
    """Encodes items into a streaming compressor whose output goes on to the store as it
    comes (``open_sink`` is called at the first spill), so a part is never held whole."""

    def __init__(
        self,
        encode: Callable[[Item], bytes],
        compression: Compression,
        level: int,
        open_sink: Callable[[], StoreWriter],
    ) -> None:
        self._encode = encode
        self._compressor = Compressor(compression, level=level)
        self._open_sink = open_sink
        self._sink: StoreWriter | None = None
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.item_count = 0

    def add(self, item: Item) -> None:
        self._compressor.write(self._encode(item))
        self.item_count += 1
        self._spill()

    @property
    def size(self) -> int:
        return self._compressor.size

    def add_many(self, items: list[Item]) -> None:
        """A page at once: one call into the compressor instead of one per item."""
        encode = self._encode
        self._compressor.write(b"".join([encode(item) for item in items]))
        self.item_count += len(items)
        self._spill()

    def finish(self) -> tuple[int, str, int]:
        self._send(self._compressor.finish())
        assert self._sink is not None  # _send opened it
        self._sink.commit()
        return self.item_count, base64.b64encode(self._md5.digest()).decode(), self.size

    def abort(self) -> None:
        if self._sink is not None:
            self._sink.abort()

    def _spill(self) -> None:
        if self._compressor.pending >= SPILL_BYTES:
            self._send(self._compressor.drain())

    def _send(self, data: bytes) -> None:
        if self._sink is None:
            self._sink = self._open_sink()
        self._md5.update(data)
        self._sink.write(data)


@dataclass(frozen=True, slots=True)
class Layout:
    """One export's folder, file names, writers and manifests."""

    format: Format
    compression: Compression
    level: int
    export_id: str
    folder: str
    started_iso: str

    @classmethod
    def for_format(
        cls,
        fmt: Format,
        *,
        compression: Compression,
        level: int | None,
        export_id: str,
        started_iso: str,
    ) -> Layout:
        if fmt == "datapipeline":
            # The template's folder name: the run's start time, yyyy-MM-dd-HH-mm-ss.
            folder = started_iso[:19].replace("T", "-").replace(":", "-")
        else:
            folder = f"{native.EXPORTS_DIR}/{export_id}"
        chosen = DEFAULT_LEVELS[compression] if level is None else level
        return cls(fmt, compression, chosen, export_id, folder, started_iso)

    @property
    def native(self) -> bool:
        return self.format != "datapipeline"

    def new_writer(self, store: Store, part_key: str) -> PartWriterLike:
        """A writer of the part ``part_key`` (see :meth:`part_key`), streaming into ``store``."""
        key = f"{self.folder}/{part_key}"
        return DataFileWriter(
            codecs.line_encoder(self.format),
            self.compression,
            self.level,
            lambda: store.open_write(key),
        )

    def part_key(self, segment: int, number: int) -> str:
        """Name of a part relative to the export folder."""
        if self.native:
            return f"data/{segment:06d}-{number:05d}{codecs.SUFFIXES[self.format]}" + suffix_for(
                self.compression
            )
        name = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.export_id}/{segment}/{number}")
        return f"{name}{suffix_for(self.compression)}"

    def start(self, store: Store, schema: TableSchema) -> None:
        if self.native:
            store.put(f"{self.folder}/{native.STARTED_MARKER}", b"")
            store.put(f"{self.folder}/{TABLE_FILE}", table_file_bytes(schema))

    def finish(
        self,
        store: Store,
        *,
        schema: TableSchema,
        parts: list[PartInfo],
        times: tuple[str, str],
    ) -> None:
        """Manifests last: their presence marks the export complete."""
        if self.native:
            write_native_manifests(
                store=store,
                export_dir=self.folder,
                export_id=self.export_id,
                schema=schema,
                parts=parts,
                times=times,
                output_format="ION" if self.format == "native-ion" else native.DYNAMODB_JSON,
            )
            return
        base = f"{store.root.rstrip('/')}/{self.folder}"
        if not base.startswith("s3://"):
            base = f"file://{base}"
        urls = [f"{base}/{p.key}" for p in parts]
        store.put(f"{self.folder}/{datapipeline.MANIFEST}", datapipeline.manifest_bytes(urls))
        store.put(f"{self.folder}/_SUCCESS", b"")


def write_native_manifests(
    *,
    store: Store,
    export_dir: str,
    export_id: str,
    schema: TableSchema,
    parts: list[PartInfo],
    times: tuple[str, str],
    output_format: str,
) -> None:
    """manifest-files.json, then manifest-summary.json (last: it marks the export complete)."""
    files = native.manifest_files(parts, data_key_prefix=_key_prefix(store, export_dir))
    store.put(f"{export_dir}/manifest-files.json", files)
    store.put(f"{export_dir}/manifest-files.md5", native.md5_b64(files).encode())
    table_arn = str(schema.description.get("TableArn", ""))
    summary = native.ExportSummary(
        export_arn=f"{table_arn}/export/{export_id}",
        start_time=times[0],
        end_time=times[1],
        export_time=times[0],
        table_arn=table_arn,
        table_id=str(schema.description.get("TableId", "")),
        s3_bucket=_bucket(store),
        s3_prefix=_store_prefix(store),
        manifest_files_s3_key=f"{_key_prefix(store, export_dir)}/manifest-files.json",
        billed_size_bytes=sum(p.size for p in parts),
        item_count=sum(p.item_count for p in parts),
        output_format=output_format,
        # The bytes start() wrote in this process (never read back: an edit meanwhile
        # would be vouched for).
        table_file_md5=native.md5_b64(table_file_bytes(schema)),
    )
    data = summary.to_json()
    store.put(f"{export_dir}/manifest-summary.md5", native.md5_b64(data).encode())
    store.put(f"{export_dir}/manifest-summary.json", data)


def _bucket(store: Store) -> str | None:
    root = store.root
    return root[5:].split("/", 1)[0] if root.startswith("s3://") else None


def _store_prefix(store: Store) -> str:
    root = store.root
    if root.startswith("s3://"):
        rest = root[5:].split("/", 1)
        return rest[1].strip("/") if len(rest) > 1 else ""
    return root


def _key_prefix(store: Store, export_dir: str) -> str:
    """Keys in manifests are written from the bucket root, as AWS writes them."""
    prefix = _store_prefix(store) if store.root.startswith("s3://") else ""
    return f"{prefix}/{export_dir}" if prefix else export_dir
