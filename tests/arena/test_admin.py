"""The admin (arena/admin.py): settings created once, votes excluded by hand, judged conversations shown."""
import pytest
from django.test import Client

from arena.models import ArenaConfig, Vote
from tests.arena.factories import VALID, logged_in, ready_battle


@pytest.fixture
def admin_client(django_user_model):
    admin = django_user_model.objects.create_superuser("zuzendaria", "z@example.org", "Admin-2026-pass")
    client = Client()
    client.force_login(admin)
    client.cookies["arena_language"] = "en"
    return client


def run_action(client, action: str, ids) -> None:
    response = client.post("/admin/arena/vote/", {"action": action, "_selected_action": [str(i) for i in ids]})
    assert response.status_code == 302, response.content[:300]


@pytest.mark.django_db
def test_manual_exclusion_and_recheck(admin_client, participant, echo_models, django_capture_on_commit_callbacks):
    battle = ready_battle(participant, echo_models)  # answers "Kaixo A!" are shorter than the 20-char minimum
    with django_capture_on_commit_callbacks(execute=True):
        logged_in(participant).post(f"/battle/{battle.pk}/vote/", VALID)
    vote = Vote.objects.get()
    assert vote.exclusion_reasons == ["too_short"]  # flagged automatically after the vote

    run_action(admin_client, "exclude_manually", [vote.pk])
    vote.refresh_from_db()
    assert vote.excluded and set(vote.exclusion_reasons) == {"too_short", "manual"}

    run_action(admin_client, "recheck_quality", [vote.pk])  # checks keep "manual"
    vote.refresh_from_db()
    assert set(vote.exclusion_reasons) == {"too_short", "manual"}

    run_action(admin_client, "include_manually", [vote.pk])
    vote.refresh_from_db()
    assert vote.exclusion_reasons == ["too_short"] and vote.excluded


@pytest.mark.django_db
def test_votes_cannot_be_deleted_in_the_admin(admin_client, participant, echo_models):
    battle = ready_battle(participant, echo_models)
    logged_in(participant).post(f"/battle/{battle.pk}/vote/", VALID)
    vote = Vote.objects.get()
    assert admin_client.get(f"/admin/arena/vote/{vote.pk}/delete/").status_code == 403
    assert Vote.objects.count() == 1


@pytest.mark.django_db
def test_the_vote_page_shows_the_frozen_conversations_read_only(admin_client, participant, echo_models):
    battle = ready_battle(participant, echo_models)
    logged_in(participant).post(f"/battle/{battle.pk}/vote/", VALID)
    vote = Vote.objects.get()
    page = admin_client.get(f"/admin/arena/vote/{vote.pk}/change/").content.decode()
    assert "Kaixo A!" in page and "Kaixo B!" in page and "Zu Alfa zara." in page
    assert 'name="conversation_a"' not in page and "<textarea" not in page  # shown, not editable


@pytest.mark.django_db
def test_the_settings_are_created_once_in_the_admin_and_then_edited(admin_client):
    ArenaConfig.objects.all().delete()  # no admin has saved them yet: the site runs on the defaults
    fields = {"minimum_age": "16", "sampling_mode": "uniform", "boosted_model": "", "boost_factor": "3.0",
              "both_bad_as_tie": "on", "min_answer_chars": "20", "daily_vote_cap": "200"}
    response = admin_client.post("/admin/arena/arenaconfig/add/", fields)
    assert response.status_code == 302, response.content[:300]
    config = ArenaConfig.objects.get()
    assert config.pk == ArenaConfig.SINGLETON_PK and ArenaConfig.current().minimum_age == 16
    assert admin_client.get("/admin/arena/arenaconfig/add/").status_code == 403  # one row only
    response = admin_client.post(f"/admin/arena/arenaconfig/{config.pk}/change/", {**fields, "minimum_age": "18"})
    assert response.status_code == 302 and ArenaConfig.current().minimum_age == 18


@pytest.mark.django_db
def test_admin_frame_settings_page_and_no_participants_by_hand(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "Basque model arena" in index and "Django administration" not in index
    ArenaConfig.objects.all().delete()
    response = admin_client.get("/admin/arena/arenaconfig/")  # no settings row yet: the form to create it
    assert response.status_code == 302 and response["Location"] == "/admin/arena/arenaconfig/add/"
    ArenaConfig.current().save()
    response = admin_client.get("/admin/arena/arenaconfig/")  # one row: open it, not a list of one
    assert response.status_code == 302 and response["Location"].endswith(f"/{ArenaConfig.SINGLETON_PK}/change/")
    assert admin_client.get("/admin/arena/participant/add/").status_code == 403  # only sign-up, with consent
