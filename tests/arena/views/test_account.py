"""Sign-up with consent and age, own-data download, and account deletion that keeps votes anonymised."""
from __future__ import annotations

import gzip
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from arena.models import Battle, ConsentText, Participant, Vote
from tests.arena.conftest import arena_config
from tests.arena.factories import (EXPORT_SETTINGS, VALID, data_entry, jsonl_rows, logged_in, participant_hash,
                                   ready_battle, run_export)

SIGNUP = {
    "username": "itziar", "email": "itziar@example.org", "password1": "Txakolina-2026!", "password2": "Txakolina-2026!",
    "basque_level": "native", "education": "postgraduate", "dialect_area": "bizkaiera", "age_band": "30-44",
    "age_confirmed": "on", "consent": "on",
}


@pytest.mark.django_db
def test_signup_stores_profile_and_consent_version():
    ConsentText.objects.create(version="2027-01", text_eu="Bai.", text_es="Sí.", text_en="Yes.")
    client = Client()
    page = client.get(reverse("arena:signup"))
    assert b"2027-01" in page.content
    response = client.post(reverse("arena:signup"), SIGNUP)
    assert response.status_code == 302 and response["Location"] == reverse("arena:battle")
    participant = Participant.objects.get(user__username="itziar")
    assert participant.consent_version == "2027-01"
    assert (participant.basque_level, participant.education, participant.dialect_area) == ("native", "postgraduate", "bizkaiera")
    assert client.get(reverse("arena:battle")).status_code == 200  # logged in


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["consent", "age_confirmed", "basque_level", "education"])
def test_signup_requires_consent_age_and_profile(missing):
    data = {key: value for key, value in SIGNUP.items() if key != missing}
    response = Client().post(reverse("arena:signup"), data)
    assert response.status_code == 200
    assert response.context["form"].errors[missing]
    assert not get_user_model().objects.filter(username="itziar").exists()


@pytest.mark.django_db
def test_minimum_age_is_the_admins_setting():
    arena_config(minimum_age=16)
    client = Client()
    client.cookies["arena_language"] = "en"
    content = client.get(reverse("arena:signup")).content.decode()
    assert "I am at least 16 years old." in content


@pytest.mark.django_db
def test_download_my_data(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    unvoted = ready_battle(participant, echo_models)
    client = logged_in(participant)
    client.post(reverse("arena:vote", args=[battle.pk]), VALID)
    response = client.get(reverse("arena:download_my_data"))
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert data["account"]["username"] == "ane" and data["profile"]["basque_level"] == "C1-C2"
    battles = {entry["id"]: entry for entry in data["battles"]}
    voted = battles[str(battle.pk)]
    assert voted["vote"]["overall"] == "A"
    assert {m["content"] for m in voted["messages"]} >= {"Kaixo", "Kaixo A!"}
    # Before the vote nothing hints at the models, not even their system prompts.
    assert {"vote", "models", "conversations"}.isdisjoint(battles[str(unvoted.pk)])
    # After it, each side's conversation as judged (tests/arena/test_transcripts.py: the same everywhere).
    assert voted["conversations"]["A"] == [
        {"role": "system", "content": "Zu Alfa zara."}, {"role": "user", "content": "Kaixo"},
        {"role": "assistant", "content": "Kaixo A!"},
    ]


@pytest.mark.django_db
def test_delete_account_keeps_votes_anonymised(participant, echo_models):
    voted = ready_battle(participant, echo_models)
    open_battle = ready_battle(participant, echo_models)
    client = logged_in(participant)
    client.post(reverse("arena:vote", args=[voted.pk]), VALID)
    page = client.get(reverse("arena:my_data")).content.decode()
    assert "anonymi" in page.lower() or "anonimi" in page.lower()
    refused = client.post(reverse("arena:delete_account"), {})
    assert refused.status_code == 302 and get_user_model().objects.filter(username="ane").exists()
    response = client.post(reverse("arena:delete_account"), {"confirm": "on"})
    assert response.status_code == 302
    assert not get_user_model().objects.filter(username="ane").exists()
    participant.refresh_from_db()
    assert participant.user is None and participant.deleted_at is not None
    assert participant.dialect_area == "" and participant.age_band == ""
    vote = Vote.objects.get()
    assert vote.participant_id == participant.pk and vote.basque_level == "C1-C2"
    assert vote.battle_id != voted.pk  # re-keyed (test_deleted_data_no_longer_matches_...)
    abandoned = Battle.objects.exclude(pk=vote.battle_id).get()
    assert abandoned.status == Battle.Status.ABANDONED and abandoned.pk != open_battle.pk
    assert client.get(reverse("arena:battle")).status_code == 302  # logged out


@pytest.mark.django_db
def test_pages_render(participant):
    client = logged_in(participant)
    for name in ("arena:home", "arena:battle", "arena:contributions", "arena:leaderboard", "arena:my_data"):
        assert client.get(reverse(name)).status_code == 200, name
    assert Client().get(reverse("arena:battle")).status_code == 302  # login required


def export_bytes(**fields) -> bytes:
    """Every file of an export, decompressed and joined."""
    files, _export = run_export(**fields)
    return b"".join(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data for data in files.values())


@pytest.mark.django_db
def test_deleted_data_no_longer_matches_the_download_or_earlier_exports(participant, echo_models, settings,
                                                                        django_capture_on_commit_callbacks):
    """The promise on the "My data" page: after deletion, nothing in the volunteer's earlier data
    download (participant id, battle ids) nor the old hash leads to their rows in an export."""
    settings.ARENA = EXPORT_SETTINGS
    battles = [ready_battle(participant, echo_models) for _ in range(2)]
    ready_battle(participant, echo_models)  # left open: abandoned by the deletion
    client = logged_in(participant)
    with django_capture_on_commit_callbacks(execute=False):  # the quality checks are not the point here
        for battle in battles:
            assert client.post(reverse("arena:vote", args=[battle.pk]), VALID).status_code == 200
    download = json.loads(client.get(reverse("arena:download_my_data")).content)
    downloaded_ids = {download["profile"]["participant_id"], *(entry["id"] for entry in download["battles"])}
    old_hash = participant_hash(download["profile"]["participant_id"])
    formats = [{"format": "ebaluatoia", "file_type": "jsonl"}, {"format": "lmsys", "file_type": "jsonl"},
               {"format": "dpo", "file_type": "jsonl", "dimension": "all"}]
    before = [export_bytes(**fields, include_flagged="on") for fields in formats]
    before_ids = {row["id"] for row in jsonl_rows(data_entry(run_export(format="ebaluatoia", file_type="jsonl")[0]))}
    assert all(str(battle.pk).encode() in before[0] for battle in battles) and old_hash.encode() in before[0]

    assert client.post(reverse("arena:delete_account"), {"confirm": "on"}).status_code == 302

    for fields in formats:
        after = export_bytes(**fields, include_flagged="on")
        leads = [token for token in (*downloaded_ids, old_hash) if token.encode() in after]
        assert leads == [], f"{fields['format']}: {leads} from the download still match the export"
    rows = jsonl_rows(data_entry(run_export(format="ebaluatoia", file_type="jsonl")[0]))
    assert len(rows) == 2  # the votes stay in the study...
    assert {row["id"] for row in rows}.isdisjoint(downloaded_ids)  # ...under new battle ids
    (new_hash,) = {row["username"] for row in rows}
    assert new_hash != old_hash  # ...and a new participant hash
    participant.refresh_from_db()
    assert new_hash == participant_hash(participant.public_id)
    # The earlier exports' ids match nothing now either: an old export cannot be joined to a new one.
    assert len(before_ids) == 2 and before_ids.isdisjoint(row["id"] for row in rows)


@pytest.mark.django_db
def test_my_data_page_says_what_stays_after_deletion(participant):
    client = logged_in(participant)
    client.cookies["arena_language"] = "en"
    page = client.get(reverse("arena:my_data")).content.decode()
    for promise in ("new random participant id", "new battle ids", "the text of your prompts"):
        assert promise in page, promise


@pytest.mark.django_db
def test_signup_preselects_no_level_or_education():
    """A volunteer who skips these questions is asked again, never counted as a beginner."""
    ConsentText.objects.create(version="2027-01", text_eu="Bai.", text_es="Sí.", text_en="Yes.")
    form = Client().get(reverse("arena:signup")).context["form"]
    for name in ("basque_level", "education"):
        assert form[name].value() in (None, "")
        assert 'value="" selected' in str(form[name]), name
        assert form.fields[name].required
    response = Client().post(reverse("arena:signup"), {**SIGNUP, "basque_level": "", "education": ""})
    assert set(response.context["form"].errors) == {"basque_level", "education"}
    html = response.content.decode()
    assert 'aria-invalid="true"' in html and 'id="id_basque_level_error"' in html  # the error beside its field
    assert 'aria-describedby="id_basque_level_error' in html


@pytest.mark.django_db
def test_delete_account_confirmation_is_checked_by_the_server_in_the_page_language(participant):
    """No browser bubble (in the browser's language): the form is novalidate, the site says it."""
    client = logged_in(participant)
    client.cookies["arena_language"] = "eu"
    html = client.get(reverse("arena:my_data")).content.decode()
    form = html[html.index('action="/account/delete/"') - 60:]
    assert "novalidate" in form[:200]
    response = client.post(reverse("arena:delete_account"), {}, follow=True)
    assert Participant.objects.filter(pk=participant.pk).exists()
    assert "Markatu laukia" in response.content.decode()


@pytest.mark.django_db
def test_password_reset_sends_a_link_that_sets_a_new_password(participant, mailoutbox, settings):
    client = Client()
    client.cookies["arena_language"] = "en"
    assert "Forgot your password?" in client.get(reverse("login")).content.decode()
    response = client.post(reverse("password_reset"), {"email": participant.user.email})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert len(mailoutbox) == 1 and participant.user.username in mailoutbox[0].body
    link = next(line for line in mailoutbox[0].body.splitlines() if "/account/password/reset/" in line)
    form_page = client.get(link.split("testserver", 1)[1], follow=True)
    assert form_page.status_code == 200 and "new_password1" in form_page.content.decode()
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": "Berria-2026-pasahitza",
                                                          "new_password2": "Berria-2026-pasahitza"})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    participant.user.refresh_from_db()
    assert participant.user.check_password("Berria-2026-pasahitza")


def test_the_email_backend_is_a_setting_with_the_console_by_default(monkeypatch):
    import runpy

    from config.settings import base

    monkeypatch.delenv("DJANGO_EMAIL_BACKEND", raising=False)
    assert runpy.run_path(base.__file__)["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    monkeypatch.setenv("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    assert runpy.run_path(base.__file__)["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.django_db
def test_my_data_holds_my_nickname_choice_and_my_reactions(participant, echo_models):
    from arena.models import Message, Reaction

    battle = ready_battle(participant, echo_models)
    participant.nickname, participant.show_on_board = "Mendizale", True
    participant.save()
    answer = Message.objects.get(battle=battle, role="assistant", side="B")
    Reaction.objects.create(message=answer, participant=participant, kind=Reaction.Kind.BAD_BASQUE)
    data = json.loads(logged_in(participant).get(reverse("arena:download_my_data")).content)
    assert (data["profile"]["nickname"], data["profile"]["show_on_board"]) == ("Mendizale", True)
    entry = next(entry for entry in data["battles"] if entry["id"] == str(battle.pk))
    assert entry["reactions"] == [{"turn": answer.turn, "side": "B", "kind": "bad_basque"}]
