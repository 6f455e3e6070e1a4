"""Campaign pages (arena/views/pages.py, arena/templatetags/campaign_ui.py): progress on the home and
battle pages, the closed notice between campaigns, the campaign page, "My contributions" with the
nickname form, the public contributors' board, and the leaderboard's campaign selector."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from arena.models import Participant
from tests.arena.factories import add_campaign_votes, logged_in, make_campaign, make_models, make_voter

pytestmark = pytest.mark.django_db


def get(client, name, language="en", **kwargs):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.get(reverse(name, **kwargs))


def test_home_shows_the_running_campaigns_progress_bar_and_per_model_targets():
    models = make_models(2)
    campaign = make_campaign("etxea", title_en="Autumn campaign", models=models, targets=[8, 0], vote_target=20)
    add_campaign_votes(campaign, make_voter(), models, 5)
    html = get(Client(), "arena:home").content.decode()
    assert "Campaign: Autumn campaign" in html
    assert re.search(r'<progress id="campaign-progress-bar" max="20" value="5"', html)
    assert '<label for="campaign-progress-bar">' in html and 'aria-live="polite"' in html
    assert "5 valid votes of the 20 this campaign aims for." in html
    assert "10 days left." in html
    assert f'<progress id="campaign-model-{models[0].pk}" max="8" value="5"' in html
    assert f"campaign-model-{models[1].pk}" not in html  # no target for it: no bar
    assert 'data-ws-path="/ws/progress/"' in html and "arena/progress.js" in html


def test_a_bar_never_overflows_its_target():
    models = make_models(2)
    campaign = make_campaign("beteta", vote_target=3)
    add_campaign_votes(campaign, make_voter(), models, 5)
    html = get(Client(), "arena:home").content.decode()
    assert '<progress id="campaign-progress-bar" max="3" value="3"' in html and "5 valid votes of the 3" in html


def test_without_campaigns_the_home_page_shows_no_campaign_block():
    html = get(Client(), "arena:home").content.decode()
    assert "campaign-progress" not in html and "campaign-closed" not in html


def test_between_campaigns_home_and_battle_pages_say_when_the_next_one_starts(participant):
    now = timezone.now()
    make_campaign("joana", starts=now - dt.timedelta(days=9), ends=now - dt.timedelta(days=1))
    make_campaign("datorrena", starts=dt.datetime(2099, 5, 3, 10, tzinfo=dt.UTC), ends=dt.datetime(2099, 6, 1, tzinfo=dt.UTC))
    for client, name in ((Client(), "arena:home"), (logged_in(participant), "arena:battle")):
        html = get(client, name, language="es").content.decode()
        assert "campaign-closed" in html and "3 de mayo de 2099" in html, name


def test_battle_page_shows_the_progress_without_naming_models(participant):
    models = make_models(2, prefix="Ezkutuko")
    make_campaign("borroka", models=models, targets=[5, 5], vote_target=10)
    html = get(logged_in(participant), "arena:battle").content.decode()
    assert 'id="campaign-progress-bar"' in html
    assert "Ezkutuko" not in html  # the per-model list stays off the battle page


def test_campaign_page_shows_the_reward_rule_and_the_running_or_a_named_campaign():
    make_campaign("saria", title_en="Prize campaign", votes_per_raffle_entry=10, reward_en="A Basque dictionary")
    html = get(Client(), "arena:campaign").content.decode()
    assert "<h1>Prize campaign</h1>" in html and "Every 10 valid votes give you one raffle entry." in html
    assert "A Basque dictionary" in html and 'id="campaign-progress-bar"' not in html  # no target: no bar
    old = make_campaign("zaharra", starts=timezone.now() - dt.timedelta(days=99),
                        ends=timezone.now() - dt.timedelta(days=50), vote_target=100)
    html = get(Client(), "arena:campaign_detail", kwargs={"slug": old.slug}).content.decode()
    assert "0 valid votes." in html and "Target: 100." in html
    assert get(Client(), "arena:campaign_detail", kwargs={"slug": "ez-dago"}).status_code == 404


def test_contributions_page_shows_valid_excluded_streak_raffle_and_place(participant):
    models = make_models(2)
    campaign = make_campaign("nirea", votes_per_raffle_entry=2)
    add_campaign_votes(campaign, participant, models, 3)
    add_campaign_votes(campaign, participant, models, 1, excluded=True, reasons=["too_short"])
    Participant.objects.filter(pk=participant.pk).update(nickname="Ane", show_on_board=True)
    html = get(logged_in(participant), "arena:contributions").content.decode()
    assert re.search(r'data-fact="valid">3<', html) and re.search(r'data-fact="excluded">1<', html)
    assert "An answer was too short to compare." in html
    assert "1 day in a row" in html
    assert "You have 1 raffle entry." in html and "One more valid vote gives you the next one." in html
    assert "You are number 1 on the contributors' board of this campaign." in html


def test_setting_a_nickname_and_a_taken_one_gives_a_clear_error(participant):
    from tests.arena.conftest import make_participant

    other = make_participant("jon")
    Participant.objects.filter(pk=other.pk).update(nickname="Itsaso", show_on_board=True)
    client = logged_in(participant)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = reverse("arena:contributions")
    response = client.post(url, {"nickname": "itsaso", "show_on_board": "on"})
    assert response.status_code == 400
    assert "This nickname is already taken. Choose another one." in response.content.decode()
    response = client.post(url, {"nickname": "bad nick", "show_on_board": "on"})
    assert "Use 3 to 40 letters" in response.content.decode()
    assert Participant.objects.get(pk=participant.pk).nickname == ""
    response = client.post(url, {"nickname": "Mendizalea", "show_on_board": "on"})
    assert response.status_code == 302
    assert Participant.objects.filter(pk=participant.pk, nickname="Mendizalea", show_on_board=True).exists()


def test_contributors_board_shows_opted_in_nicknames_only_never_usernames():
    from tests.arena.conftest import make_participant

    models = make_models(2)
    campaign = make_campaign("taula", title_en="Board campaign")
    shown = make_participant("erabiltzaile_ikusgaia")
    hidden = make_participant("erabiltzaile_ezkutua")
    Participant.objects.filter(pk=shown.pk).update(nickname="Argia", show_on_board=True)
    Participant.objects.filter(pk=hidden.pk).update(nickname="Itzala", show_on_board=False)
    add_campaign_votes(campaign, shown, models, 2)
    add_campaign_votes(campaign, hidden, models, 9)
    html = get(Client(), "arena:contributors").content.decode()
    assert html.count("<td>Argia</td>") == 2  # this campaign and all time
    assert "Itzala" not in html and "erabiltzaile_" not in html
    assert "Board campaign" in html


def test_footer_links_the_campaign_and_the_contributors_board():
    html = get(Client(), "arena:about").content.decode()
    assert f'href="{reverse("arena:contributors")}"' in html and f'href="{reverse("arena:campaign")}"' in html


def test_leaderboard_has_a_campaign_selector_defaulting_to_all_votes():
    make_campaign("hautagai", title_en="Chosen one")
    client = Client()
    html = get(client, "arena:leaderboard").content.decode()
    assert '<select name="campaign"' in html and '<option value="" selected>All votes</option>' in html
    assert '<option value="hautagai">Chosen one</option>' in html
    assert client.get(reverse("arena:leaderboard"), {"campaign": "ez-dago"}).status_code == 400
