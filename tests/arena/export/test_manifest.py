"""The manifest every export carries (arena/export/manifest.py) and the flagged votes' list."""
from __future__ import annotations

import hashlib
import json

from tests.arena.factories import data_entry, jsonl_rows, run_export


def test_manifest_filters_counts_exclusions_version_and_checksum(arena_data):
    files, _ = run_export(format="ebaluatoia", file_type="jsonl.gz", date_from="2026-03-01", date_to="2026-03-31")
    manifest = json.loads(files["manifest.json"])
    data = files["basque-arena-ebaluatoia.jsonl.gz"]
    assert manifest["files"] == {
        "basque-arena-ebaluatoia.jsonl.gz": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    }
    assert manifest["filters"]["date_from"] == "2026-03-01" and manifest["filters"]["include_flagged"] is False
    assert manifest["counts"]["votes"] == manifest["counts"]["rows"] == 4
    assert manifest["counts"]["participants"] == 3
    assert manifest["counts"]["models"] == ["Gemma-Eus", "Latxa-8B", "Llama-Eus"]
    assert manifest["counts"]["first_vote_at"].startswith("2026-03-01")
    assert manifest["exclusions"] == {
        "flagged_votes_matching_filters": 1, "flagged_votes_included": False,
        "by_reason": {"identity_leak": 1, "too_fast": 1},
    }
    assert manifest["code_version"] and manifest["license"] == "cc-by-sa-4.0"
    assert len(manifest["participant_hash"]["salt_id"]) == 8


def test_include_flagged_exports_them_and_lists_their_reasons(arena_data):
    files, _ = run_export(format="lmsys", file_type="jsonl", include_flagged="on")
    flagged_id = str(arena_data["battles"]["flagged"].pk)
    assert flagged_id in {row["question_id"] for row in jsonl_rows(data_entry(files))}
    assert jsonl_rows(files["flags.jsonl"]) == [{"id": flagged_id, "exclusion_reasons": ["too_fast", "identity_leak"]}]
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["flagged_votes_exported"] == 1 and "flags.jsonl" in manifest["files"]
