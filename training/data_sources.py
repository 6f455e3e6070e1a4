"""Read one data source and tokenise it once, into Arrow files cached on disk (``datasets``).

(a) corpus documents are language-modelling text: every token is trained, EOS appended;
(b) conversations are rendered with the backbone's chat template, only assistant turns are trained.

Records are read by our own generator (so a malformed line is named by file and line) and written by
``Dataset.from_generator`` straight to Arrow; tokenising is a ``Dataset.map`` (batched, ``num_proc`` workers)
whose result is cached under ``data.cache_dir`` and keyed by the files, the tokenizer and the template: a second
run, or the other ranks of a distributed run, read the cache instead of tokenising again. Nothing is held as
Python lists of tokens (about 48 bytes a token); Arrow stores 4 bytes per id and is memory-mapped.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from training.chat_masks import IGNORE_INDEX, render_conversation, validate_messages
from training.config import DataSource, expand_paths, resolve_path


class DataError(ValueError):
    """Training data that cannot be used; the message names the file and line."""


COLUMNS = ["input_ids", "labels"]  # what is packed and trained on; "length" and "trained" are for reports


def _read_jsonl(path: Path, limit: int | None):
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if limit is not None and limit <= 0:
                return
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object")
            yield line_no, record
            if limit is not None:
                limit -= 1


def corpus_records(files: tuple[tuple[str, int, int], ...], text_field: str, exclude_sources: tuple[str, ...],
                   limit: int | None):
    """``{"text"}`` records; ``files`` carry size and mtime so that an edited file is never read from the cache."""
    excluded = [re.compile(p) for p in exclude_sources]
    read = 0
    for name, _size, _mtime in files:
        path = Path(name)
        for line_no, record in _read_jsonl(path, None if limit is None else limit - read):
            read += 1
            text = record.get(text_field)
            if not isinstance(text, str):
                raise DataError(f"{path}:{line_no}: field {text_field!r} is missing or not a string")
            if excluded and any(p.search(str(record.get("source", ""))) for p in excluded):
                continue
            if text.strip():
                yield {"text": text}


def conversation_records(files: tuple[tuple[str, int, int], ...], limit: int | None):
    read = 0
    for name, _size, _mtime in files:
        path = Path(name)
        for line_no, record in _read_jsonl(path, None if limit is None else limit - read):
            read += 1
            messages = record.get("messages")
            try:
                validate_messages(messages, f"{path}:{line_no}")
            except ValueError as exc:
                raise DataError(str(exc)) from None
            yield {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}


def tokenize_corpus_batch(batch: dict, tokenizer) -> dict:
    """Every token trained; EOS closes each document so the model learns where text ends."""
    eos = tokenizer.eos_token_id
    ids_batch = []
    for ids in tokenizer(batch["text"], add_special_tokens=True)["input_ids"]:
        ids = list(ids)
        if eos is not None and (not ids or ids[-1] != eos):
            ids.append(eos)
        ids_batch.append(ids)
    return {"input_ids": ids_batch, "labels": ids_batch, "length": [len(i) for i in ids_batch],
            "trained": [len(i) for i in ids_batch]}


def tokenize_conversation_batch(batch: dict, tokenizer) -> dict:
    rendered = [render_conversation(tokenizer, messages) for messages in batch["messages"]]
    return {"input_ids": [r.input_ids for r in rendered], "labels": [r.labels for r in rendered],
            "length": [len(r.input_ids) for r in rendered],
            "trained": [sum(label != IGNORE_INDEX for label in r.labels) for r in rendered]}


def _file_keys(source: DataSource) -> tuple[tuple[str, int, int], ...]:
    # Tuples, not lists: datasets would take a list in gen_kwargs for shards to split among workers.
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in expand_paths(source.paths))


def load_source(tokenizer, name: str, source: DataSource, *, limit: int | None = None, cache_dir: str | None = None,
                num_proc: int | None = None):
    """The source as a tokenised ``datasets.Dataset`` with input_ids, labels, length and trained (token counts)."""
    from datasets import Dataset
    from datasets.exceptions import DatasetGenerationError

    cache = str(resolve_path(cache_dir)) if cache_dir else None
    files = _file_keys(source)
    if source.kind == "corpus":
        reader, kwargs = corpus_records, {"files": files, "text_field": source.text_field,
                                          "exclude_sources": tuple(source.exclude_sources), "limit": limit}
        tokenize = tokenize_corpus_batch
    else:
        reader, kwargs, tokenize = conversation_records, {"files": files, "limit": limit}, tokenize_conversation_batch
    try:
        records = Dataset.from_generator(reader, gen_kwargs=kwargs, cache_dir=cache)
    except DatasetGenerationError as exc:
        cause = exc.__cause__ or exc.__context__
        raise (cause if isinstance(cause, DataError) else DataError(f"data source {name!r}: {exc}")) from None
    if len(records) == 0:
        raise DataError(f"data source {name!r} has no usable documents in {source.paths}")
    return records.map(tokenize, batched=True, batch_size=256, num_proc=num_proc, fn_kwargs={"tokenizer": tokenizer},
                       remove_columns=records.column_names, desc=f"tokenising {name}")
