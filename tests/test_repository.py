"""The repository stands alone: nothing it tracks reads from a folder beside the clone."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./shared|parents?\[\d\]\s*/\s*\"shared\"|parent\s*/\s*\"shared\"")


def test_no_tracked_file_refers_to_a_folder_beside_the_clone():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".sh", ".yaml", ".yml", ".ini", ".txt", ".html", ".js", ""}:
            continue
        if name == "tests/test_repository.py" or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert offenders == []


def test_the_data_pack_ships_with_its_licences():
    from config.datapack import benchmarks_dir, corpus_dir, data_pack_dir

    readme = (data_pack_dir() / "README.md").read_text(encoding="utf-8")
    assert "NonCommercial" in readme and "CC BY-NC-SA" in readme
    for folder in (benchmarks_dir(), corpus_dir()):
        assert sorted(folder.glob("*.jsonl")), folder

