"""Tokenisation throughput and peak memory of the training-data preparation (training/data_sources.py +
data_mixing.py): read → tokenise (datasets.map, Arrow cache) → concatenate and shuffle → pack (TRL bfd).

    python bench/training_prep.py --tokens 50000000 --num-proc 2 [--tokenizer DIR] [--conversations 0.3]

Builds a synthetic source set of about ``--tokens`` tokens from the data pack's Basque corpus (documents
repeated with a counter so none is identical) plus conversations (share ``--conversations`` of the documents),
in a temporary folder, then runs the preparation twice: cold (tokenising) and warm (read from the cache, as the
other ranks of a distributed run do). Prints JSON: tokens, seconds, tokens/s and peak RSS (this process and its
map workers). Tokenizer: ``--tokenizer`` (e.g. var/training/backbones/smollm2-135m-instruct), else the tests'
tiny Basque BPE built in-process. Never run in CI.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_mib() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_peak_rss_mib": round(own, 1), "largest_worker_peak_rss_mib": round(children, 1)}


def write_sources(folder: Path, tokens: int, conversation_share: float, tokens_per_char: float) -> tuple[Path, Path]:
    from config.datapack import corpus_dir

    texts = [json.loads(line)["text"] for path in sorted(corpus_dir().glob("*.jsonl"))
             for line in path.open(encoding="utf-8")]
    texts = [t for t in texts if len(t) > 40]
    corpus, chat = folder / "corpus.jsonl", folder / "chat.jsonl"
    written_chars, n = 0, 0
    target_chars = tokens / tokens_per_char
    with corpus.open("w", encoding="utf-8") as c_out, chat.open("w", encoding="utf-8") as m_out:
        while written_chars < target_chars:
            text = f"{n}. {texts[n % len(texts)]}"
            if (n % 100) < conversation_share * 100:
                question, _, answer = text.partition(" ")
                record = {"messages": [{"role": "user", "content": question + "?"},
                                       {"role": "assistant", "content": answer}]}
                m_out.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                c_out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            written_chars += len(text)
            n += 1
    return corpus, chat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=50_000_000)
    parser.add_argument("--num-proc", type=int, default=None, help="datasets.map workers (default: one process)")
    parser.add_argument("--tokenizer", help="a checkpoint folder with a chat template (default: tiny BPE)")
    parser.add_argument("--conversations", type=float, default=0.3, help="share of documents that are conversations")
    parser.add_argument("--max-length", type=int, default=8192)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from training.config import DataArguments
    from training.data_mixing import build_training_set

    with tempfile.TemporaryDirectory(prefix="training-prep-") as tmp:
        tmp = Path(tmp)
        if args.tokenizer:
            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        else:
            from tests.support.tiny_models import build_tokenizer

            tokenizer = build_tokenizer(tmp / "tokenizer")
        sample = "Euskara Euskal Herriko hizkuntza da, eta milaka lagunek hitz egiten dute."
        tokens_per_char = len(tokenizer(sample)["input_ids"]) / len(sample)
        started = time.perf_counter()
        corpus, chat = write_sources(tmp, args.tokens, args.conversations, tokens_per_char)
        written_s = time.perf_counter() - started
        data = DataArguments(
            sources={"corpus": {"kind": "corpus", "paths": [str(corpus)]},
                     "chat": {"kind": "instructions", "paths": [str(chat)]}},
            concatenate=["corpus", "chat"], max_length=args.max_length, cache_dir=str(tmp / "cache"),
            preprocessing_num_workers=args.num_proc)
        runs = {}
        for label in ("cold", "warm"):
            started = time.perf_counter()
            packed, _, report = build_training_set(tokenizer, data, seed=0)
            seconds = time.perf_counter() - started
            runs[label] = {"seconds": round(seconds, 2), "tokens_per_s": round(report.total_tokens / seconds),
                           **peak_rss_mib()}
        cache_bytes = sum(p.stat().st_size for p in (tmp / "cache").rglob("*") if p.is_file())
        print(json.dumps({
            "tokens": report.total_tokens, "documents": sum(s.documents for s in report.sources),
            "blocks": report.blocks, "padding_share": report.padding_share, "num_proc": args.num_proc,
            "tokenizer": args.tokenizer or "tiny BPE (tests)", "source_files_mib": round(
                (corpus.stat().st_size + chat.stat().st_size) / 2**20, 1),
            "arrow_cache_mib": round(cache_bytes / 2**20, 1), "writing_sources_s": round(written_s, 2), **runs,
        }, indent=2))


if __name__ == "__main__":
    main()
