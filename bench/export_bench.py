"""Export benchmark: N synthetic votes in a scratch PostgreSQL database, exported in every format.

    /root/.cache/basque-arena/venv/bin/python bench/export_bench.py            # 1,000,000 votes
    /root/.cache/basque-arena/venv/bin/python bench/export_bench.py --votes 100000 --keep

Creates the database ``arena_export_bench`` (dropped at the end unless --keep), migrates it, loads
participants, battles, messages and votes with COPY (Basque sentences from the data pack, data/, when
present), then runs each export in a fresh process (so peak RSS is that export's own) writing the zip
bundle to a temp file, and prints rows/s, peak RSS and output size per format.
Turns: 80% one turn, 15% two, 5% three; prompts 1-2 sentences, answers 4-8; 10% of votes flagged.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"
RUNS = [
    ("ebaluatoia", "jsonl.gz", "overall"),
    ("ebaluatoia", "jsonl", "overall"),
    ("lmsys", "jsonl.gz", "overall"),
    ("dpo", "jsonl.gz", "all"),
    ("ebaluatoia", "parquet", "overall"),
    ("dpo", "hf", "overall"),
]


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


def sentences() -> list[str]:
    corpus = ROOT / "data" / "basque" / "corpus" / "ud_basque_bdt.jsonl"
    if corpus.exists():
        with corpus.open(encoding="utf-8") as handle:
            return [json.loads(line)["text"] for line in handle]
    return ["Euskara Euskal Herriko hizkuntza da, eta milaka lagunek hitz egiten dute."] * 10


def conversation(i: int, text: list[str], seed: int) -> list[tuple[int, tuple[str, str, str]]]:
    """Battle i's messages as (turn, (role, side, content)), regenerated identically on every call (so the
    loader needs no memory for them): 80% one turn, 15% two, 5% three; prompts 1-2 sentences, answers 4-8."""
    rng = random.Random(seed * 10_000_019 + i)
    n_turns = 1 if rng.random() < 0.8 else (2 if rng.random() < 0.75 else 3)
    messages = []
    for turn in range(n_turns):
        messages.append((turn, ("user", "", " ".join(rng.choices(text, k=rng.randint(1, 2))))))
        for side in "AB":
            messages.append((turn, ("assistant", side, " ".join(rng.choices(text, k=rng.randint(4, 8))))))
    return messages


def load(votes: int, seed: int = 5) -> None:
    """Migrate and fill the (already created) database the environment points at."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from arena.transcripts import encoded_sides
    from models_serving.models import ServedModel

    call_command("migrate", verbosity=0)
    rng = random.Random(seed)
    text = sentences()
    models = [ServedModel.objects.create(public_name=f"model-{i:02d}", system_prompt=f"Euskaraz erantzun. ({i})")
              for i in range(12)]
    levels = ["A1-A2", "B1-B2", "C1-C2", "native"]
    educations = ["primary", "secondary", "vocational", "university", "postgraduate"]
    n_participants = max(1, votes // 50)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    participants = []  # (pk, level, education)
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection behind Django's, for COPY
    started = time.perf_counter()
    with raw.cursor() as cur:
        with cur.copy("COPY arena_participant (id, public_id, basque_level, education, dialect_area, age_band, "
                      "consent_version, consented_at, ui_language, created_at) FROM STDIN") as copy:
            for pk in range(1, n_participants + 1):
                level, education = rng.choice(levels), rng.choice(educations)
                participants.append((pk, level, education))
                copy.write_row((pk, uuid.UUID(int=rng.getrandbits(128), version=4), level, education,
                                "batua", "30-44", "v1", now, "eu", now))
        cur.execute("SELECT setval('arena_participant_id_seq', %s)", [n_participants])
        battle_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(votes)]
        pairs = [rng.sample(models, 2) for _ in range(votes)]
        owners = [rng.choice(participants) for _ in range(votes)]
        times = [now + dt.timedelta(seconds=i * 30) for i in range(votes)]
        snapshots = {model.pk: model.sampling_snapshot() for model in models}
        with cur.copy("COPY arena_battle (id, participant_id, model_a_id, model_b_id, status, snapshot_a, "
                      "snapshot_b, failure_reason, created_at, updated_at) FROM STDIN") as copy:
            for i in range(votes):
                a, b = pairs[i]
                copy.write_row((battle_ids[i], owners[i][0], a.pk, b.pk, "voted",
                                json.dumps(snapshots[a.pk]), json.dumps(snapshots[b.pk]), "",
                                times[i], times[i]))
        with cur.copy("COPY arena_message (battle_id, turn, role, side, content, finish_reason, error, "
                      "token_count, created_at) FROM STDIN") as copy:
            for i in range(votes):
                for turn, (role, side, content) in conversation(i, text, seed):
                    copy.write_row((battle_ids[i], turn, role, side, content, "stop" if side else "", "", 0, times[i]))
        choices, overall = ["A", "B", "tie"], ["A", "B", "tie", "both_bad"]
        reasons = ["too_fast", "daily_cap", "identity_leak"]
        with cur.copy("COPY arena_vote (id, battle_id, participant_id, model_a_id, model_b_id, content, language, "
                      "overall, basque_level, education, excluded, exclusion_reasons, created_at) FROM STDIN") as copy:
            for i in range(votes):
                flagged = rng.random() < 0.1
                owner = owners[i]
                copy.write_row((i + 1, battle_ids[i], owner[0], pairs[i][0].pk, pairs[i][1].pk, rng.choice(choices),
                                rng.choice(choices), rng.choice(overall), owner[1], owner[2], flagged,
                                json.dumps([rng.choice(reasons)] if flagged else []),
                                times[i] + dt.timedelta(seconds=20)))
        cur.execute("SELECT setval('arena_vote_id_seq', %s)", [votes])
        with cur.copy("COPY arena_votetranscript (vote_id, side_a, side_b) FROM STDIN") as copy:
            for i in range(votes):
                # Frozen as services.cast_vote does, from the same (regenerated) messages.
                rows = [(turn, *message) for turn, message in conversation(i, text, seed)]
                copy.write_row((i + 1, *encoded_sides(snapshots[pairs[i][0].pk], snapshots[pairs[i][1].pk], rows)))
        cur.execute("ANALYZE")
    raw.commit()
    print(f"loaded {votes:,} votes in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def run_one(fmt: str, file_type: str, dimension: str, include_flagged: bool) -> dict:
    """One export in this process; returns its measurements."""
    import django

    django.setup()
    from arena.export import Export, ExportForm

    form = ExportForm(data={"format": fmt, "file_type": file_type, "dimension": dimension,
                            "include_flagged": include_flagged})
    if not form.is_valid():
        raise SystemExit(form.error_dict())
    export = Export(form.to_options())
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    memory = AnonymousMemoryPeak().start()
    cpu, pg_cpu = time.process_time(), process_cpu(backend)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / export.download_name
        with out.open("wb") as handle:
            for chunk in export.iter_zip():
                handle.write(chunk)
        size = out.stat().st_size
    seconds = time.perf_counter() - started
    memory.stop()
    cpu, pg_cpu = time.process_time() - cpu, process_cpu(backend) - pg_cpu
    counts = export.manifest["counts"]
    return {
        "format": fmt, "file_type": file_type, "dimension": dimension, "votes": counts["votes"],
        "rows": counts["rows"], "seconds": round(seconds, 2), "votes_per_s": round(counts["votes"] / seconds),
        "rows_per_s": round(counts["rows"] / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # RSS also counts pages of memory-mapped files (the HF export's Arrow files): this is the rest.
        "peak_anon_rss_mb": round(memory.peak_kb / 1024, 1),
        "output_mb": round(size / 1e6, 1),
        # The machine is shared: CPU seconds show what the export itself costs, whatever the load.
        "python_cpu_s": round(cpu, 1), "postgres_cpu_s": round(pg_cpu, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


class AnonymousMemoryPeak:
    """Samples the process's anonymous resident memory (RssAnon: heap, not mapped files) every 20 ms."""

    def __init__(self):
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> AnonymousMemoryPeak:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            if self._stop.wait(0.02):
                return


def process_cpu(pid: int) -> float:
    """user+system CPU seconds of a local process (the PostgreSQL backend serving the export)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--db", default="arena_export_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the existing database as loaded")
    parser.add_argument("--only", help="e.g. ebaluatoia:jsonl.gz,dpo:hf (default: every format)")
    parser.add_argument("--include-flagged", action="store_true")
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-one", nargs=3, metavar=("FORMAT", "FILE_TYPE", "DIMENSION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ["DATABASE_URL"] = database_url(args.db)
    os.environ.setdefault("ARENA_EXPORT_SALT", "bench-salt")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    if args.run_one:
        print(json.dumps(run_one(*args.run_one, args.include_flagged)))
        return
    if args.load_only:
        load(args.votes)
        return
    if not args.reuse:
        admin(f'DROP DATABASE IF EXISTS "{args.db}"')
        admin(f'CREATE DATABASE "{args.db}"')
        subprocess.run([sys.executable, __file__, "--db", args.db, "--votes", str(args.votes), "--load-only"],
                       check=True, env=os.environ, cwd=ROOT)
    runs = [r for r in RUNS if not args.only or f"{r[0]}:{r[1]}" in args.only.split(",")]
    try:
        for fmt, file_type, dimension in runs:
            command = [sys.executable, __file__, "--db", args.db, "--run-one", fmt, file_type, dimension]
            if args.include_flagged:
                command.append("--include-flagged")
            result = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ, cwd=ROOT)
            print(result.stdout.strip(), flush=True)
    finally:
        if not args.keep:
            admin(f'DROP DATABASE IF EXISTS "{args.db}"')


if __name__ == "__main__":
    main()
