"""Streaming writers: rows in, bytes out to any binary stream, nothing kept in memory but one batch."""
from __future__ import annotations

import contextlib
import hashlib

from arena.jsonio import gzip_writer

from .formats import arrow_schema

ARROW_BATCH_ROWS = 2_000  # = a Parquet row group; bigger batches cost memory (~25 MB per 1,000 rows in flight)


class HashingStream:
    """Passes bytes through, counting them and keeping their SHA-256 (the manifest's data checksum).
    Also gives ``tell()``, which pyarrow wants and a zip entry opened for writing lacks."""

    def __init__(self, inner):
        self.inner = inner
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.inner.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        """The owner closes the inner stream (pyarrow calls this when its writer closes)."""

    @property
    def closed(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


class JsonlWriter:
    """One JSON object per line, UTF-8 (Basque stays readable, not \\u-escaped), optionally gzip."""

    def __init__(self, stream, *, compress: bool):
        # Compressing 2 GB of JSON is ~5 s of CPU: a background thread does it beside the export.
        self._gzip = gzip_writer(stream, threaded=True) if compress else None
        self._out = self._gzip or stream

    def write(self, lines: bytes) -> None:
        """A batch of encoded lines, each ending in a newline: one write per batch, since per-row
        writes through gzip cost more than the JSON."""
        self._out.write(lines)

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()  # waits for the compression, writes the trailer; leaves the underlying stream open

    def abort(self) -> None:
        """After a failure: release buffers; the output is discarded anyway."""
        with contextlib.suppress(Exception):
            self.close()


class _ArrowWriter:
    """Rows to Arrow record batches at once (Python row dicts take ~10x the memory of their Arrow
    form), handed on every ``ARROW_BATCH_ROWS`` rows; with an explicit schema, so an empty export is
    valid too. Subclasses say where the batches go."""

    def __init__(self, schema):
        import pyarrow as pa  # only Parquet/HF exports pay for pyarrow

        self._schema = schema
        # The system allocator gives freed memory back; Arrow's default (mimalloc) kept ~30 MB more.
        self._pool = pa.system_memory_pool()
        self._batches: list = []
        self._pending_rows = 0

    def write(self, rows: list[dict]) -> None:
        import pyarrow as pa

        if rows:
            columns = [
                pa.array([row[field.name] for row in rows], type=field.type, memory_pool=self._pool)
                for field in self._schema
            ]
            self._batches.append(pa.RecordBatch.from_arrays(columns, schema=self._schema))
            self._pending_rows += len(rows)
        if self._pending_rows >= ARROW_BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._batches:
            self._write_table(pa.Table.from_batches(self._batches, schema=self._schema))
            self._batches, self._pending_rows = [], 0

    def _write_table(self, table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def abort(self) -> None:
        """After a failure: close now, while the stream is still open, not later from a finalizer."""
        self._batches = []
        with contextlib.suppress(Exception):
            self._writer.close()


class ParquetWriter(_ArrowWriter):
    """Parquet, zstd, one row group per ``ARROW_BATCH_ROWS`` rows."""

    def __init__(self, stream, schema):
        import pyarrow.parquet as pq

        super().__init__(schema)
        self._writer = pq.ParquetWriter(stream, schema, compression="zstd", memory_pool=self._pool)

    def _write_table(self, table) -> None:
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))


class ArrowStreamWriter(_ArrowWriter):
    """An Arrow IPC stream: the file format of a ``datasets`` dataset, which it memory-maps as is."""

    def __init__(self, stream, schema):
        import pyarrow as pa

        super().__init__(schema)
        self._writer = pa.ipc.new_stream(stream, schema)

    def _write_table(self, table) -> None:
        self._writer.write_table(table)


def open_writer(file_type: str, stream, schema_name: str):
    if file_type in ("jsonl", "jsonl.gz"):
        return JsonlWriter(stream, compress=file_type == "jsonl.gz")
    if file_type == "parquet":
        return ParquetWriter(stream, arrow_schema(schema_name))
    raise ValueError(f"unknown file type {file_type!r}")


def data_extension(file_type: str) -> str:
    return {"jsonl": "jsonl", "jsonl.gz": "jsonl.gz", "parquet": "parquet"}[file_type]
