"""Which votes an export reads (arena/export/source.py): the filters."""
from __future__ import annotations

from tests.arena.factories import data_entry, jsonl_rows, run_export


def test_filters_by_date_model_level_and_education(arena_data):
    battles = arena_data["battles"]

    def ids(**filters) -> set[str]:
        return {row["id"] for row in jsonl_rows(data_entry(run_export(format="ebaluatoia", **filters)[0]))}

    assert ids(date_from="2026-03-02", date_to="2026-03-03") == {str(battles["two_turns"].pk), str(battles["both_bad"].pk)}
    assert ids(models=["Gemma-Eus"]) == {str(battles[k].pk) for k in ("single", "two_turns", "mixed")}
    assert ids(models=["Latxa-8B", "Llama-Eus"], models_match="both") == {str(battles["both_bad"].pk)}
    assert ids(basque_levels=["native"]) == {str(battles["two_turns"].pk), str(battles["mixed"].pk)}
    assert ids(educations=["secondary", "university"]) == {str(battles["single"].pk), str(battles["both_bad"].pk)}
    assert ids(date_from="2027-01-01") == set()
