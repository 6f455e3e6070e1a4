"""One conversation per side (arena/transcripts.py), and every path that sends, stores, shows or
exports it gives the same one, an answer stopped before its first token included as ""."""
from __future__ import annotations

import html
import io
import json
import re

import pyarrow.parquet as pq
import pytest
from django.test import Client
from django.urls import reverse

from arena import selectors, services, transcripts
from arena.models import Battle, Message, Vote, VoteTranscript
from tests.arena.factories import EXPORT_SETTINGS, VALID, data_entry, jsonl_rows, logged_in, run_export

ROWS = [  # (turn, role, side, content), in no particular order
    (1, "assistant", "B", "B1"), (0, "assistant", "A", ""), (1, "user", "", "Eta orain?"),
    (0, "user", "", "Kaixo"), (1, "assistant", "A", "A1"), (0, "assistant", "B", "B0"),
]


def test_a_side_is_its_system_prompt_then_the_prompts_and_its_own_answers_by_turn():
    assert transcripts.side_conversation("Zu A zara.", ROWS, "A") == [
        {"role": "system", "content": "Zu A zara."},
        {"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": ""},  # empty answers are kept
        {"role": "user", "content": "Eta orain?"}, {"role": "assistant", "content": "A1"},
    ]
    assert transcripts.side_conversation("", ROWS, "B") == [  # no system prompt, no system message
        {"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "B0"},
        {"role": "user", "content": "Eta orain?"}, {"role": "assistant", "content": "B1"},
    ]


def test_encoded_sides_are_compact_utf8_json_of_both_conversations():
    side_a, side_b = transcripts.encoded_sides({"system_prompt": "Zu A zara. ñ"}, {}, ROWS)
    assert side_a.startswith('[{"role":"system","content":"Zu A zara. ñ"},{"role":"user","content":"Kaixo"},')
    assert json.loads(side_b) == transcripts.side_conversation("", ROWS, "B")


def admin_page_conversations(client, vote) -> dict[str, list[dict]]:
    page = client.get(reverse("admin:arena_vote_change", args=[vote.pk])).content.decode()
    side_a, side_b = re.findall(r"<pre>(.*?)</pre>", page, flags=re.S)
    return {"A": json.loads(html.unescape(side_a)), "B": json.loads(html.unescape(side_b))}


def exported_conversations() -> dict[str, dict[str, list[dict]]]:
    """conv_a/conv_b of the one vote through the line writer (PostgreSQL: SQL) and the row builder."""
    lines = jsonl_rows(data_entry(run_export(format="ebaluatoia", file_type="jsonl")[0]))
    rows = pq.read_table(io.BytesIO(data_entry(run_export(format="ebaluatoia", file_type="parquet")[0]))).to_pylist()
    lmsys = jsonl_rows(data_entry(run_export(format="lmsys", file_type="jsonl")[0]))
    assert len(lines) == len(rows) == len(lmsys) == 1
    systems = {side: [m for m in lines[0][f"conv_{side.lower()}"] if m["role"] == "system"] for side in "AB"}
    return {
        "export lines": {"A": lines[0]["conv_a"], "B": lines[0]["conv_b"]},
        "export rows": {"A": rows[0]["conv_a"], "B": rows[0]["conv_b"]},
        # lmsys drops the system message, as the Chatbot Arena schema does; the rest is the same.
        "export lmsys": {side: systems[side] + lmsys[0][f"conversation_{side.lower()}"] for side in "AB"},
    }


@pytest.mark.django_db
def test_every_path_gives_the_same_conversation_including_an_empty_answer(
        participant, echo_models, settings, django_user_model, django_capture_on_commit_callbacks):
    settings.ARENA = EXPORT_SETTINGS
    model_a, model_b = echo_models  # system prompts "Zu Alfa zara." and "Zu Beta zara."
    battle = Battle.objects.create(
        participant=participant, model_a=model_a, model_b=model_b, status=Battle.Status.READY,
        snapshot_a=model_a.sampling_snapshot(), snapshot_b=model_b.sampling_snapshot(),
    )
    Message.objects.create(battle=battle, turn=0, role="user", content="Kaixo")
    Message.objects.create(battle=battle, turn=0, role="assistant", side="A", content="",  # stopped at once
                           finish_reason="cancelled")
    Message.objects.create(battle=battle, turn=0, role="assistant", side="B", content="Kaixo! Zer moduz?")
    # The second turn through the services the WebSocket consumer uses.
    plan = services.begin_turn(battle_id=battle.pk, participant=participant, text="Eta orain?")
    assert services.complete_turn(battle_id=battle.pk, turn=1, status=Battle.Status.READY, answers=[
        services.Answer(side="A", content="Orain bai.", finish_reason="stop"),
        services.Answer(side="B", content="", finish_reason="cancelled"),
    ]) == Battle.Status.READY
    expected = {
        "A": [{"role": "system", "content": "Zu Alfa zara."}, {"role": "user", "content": "Kaixo"},
              {"role": "assistant", "content": ""}, {"role": "user", "content": "Eta orain?"},
              {"role": "assistant", "content": "Orain bai."}],
        "B": [{"role": "system", "content": "Zu Beta zara."}, {"role": "user", "content": "Kaixo"},
              {"role": "assistant", "content": "Kaixo! Zer moduz?"}, {"role": "user", "content": "Eta orain?"},
              {"role": "assistant", "content": ""}],
    }
    # Each model was sent its conversation so far (the empty answer keeps the roles alternating).
    assert {"A": plan.messages_a, "B": plan.messages_b} == {side: conv[:-1] for side, conv in expected.items()}

    with django_capture_on_commit_callbacks(execute=False):  # the quality checks are not the point here
        assert logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID).status_code == 200
    vote = Vote.objects.select_related("transcript").get()
    admin = django_user_model.objects.create_superuser("zuzendaria", "z@example.org", "Admin-2026-pass")
    admin_client = Client()
    admin_client.force_login(admin)

    def download() -> dict[str, list[dict]]:
        data = json.loads(logged_in(participant).get(reverse("arena:download_my_data")).content)
        return data["battles"][0]["conversations"]

    paths = {
        "frozen with the vote": {"A": json.loads(vote.transcript.side_a), "B": json.loads(vote.transcript.side_b)},
        "volunteer's download": download(),
        "admin vote page": admin_page_conversations(admin_client, vote),
        **exported_conversations(),
    }
    # A vote stored without a transcript (imports, fixtures) is rebuilt by the same rule everywhere
    # (on PostgreSQL the export's line writer rebuilds it in SQL).
    VoteTranscript.objects.all().delete()
    vote = Vote.objects.get()
    paths |= {f"{name}, rebuilt": conversations for name, conversations in {
        "volunteer's download": download(),
        "admin vote page": admin_page_conversations(admin_client, vote),
        "selectors.judged_conversations": selectors.judged_conversations(vote),
        **exported_conversations(),
    }.items()}
    assert len(paths) == 12
    for name, conversations in paths.items():
        assert conversations == expected, name
