"""What is at SOURCE? A native export, the prefix above exports, a Data Pipeline backup of
either generation, or a single data file. The answer is a :class:`SourcePlan` that the
importer follows file by file; it is printed before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ddbmigrate.errors import ConfigError, CorruptDataError, NotFoundError
from ddbmigrate.formats import compression, datapipeline, native
from ddbmigrate.formats.tablefile import TABLE_FILE, parse_table_file
from ddbmigrate.ports import Store, TableSchema

Format = Literal["native-json", "native-ion", "datapipeline", "datapipeline-hive"]
FORMATS: tuple[Format, ...] = ("native-json", "native-ion", "datapipeline", "datapipeline-hive")
SNIFF_READ = 1024 * 1024
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One data file to read, with what the manifests promise about it (when they do)."""

    key: str
    """Relative to the store root."""
    item_count: int | None = None
    md5: str | None = None


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """Everything the importer needs to read SOURCE."""

    kind: str
    """Human name: 'native export', 'Data Pipeline backup (manifest)', ..."""
    format: Format
    folder: str
    """The export or backup folder relative to the store root ('' for the root)."""
    files: list[SourceFile]
    total_items: int | None = None
    incremental: bool = False
    schema: TableSchema | None = None
    """From ddbmigrate-table.json when the export was made by ddbmigrate."""
    schema_checked: bool = False
    """The manifests' checksum covers ddbmigrate-table.json (and it matched)."""
    stray: list[str] = field(default_factory=list)
    """Files in a Data Pipeline folder that its manifest does not list (ignored)."""

    def describe(self, root: str) -> str:
        where = f"{root.rstrip('/')}/{self.folder}".rstrip("/")
        items = f", {self.total_items:,} items" if self.total_items is not None else ""
        kind = f"incremental {self.kind}" if self.incremental else self.kind
        return f"{kind} ({self.format}) at {where}: {len(self.files):,} data files{items}"


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def detect(
    store: Store,
    *,
    export_id: str | None = None,
    format: str | None = None,
    single_file: str | None = None,
    folder: str | None = None,
) -> SourcePlan:
    """Find out what ``store`` (or ``single_file``, or the export ``folder``) holds."""
    forced = _checked_format(format)
    if single_file is not None:
        return _single_file(store, single_file, forced)
    if folder is not None:
        return _export_folder(store, folder, forced)
    return _anything(store, export_id, forced)


def _anything(store: Store, export_id: str | None, forced: Format | None) -> SourcePlan:
    """What a SOURCE holds, in the order of docs/adr/0011-format-detection.md."""
    if export_id is None and store.exists(native.MANIFEST_SUMMARY):
        return _native(store, "", forced)
    exports = _complete_exports(store)
    if export_id is not None or exports:
        return _native(store, _pick_export(store, exports, export_id), forced)
    if store.exists(datapipeline.MANIFEST):
        return _datapipeline(store, "", forced)
    backups = _backup_folders(store)
    if backups:
        # The template wrote <output>/<yyyy-MM-dd-HH-mm-ss>/: the newest sorts last.
        return _datapipeline(store, backups[-1], forced)
    return _bare_folder(store, forced)


def _checked_format(text: str | None) -> Format | None:
    if text is None:
        return None
    for name in FORMATS:
        if text == name:
            return name
    raise ConfigError(f"--format {text!r} is not one of {', '.join(FORMATS)}")


def _complete_exports(store: Store) -> list[str]:
    prefix = f"{native.EXPORTS_DIR}/"
    return sorted(
        key.split("/")[1]
        for key in store.list(prefix)
        if key.count("/") == 2 and key.endswith(f"/{native.MANIFEST_SUMMARY}")
    )


def _pick_export(store: Store, exports: list[str], export_id: str | None) -> str:
    if export_id is None:
        return f"{native.EXPORTS_DIR}/{exports[-1]}"
    if export_id not in exports:
        raise NotFoundError(
            f"no complete export {export_id!r} under {store.root}",
            hint=f"exports there: {', '.join(exports) or 'none'}",
        )
    return f"{native.EXPORTS_DIR}/{export_id}"


def _checked_bytes(store: Store, key: str) -> bytes:
    """A manifest, checked against its ``.md5`` or ``.checksum`` side file when present."""
    data = store.get(key)
    stem = key.removesuffix(".json")
    for side in (f"{stem}.md5", f"{stem}.checksum"):
        if store.exists(side):
            expected = store.get(side).decode("utf-8", "replace").strip()
            if expected != native.md5_b64(data):
                raise CorruptDataError(
                    f"{store.root}/{key} does not match its checksum file {side}",
                    hint="the export was damaged or changed after it was written",
                )
    return data


def _native(store: Store, folder: str, forced: Format | None) -> SourcePlan:
    summary = native.ExportSummary.from_json(
        _checked_bytes(store, _join(folder, native.MANIFEST_SUMMARY))
    )
    entries = native.parse_manifest_files(
        _checked_bytes(store, _join(folder, native.MANIFEST_FILES))
    )
    listed = sum(e.item_count for e in entries)
    if listed != summary.item_count:
        raise CorruptDataError(
            f"{store.root}/{_join(folder, native.MANIFEST_FILES)} lists {listed} items but "
            f"manifest-summary.json says {summary.item_count}"
        )
    files = [
        SourceFile(
            key=_join(folder, native.resolve_data_key(e.data_file_s3_key, export_dir=folder)),
            item_count=e.item_count,
            md5=e.md5_checksum,
        )
        for e in entries
    ]
    table_key = _join(folder, TABLE_FILE)
    schema = None
    if store.exists(table_key):
        schema = parse_table_file(_checked_table_file(store, table_key, summary))
    fmt: Format = "native-ion" if summary.output_format == "ION" else "native-json"
    return SourcePlan(
        kind="DynamoDB native export",
        format=forced or fmt,
        folder=folder,
        files=files,
        total_items=summary.item_count,
        incremental=summary.is_incremental,
        schema=schema,
        schema_checked=summary.table_file_md5 is not None,
    )


def _checked_table_file(store: Store, key: str, summary: native.ExportSummary) -> bytes:
    """ddbmigrate-table.json, checked against the MD5 its manifest records (exports made
    before ddbmigrate recorded one have none: the caller says so and guards capacity)."""
    data = store.get(key)
    if summary.table_file_md5 is not None and summary.table_file_md5 != native.md5_b64(data):
        raise CorruptDataError(
            f"{store.root.rstrip('/')}/{key} does not match the MD5 that "
            f"{native.MANIFEST_SUMMARY} records for it: the table description was edited "
            "or damaged after the export",
            hint="restore the file from the export as it was written, or export the table again",
        )
    return data


def _backup_folders(store: Store) -> list[str]:
    """Folders one level down that hold a Data Pipeline manifest."""
    return sorted(
        key.split("/")[0]
        for key in store.list("")
        if key.count("/") == 1 and key.endswith(f"/{datapipeline.MANIFEST}")
    )


def _datapipeline(store: Store, folder: str, forced: Format | None) -> SourcePlan:
    manifest = _join(folder, datapipeline.MANIFEST)
    urls = datapipeline.parse_manifest(store.get(manifest), name=f"{store.root}/{manifest}")
    present = set(_data_files(store, folder))
    files: list[SourceFile] = []
    for url in urls:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if name not in present:
            raise CorruptDataError(
                f"Data Pipeline manifest entry {url} has no file "
                f"{store.root}/{_join(folder, name)}",
                hint="the backup is incomplete; copy the missing file or restore another backup",
            )
        files.append(SourceFile(key=_join(folder, name)))
    listed = {f.key.rsplit("/", 1)[-1] for f in files}
    return SourcePlan(
        kind="Data Pipeline backup (manifest)",
        format=forced or "datapipeline",
        folder=folder,
        files=files,
        stray=sorted(present - listed),
    )


def _data_files(store: Store, folder: str = "") -> list[str]:
    """Names of the non-hidden files directly in ``folder`` (``_SUCCESS``, ``.crc`` and
    friends are not data, nor is the manifest)."""
    prefix = f"{folder}/" if folder else ""
    names = [key[len(prefix) :] for key in store.list(prefix)]
    return [
        name
        for name in names
        if "/" not in name and not datapipeline.is_hidden(name) and name != datapipeline.MANIFEST
    ]


def _export_folder(store: Store, folder: str, forced: Format | None) -> SourcePlan:
    """A native export folder; one without manifests (moto writes none) is read as its data
    files, and says so: counts and MD5s cannot be checked then."""
    if store.exists(_join(folder, native.MANIFEST_SUMMARY)):
        return _native(store, folder, forced)
    bare = _bare_folder(store, forced, _join(folder, native.DATA_DIR))
    return replace(bare, kind="DynamoDB export without manifests (counts and MD5s unchecked)")


def _bare_folder(store: Store, forced: Format | None, folder: str = "") -> SourcePlan:
    names = [_join(folder, name) for name in _data_files(store, folder)]
    if not names:
        raise NotFoundError(
            f"no export, backup or data file under {store.root}",
            hint="point at a native export folder (…/AWSDynamoDB/<id>/), the prefix above it, "
            "a Data Pipeline backup folder, or one data file",
        )
    fmt = forced or _sniff_folder(store, names)
    kind = "Data Pipeline backup (Hive era)" if fmt == "datapipeline-hive" else "data files"
    return SourcePlan(
        kind=kind, format=fmt, folder=folder, files=[SourceFile(key=n) for n in names]
    )


def _sniff_folder(store: Store, names: list[str]) -> Format:
    """The format of the first file that holds a line: Hive and AWS both write empty files."""
    for name in names:
        data = _prefix(store, name)
        if _head(data, f"{store.root}/{name}").strip():
            return sniff(data, name=f"{store.root}/{name}")
    return sniff(b"", name=f"{store.root}/{names[0]}")


def _prefix(store: Store, key: str) -> bytes:
    """The first MiB of a file: enough to tell its format, whatever the file's size."""
    with store.open_read(key) as file:
        return file.read(SNIFF_READ)


def _single_file(store: Store, key: str, forced: Format | None) -> SourcePlan:
    if not store.exists(key):
        raise NotFoundError(f"{store.root}/{key} does not exist")
    fmt = forced or sniff(_prefix(store, key), name=f"{store.root}/{key}")
    return SourcePlan(kind="data file", format=fmt, folder="", files=[SourceFile(key=key)])


def _head(data: bytes, name: str) -> bytes:
    """The first bytes of a data file (or of the first MiB of one), decompressed, without
    inflating all of it."""
    text = b""
    try:
        for chunk in compression.decompressed_chunks(data, name=name):
            text += chunk
            if len(text) >= SNIFF_BYTES:
                break
    except CorruptDataError:
        # A prefix of a larger file ends mid-stream: that is not damage. A whole file
        # that ends mid-stream is.
        if len(data) < SNIFF_READ or not text:
            raise
    return text[:SNIFF_BYTES]


def sniff(data: bytes, *, name: str) -> Format:
    """Tell a data file's format from its first line."""
    text = _head(data, name)
    first = next((line for line in text.splitlines() if line.strip()), b"").strip()
    if b"\x02" in first or b"\x03" in first:
        return "datapipeline-hive"
    if first.startswith(b"$ion_1_0") or first.startswith(b"{Item:"):
        return "native-ion"
    if (
        first.startswith(b'{"Item"')
        or first.startswith(b'{"Keys"')
        or first.startswith(b'{"Metadata"')
    ):
        return "native-json"
    if first.startswith(b"{"):
        return "datapipeline"
    raise CorruptDataError(
        f"{name}: cannot tell the format from its first line",
        hint="pass --format native-json|native-ion|datapipeline|datapipeline-hive",
    )
