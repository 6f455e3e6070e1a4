"""The Basque benchmark suites, as lm-eval configuration, and what YAML alone cannot do.

A suite is one lm-eval group. ``--suite basque`` is ``lm_tasks/basque_local.yaml``, a group of the
offline task YAMLs in ``lm_tasks/`` (upstream name + ``_local``, so they never shadow the hub tasks);
``--suite basque-hub`` is ``lm_tasks/basque_hub.yaml``, upstream's ``basque_bench`` members with an
EusExams group (``_hub``); ``--suite basque-study`` is the study's 14 tasks (``study.py``). The
offline suite's rows (order, label, headline metric) are read from its group YAML. What stays in Python:

- the data pack's location: lm-eval needs concrete ``data_files`` paths, so the YAMLs carry an
  ``@BENCHMARKS@`` placeholder and ``materialize`` copies them into a cache folder with absolute paths;
- EusExams' split into one task per exam: which exams exist is read from the data file.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from config.datapack import benchmarks_dir

from .errors import EvaluationError

TEMPLATES_DIR = Path(__file__).resolve().parent / "lm_tasks"
PLACEHOLDER = "@BENCHMARKS@"
LOCAL_SUFFIX = "_local"
HUB_SUFFIX = "_hub"
SUITES = {"basque": "basque_local", "basque-hub": "basque_hub", "basque-study": ""}  # CLI name -> lm-eval group
STUDY_SUITE = "basque-study"  # resolved at run time: hub names when reachable, else offline copies
EXAMS_BASE = "eus_exams_eu_local_base"  # included by each generated per-exam task
EXAMS_GROUP = "eus_exams_eu_local"


@dataclass(frozen=True)
class Benchmark:
    """One member of the offline suite, as the benchmarks table shows it."""

    name: str  # upstream name: results are stored under it, so offline and hub runs share a column
    task: str  # the lm-eval task or group in basque_local
    metric: str  # the headline metric, used in the Basque average
    label: str


class _Loader(yaml.SafeLoader):
    """Reads lm-eval YAMLs without importing lm-eval: ``!function`` stays a string."""


_Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _read_yaml(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # _Loader is a SafeLoader


@cache
def _templates() -> dict[str, dict]:
    """Task or group name -> its YAML template in ``lm_tasks/`` (the exams base under its file name)."""
    configs = {EXAMS_BASE: _read_yaml(TEMPLATES_DIR / EXAMS_BASE)}
    for path in sorted(TEMPLATES_DIR.glob("*.yaml")):
        config = _read_yaml(path)
        configs[config.get("group") or config["task"]] = config
    return configs


@cache
def benchmarks() -> tuple[Benchmark, ...]:
    """The members of ``basque_local``, in table order."""
    templates = _templates()
    rows = []
    for task in templates[SUITES["basque"]]["task"]:
        config = templates[task]
        metrics = config.get("aggregate_metric_list") or config["metric_list"]
        rows.append(Benchmark(name=canonical_name(task), task=task, metric=metrics[0]["metric"],
                              label=config.get("group_alias") or config.get("task_alias") or task))
    return tuple(rows)


def canonical_name(task: str) -> str:
    """The upstream name a result is reported under (``eus_trivia_local``, ``eus_exams_eu_hub`` -> upstream)."""
    for suffix in (LOCAL_SUFFIX, HUB_SUFFIX):
        if task.endswith(suffix):
            return task[: -len(suffix)]
    return task


def is_local(task: str) -> bool:
    return task.endswith(LOCAL_SUFFIX)


def offline_task_names() -> set[str]:
    """Tasks and groups lm-eval finds in our folder alone (the hub groups need upstream's index too)."""
    return {name for name in _templates() if not name.endswith(HUB_SUFFIX)}


def data_files(data_dir: Path | None = None) -> dict[str, Path]:
    """Template name -> the data file it reads, which must exist (the error names the missing path)."""
    data_dir = data_dir or benchmarks_dir()
    files = {}
    for name, config in _templates().items():
        declared = ((config.get("dataset_kwargs") or {}).get("data_files") or {}).get("test", "")
        if not declared.startswith(PLACEHOLDER + "/"):
            continue
        path = data_dir / declared.removeprefix(PLACEHOLDER + "/")
        if not path.is_file():
            raise EvaluationError(
                f"benchmark data file missing: {path} (the data pack is the repository's data/ folder; "
                "set ARENA_DATA_PACK to point elsewhere)"
            )
        files[name] = path
    return files


def exam_items(data_dir: Path | None = None) -> dict[str, list[dict]]:
    """EusExams items grouped by exam, in file order."""
    by_exam: dict[str, list[dict]] = {}
    with data_files(data_dir)[EXAMS_BASE].open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                by_exam.setdefault(item["exam"], []).append(item)
    return by_exam


def exam_task_name(exam: str) -> str:
    return f"eus_exams_eu_{exam}{LOCAL_SUFFIX}"


def expected_item_counts(data_dir: Path | None = None) -> dict[str, int]:
    """Items per offline task and group, counted straight from the data files (what lm-eval must see)."""
    counts: dict[str, int] = {}
    for name, path in data_files(data_dir).items():
        if name != EXAMS_BASE:
            with path.open(encoding="utf-8") as handle:
                counts[name] = sum(1 for line in handle if line.strip())
    exams = {exam: len(items) for exam, items in exam_items(data_dir).items()}
    counts.update({exam_task_name(exam): count for exam, count in exams.items()})
    counts[EXAMS_GROUP] = sum(exams.values())
    return counts


def _fingerprint(data_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(TEMPLATES_DIR.iterdir()):
        if path.is_file() and path.suffix != ".pyc":
            digest.update(path.name.encode() + path.read_bytes())
    for path in sorted(data_files(data_dir).values()):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
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
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=cache_root))
    for template in TEMPLATES_DIR.iterdir():
        if template.suffix == ".yaml" or template.name == EXAMS_BASE:
            text = template.read_text(encoding="utf-8").replace(PLACEHOLDER, str(data_dir))
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


def _write_exam_tasks(folder: Path, final: Path, by_exam: dict[str, list[dict]]) -> None:
    """Write into ``folder`` (staging) the files that will be read from ``final`` after the rename."""
    # One data file per exam: lm-eval's json loader cannot filter rows, and per-exam scores are reported.
    data = folder / "eus_exams_eu"
    data.mkdir()
    for exam, items in sorted(by_exam.items()):
        path = data / f"{exam}.jsonl"
        path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
        name = exam_task_name(exam)
        (folder / f"{name}.yaml").write_text(
            f"include: {EXAMS_BASE}\ntask: {name}\n"
            f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(final / 'eus_exams_eu' / path.name))}\n",
            encoding="utf-8",
        )


def resolve_tasks(suite: str | None, tasks: list[str] | None, *, hub: bool | None = None) -> list[str]:
    """The lm-eval task/group names a run evaluates: explicit ``--tasks`` win over ``--suite``.

    Bare upstream names of offline benchmarks are accepted too when the suite is offline
    (``--suite basque --tasks eus_trivia`` means the local copy). ``basque-study`` asks whether the
    hub is reachable unless ``hub`` says so.
    """
    if tasks:
        names = [t.strip() for t in tasks if t and t.strip()]
        if not names:
            raise EvaluationError("--tasks is empty")
        if suite == "basque":
            local = {bench.name: bench.task for bench in benchmarks()}
            names = [local.get(name, name) for name in names]
        return names
    if suite not in SUITES:
        raise EvaluationError(f"unknown suite {suite!r}; choose one of: {', '.join(SUITES)}")
    if suite == STUDY_SUITE:
        from . import study

        return study.study_tasks(study.hub_reachable() if hub is None else hub)[0]
    return [SUITES[suite]]
