"""An export run: rows -> data file -> zip bundle (data, flags, manifest.json last) or HF datasets folder.

Why a zip: the manifest holds the SHA-256 of the data, which is known only after the last byte has
streamed, so it cannot go in a header or in front. A zip written front to back puts it in a trailing
entry without buffering the data, and every loader reads the data file untouched (unlike, say, a
final ``{"_manifest": ...}`` JSONL line). A download that fails midway has no central directory
and no manifest, so it cannot be mistaken for a complete export.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import itertools
import json
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from arena.jsonio import dumps

from .card import dataset_card
from .formats import ROW_BUILDERS, arrow_schema
from .hashing import ParticipantHasher, export_salt
from .lines import iter_ebaluatoia_batches
from .manifest import FLAGS_NAME, MANIFEST_NAME, ChunkCounts, ExportStats, build_manifest
from .options import ExportOptions
from .reactions import REACTIONS_NAME, reaction_lines
from .source import (
    DEFAULT_CHUNK_SIZE, exclusion_counts, iter_vote_chunks, participant_count, snapshot_upper_id, withheld_counts,
)
from .writers import ArrowStreamWriter, HashingStream, ParquetWriter, data_extension, open_writer


FLUSH_BYTES = 256 * 1024  # hand the client a chunk once this much is ready
FLAGS_IN_MEMORY = 8 * 1024 * 1024  # beyond this the flagged-vote list spills to a temp file


@contextlib.contextmanager
def long_lived_objects_frozen():
    """Keep the objects alive now (modules, Django's state: hundreds of thousands) out of the cyclic
    garbage collector while rows are built: building millions of row dicts triggers full collections
    that walk all of them, a third of the time of the dict-based formats (lmsys 17,800 -> 27,500 rows/s).
    Acyclic rows are freed by reference counting either way; new cycles are still collected."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _ChunkSink:
    """A write-only stream that zipfile writes into and the response generator drains. Locked: the
    gzip writer's compression thread writes while the generator drains."""

    def __init__(self):
        self._parts: list[bytes] = []
        self.pending = 0
        self._lock = threading.Lock()

    def write(self, data) -> int:
        with self._lock:
            self._parts.append(bytes(data))
            self.pending += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        with self._lock:
            parts, self._parts, self.pending = self._parts, [], 0
        return b"".join(parts)


def _copy_hashed(source, target, block: int = 1024 * 1024) -> dict:
    digest, size = hashlib.sha256(), 0
    while data := source.read(block):
        digest.update(data)
        size += len(data)
        target.write(data)
    return {"sha256": digest.hexdigest(), "bytes": size}


class Export:
    """One export with its options. ``iter_zip()`` streams a bundle; ``build_hf_folder()`` writes a folder."""

    def __init__(self, options: ExportOptions, *, chunk_size: int | None = None):
        self.options = options
        # Parquet/HF carry pyarrow (~65 MB) and Arrow buffers: half-size chunks keep them under ~300 MB.
        arrow = options.file_type in ("parquet", "hf")
        self.chunk_size = chunk_size or max(1, DEFAULT_CHUNK_SIZE // 2 if arrow else DEFAULT_CHUNK_SIZE)
        self.salt = export_salt()  # fails here, before any byte is sent, if the server has no salt
        self.stats = ExportStats()
        self.started_at = dt.datetime.now(dt.UTC)
        self.manifest: dict | None = None
        self.upper_id: int | None = None  # the newest vote when the data started (reactions.jsonl's snapshot)
        self.reactions = 0

    @property
    def download_name(self) -> str:
        return f"{self.options.stem}{'-hf' if self.options.file_type == 'hf' else ''}.zip"

    @property
    def data_name(self) -> str:
        return f"{self.options.stem}.{data_extension(self.options.file_type)}"

    def _count(self, counts: ChunkCounts, flags) -> None:
        """Add a chunk to the manifest's counts; list its exported flagged votes in ``flags`` (a binary stream)."""
        self.stats.add(counts)
        for battle_id, reasons in counts.flagged:
            flags.write(dumps({"id": battle_id, "exclusion_reasons": reasons}) + b"\n")

    def iter_rows(self, flags) -> Iterator[list[dict]]:
        """Row batches as dicts (JSONL of lmsys/dpo, Parquet, HF)."""
        build = ROW_BUILDERS[self.options.format]
        dimension_key = "dimension" if self.options.format == "dpo" else None
        chunks = iter_vote_chunks(self.options, ParticipantHasher(self.salt), chunk_size=self.chunk_size)
        with long_lived_objects_frozen():
            for records in chunks:
                self._count(ChunkCounts.of(records), flags)
                rows = [row for record in records for row in build(record, self.options.dimension)]
                self.stats.add_rows(rows, dimension_key)
                yield rows

    def iter_jsonl(self, flags) -> Iterator[bytes]:
        """JSONL batches as UTF-8 bytes, one line per row."""
        if self.options.format != "ebaluatoia":
            for rows in self.iter_rows(flags):
                if rows:
                    yield b"\n".join(map(dumps, rows)) + b"\n"
            return
        # One row per vote, encoded without row dicts (see lines.py).
        hasher = ParticipantHasher(self.salt)
        for batch in iter_ebaluatoia_batches(self.options, hasher, chunk_size=self.chunk_size):
            self._count(batch.counts, flags)
            self.stats.rows += batch.counts.votes
            yield batch.lines

    def _finish_manifest(self, files: dict[str, dict]) -> dict:
        counts_from_db = exclusion_counts(self.options)
        manifest = build_manifest(
            self.options, self.stats, counts_from_db, files, salt=self.salt, started_at=self.started_at,
        )
        manifest["counts"]["participants"] = participant_count(self.options)
        manifest["counts"]["reactions"] = self.reactions
        # Conversations left out whatever the quality checks say: hidden by moderators, personal data.
        manifest["withheld"] = withheld_counts(self.options)
        self.manifest = manifest
        return manifest

    # -- zip bundle (JSONL, JSONL.gz, Parquet; HF as a zipped folder) ---------------------------

    def iter_zip(self) -> Iterator[bytes]:
        if self.options.file_type == "hf":
            yield from self._iter_zipped_hf_folder()
            return
        sink = _ChunkSink()
        self.upper_id = snapshot_upper_id()
        with tempfile.SpooledTemporaryFile(FLAGS_IN_MEMORY) as flags:
            with zipfile.ZipFile(sink, "w", allowZip64=True, compresslevel=1) as bundle:
                # Stored as is: gzip and Parquet are compressed already, and plain JSONL was asked for
                # uncompressed (deflating it in the zip cost 3x the CPU of the whole jsonl.gz export).
                info = self._zip_info(self.data_name, zipfile.ZIP_STORED)
                files = {}
                with bundle.open(info, "w", force_zip64=True) as entry:
                    data = HashingStream(entry)
                    writer = open_writer(self.options.file_type, data, self.options.format)
                    batches = self.iter_rows(flags) if isinstance(writer, ParquetWriter) else self.iter_jsonl(flags)
                    try:
                        for batch in batches:
                            writer.write(batch)
                            if sink.pending >= FLUSH_BYTES:
                                yield sink.drain()
                    except BaseException:
                        writer.abort()
                        raise
                    writer.close()
                files[self.data_name] = {"sha256": data.sha256.hexdigest(), "bytes": data.size}
                if self.options.include_flagged:
                    flags.seek(0)
                    with bundle.open(self._zip_info(FLAGS_NAME, zipfile.ZIP_DEFLATED), "w", force_zip64=True) as entry:
                        files[FLAGS_NAME] = _copy_hashed(flags, entry)
                lines = self._reaction_lines()
                if lines is not None:  # only when some exported answer has reactions: older bundles' shape otherwise
                    with bundle.open(self._zip_info(REACTIONS_NAME, zipfile.ZIP_DEFLATED), "w",
                                     force_zip64=True) as entry:
                        files[REACTIONS_NAME] = self._write_reactions(lines, entry)
                manifest = self._finish_manifest(files)
                bundle.writestr(self._zip_info(MANIFEST_NAME, zipfile.ZIP_DEFLATED), json.dumps(manifest, indent=2))
        yield sink.drain()

    def _reaction_lines(self):
        """reactions.jsonl's lines (see reactions.py), or None when there are none."""
        lines = reaction_lines(self.options, self.upper_id)
        first = next(lines, None)
        return None if first is None else itertools.chain([first], lines)

    def _write_reactions(self, lines, target) -> dict:
        """The lines into ``target``; returns their sha256 and size."""
        digest, size = hashlib.sha256(), 0
        for line, count in lines:
            digest.update(line)
            size += len(line)
            target.write(line)
            self.reactions += count
        return {"sha256": digest.hexdigest(), "bytes": size}

    def _zip_info(self, name: str, compress_type: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self.started_at.timetuple()[:6])
        info.compress_type = compress_type
        return info

    def _iter_zipped_hf_folder(self) -> Iterator[bytes]:
        # save_to_disk needs a real folder, so this download starts once the folder is built.
        work_root = Path(settings.DATA_DIR) / "export-tmp"
        work_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_root) as work:
            folder = Path(work) / self.options.stem
            self.build_hf_folder(folder)
            sink = _ChunkSink()
            with zipfile.ZipFile(sink, "w", allowZip64=True) as bundle:
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    name = f"{self.options.stem}/{path.relative_to(folder).as_posix()}"
                    with path.open("rb") as source, bundle.open(self._zip_info(name, zipfile.ZIP_STORED), "w",
                                                               force_zip64=True) as entry:
                        while block := source.read(FLUSH_BYTES):
                            entry.write(block)
                            if sink.pending >= FLUSH_BYTES:
                                yield sink.drain()
            yield sink.drain()

    # -- Hugging Face datasets folder -----------------------------------------------------------

    def build_hf_folder(self, folder: Path) -> dict:
        """``save_to_disk`` output + flags.jsonl + manifest.json + README.md card in ``folder`` (must not exist)."""
        import datasets  # heavy import, only for this file type

        folder = Path(folder)
        schema = arrow_schema(self.options.format)
        self.upper_id = snapshot_upper_id()
        with tempfile.TemporaryDirectory(dir=folder.parent) as work:
            arrow_path, flags_path = Path(work) / "data.arrow", Path(work) / FLAGS_NAME
            # An Arrow stream written batch by batch, memory-mapped by datasets as is (no conversion, no
            # copy in memory), then written out by save_to_disk: the rows are never all in memory.
            # (Via Parquet and Dataset.from_parquet the anonymous memory grew with the rows: 590 MB at 450k.)
            with arrow_path.open("wb") as handle, flags_path.open("wb") as flags:
                writer = ArrowStreamWriter(handle, schema)
                try:
                    for rows in self.iter_rows(flags):
                        writer.write(rows)
                except BaseException:
                    writer.abort()
                    raise
                writer.close()
            bars = datasets.is_progress_bar_enabled()
            datasets.disable_progress_bars()
            try:
                dataset = datasets.Dataset.from_file(
                    str(arrow_path), info=datasets.DatasetInfo(features=datasets.Features.from_arrow_schema(schema)),
                )
                dataset.save_to_disk(str(folder))
                del dataset
            finally:
                if bars:
                    datasets.enable_progress_bars()
            if self.options.include_flagged:
                shutil.copyfile(flags_path, folder / FLAGS_NAME)
            lines = self._reaction_lines()
            if lines is not None:
                with (folder / REACTIONS_NAME).open("wb") as handle:
                    self._write_reactions(lines, handle)
        files = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with path.open("rb") as handle:
                files[path.relative_to(folder).as_posix()] = _copy_hashed(handle, _Discard())
        manifest = self._finish_manifest(files)
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        (folder / "README.md").write_text(dataset_card(manifest), encoding="utf-8")
        return manifest


class _Discard:
    def write(self, data) -> int:
        return len(data)
