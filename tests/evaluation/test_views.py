"""The public benchmarks page and the staff-only run status."""
import re

import pytest

from evaluation import services, suites

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_ranking_cache")]


def _page(client):
    response = client.get("/benchmarks/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"  # the assertions read English strings


def test_page_shows_table_average_and_correlations(client, store_scores):
    for name, value in (("Model-1", 0.61), ("Model-2", 0.52), ("Model-3", 0.43)):
        store_scores(name, value)
    store_scores("Sampled", {"eus_trivia": 0.3}, limit=5)
    html = _page(client)
    headers = re.findall(r'<th scope="col" title="([^"]+)">([^<]+)</th>', html)
    assert headers == [(f"{b.name} ({b.metric})", b.label) for b in suites.benchmarks()]
    assert "Model-1" in html and re.search(r"<strong>0[.,]610</strong>", html) and "†" in html
    assert "Spearman" in html and "Kendall" in html
    # The arena's dimension labels, in its order; no votes yet, so each explains why there is no coefficient.
    assert re.findall(r'<th scope="row">(Overall|Content|Basque quality)</th>', html) == [
        "Overall", "Content", "Basque quality"]
    assert html.count("at least 3 are needed") == 3


def test_page_with_no_results(client):
    assert "No benchmark results yet." in _page(client)


def test_run_status_is_for_staff_only(client, admin_client):
    run = services.create_run(model_label="Latxa")
    url = f"/benchmarks/runs/{run.pk}/status/"
    assert client.get(url).status_code == 302  # to the admin login
    data = admin_client.get(url).json()
    assert data == {"id": run.pk, "status": "pending", "progress": 0.0, "message": "", "error": "",
                    "finished": False, "n_items": 0, "items_per_second": None}
