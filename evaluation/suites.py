"""The Basque benchmark suites: which lm-eval tasks they hold and how the offline ones are built.

Offline tasks are lm-eval YAMLs kept in ``lm_tasks/`` with an ``@BENCHMARKS@`` placeholder, because
lm-eval needs concrete ``data_files`` paths and the data pack may live anywhere. ``materialize``
copies them into a cache folder with absolute paths and generates one task per EusExams exam plus
the ``eus_exams_eu_local`` group (size-weighted, so it equals accuracy over the whole file).
Offline names are the upstream name + ``_local``, so they never shadow the hub tasks, which keep
their upstream names unchanged.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .errors import EvaluationError
from .paths import benchmarks_dir

TEMPLATES_DIR = Path(__file__).resolve().parent / "lm_tasks"
LOCAL_SUFFIX = "_local"
EXAMS_FILE = "eus_exams_eu.jsonl"
EXAMS_GROUP = "eus_exams_eu_local"


@dataclass(frozen=True)
class Benchmark:
    """One headline benchmark: its upstream lm-eval name, data file and the metric the average uses."""

    name: str
    data_file: str
    metric: str
    label: str

    @property
    def local_name(self) -> str:
        return self.name + LOCAL_SUFFIX


# Order = column order in the benchmarks table. Metrics as in the Latxa paper's tables.
BENCHMARKS = [
    Benchmark("eus_trivia", "eus_trivia.jsonl", "acc", "EusTrivia"),
    Benchmark("eus_exams_eu", EXAMS_FILE, "acc", "EusExams"),
    Benchmark("bec2016eu", "basqueglue_bec.jsonl", "f1", "BEC"),
    Benchmark("bhtc_v2", "basqueglue_bhtc.jsonl", "f1", "BHTC"),
    Benchmark("epec_koref_bin", "basqueglue_coref.jsonl", "acc", "Coref"),
    Benchmark("qnlieu", "basqueglue_qnli.jsonl", "acc", "QNLI"),
    Benchmark("vaxx_stance", "basqueglue_vaxx.jsonl", "f1", "VaxxStance"),
    Benchmark("wiceu", "basqueglue_wic.jsonl", "acc", "WiC"),
]
BY_NAME = {b.name: b for b in BENCHMARKS}

# Hub suite: upstream names, unchanged. basque-glue is left out: its upstream F1 aggregation calls
# datasets.load_metric, removed in datasets>=3 (the offline copies compute F1 themselves).
SUITES = {
    "basque": [b.local_name for b in BENCHMARKS],
    "basque-hub": ["eus_trivia", "eus_exams_eu", "eus_proficiency", "eus_reading", "basque_bench"],
}


def canonical_name(task: str) -> str:
    """The upstream name a result is reported under (``eus_trivia_local`` -> ``eus_trivia``)."""
    return task[: -len(LOCAL_SUFFIX)] if task.endswith(LOCAL_SUFFIX) else task


def is_local(task: str) -> bool:
    return task.endswith(LOCAL_SUFFIX)


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _data_path(data_file: str, data_dir: Path) -> Path:
    path = data_dir / data_file
    if not path.is_file():
        raise EvaluationError(
            f"benchmark data file missing: {path} (the offline data pack is looked up at <repo>/../shared/data; "
            "set ARENA_SHARED_DATA to point elsewhere)"
        )
    return path


def exam_items(data_dir: Path | None = None) -> dict[str, list[dict]]:
    """EusExams items grouped by exam, in file order."""
    by_exam: dict[str, list[dict]] = {}
    for item in _read_jsonl(_data_path(EXAMS_FILE, data_dir or benchmarks_dir())):
        by_exam.setdefault(item["exam"], []).append(item)
    return by_exam


def exam_task_name(exam: str) -> str:
    return f"eus_exams_eu_{exam}{LOCAL_SUFFIX}"


def expected_item_counts(data_dir: Path | None = None) -> dict[str, int]:
    """Items per offline task, counted straight from the data files (what lm-eval must see)."""
    data_dir = data_dir or benchmarks_dir()
    counts: dict[str, int] = {}
    for bench in BENCHMARKS:
        if bench.data_file == EXAMS_FILE:
            continue
        with _data_path(bench.data_file, data_dir).open(encoding="utf-8") as handle:
            counts[bench.local_name] = sum(1 for line in handle if line.strip())
    exams = Counter(item["exam"] for items in exam_items(data_dir).values() for item in items)
    for exam, count in exams.items():
        counts[exam_task_name(exam)] = count
    counts[EXAMS_GROUP] = sum(exams.values())
    return counts


def _fingerprint(data_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(TEMPLATES_DIR.iterdir()):
        if path.is_file() and path.suffix != ".pyc":
            digest.update(path.name.encode() + path.read_bytes())
    for bench in BENCHMARKS:
        stat = _data_path(bench.data_file, data_dir).stat()
        digest.update(f"{data_dir}/{bench.data_file}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def materialize(data_dir: Path | None = None, cache_root: Path | None = None) -> Path:
    """Write the offline task YAMLs (absolute data paths) to a cache folder and return it.

    The folder is keyed by the templates and data files, so it is reused between runs (and the
    datasets cache with it) and rebuilt when either changes.
    """
    data_dir = (data_dir or benchmarks_dir()).resolve()
    cache_root = cache_root or Path(tempfile.gettempdir()) / "basque-arena-lm-tasks"
    target = cache_root / _fingerprint(data_dir)
    if (target / "READY").exists():
        return target
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=_mkdir(cache_root)))
    for template in TEMPLATES_DIR.iterdir():
        if template.suffix == ".yaml":
            text = template.read_text(encoding="utf-8").replace("@BENCHMARKS@", str(data_dir))
            (staging / template.name).write_text(text, encoding="utf-8")
        elif template.is_file() and template.suffix != ".pyc":
            shutil.copy2(template, staging / template.name)
    _write_exam_tasks(staging, target, exam_items(data_dir))
    (staging / "READY").write_text("ok\n")
    try:
        staging.rename(target)
    except OSError:  # another process won the race: use its copy
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_exam_tasks(folder: Path, final: Path, by_exam: dict[str, list[dict]]) -> None:
    """Write into ``folder`` (staging) the files that will be read from ``final`` after the rename."""
    # One data file per exam: lm-eval's json loader cannot filter rows, and per-exam scores are reported.
    data = _mkdir(folder / "eus_exams_eu")
    names = []
    for exam, items in sorted(by_exam.items()):
        path = data / f"{exam}.jsonl"
        path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
        name = exam_task_name(exam)
        names.append(name)
        (folder / f"{name}.yaml").write_text(
            f"include: eus_exams_eu_local_base\ntask: {name}\n"
            f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(final / 'eus_exams_eu' / path.name))}\n",
            encoding="utf-8",
        )
    group = ["group: " + EXAMS_GROUP, "task:"] + [f"  - {name}" for name in names] + [
        "aggregate_metric_list:",
        "  - metric: acc\n    aggregation: mean\n    weight_by_size: true",
        "  - metric: acc_norm\n    aggregation: mean\n    weight_by_size: true",
        "metadata:\n  version: 0.0",
    ]
    (folder / f"{EXAMS_GROUP}.yaml").write_text("\n".join(group) + "\n", encoding="utf-8")


def resolve_tasks(suite: str | None, tasks: list[str] | None) -> list[str]:
    """The lm-eval task/group names a run evaluates: explicit ``--tasks`` win over ``--suite``.

    Bare upstream names of offline benchmarks are accepted too when the suite is offline
    (``--suite basque --tasks eus_trivia`` means the local copy).
    """
    if tasks:
        names = [t.strip() for t in tasks if t and t.strip()]
        if not names:
            raise EvaluationError("--tasks is empty")
        if suite == "basque":
            names = [BY_NAME[n].local_name if n in BY_NAME else n for n in names]
        return names
    if suite not in SUITES:
        raise EvaluationError(f"unknown suite {suite!r}; choose one of: {', '.join(SUITES)}")
    return list(SUITES[suite])
