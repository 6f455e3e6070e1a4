"""The public benchmarks page and the staff-only run status."""
import re

import pytest

from evaluation import selectors, services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_ranking_cache")]


def _page(client):
    response = client.get("/benchmarks/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"  # the assertions read English strings


def test_page_shows_table_averages_protocol_and_correlations(client, store_scores):
    for name, value in (("Model-1", 0.61), ("Model-2", 0.52), ("Model-3", 0.43)):
        store_scores(name, value)
    store_scores("Sampled", {"eus_trivia": 0.3}, limit=5)
    html = _page(client)
    headers = re.findall(r'<th scope="col" title="([^"]+)">([^<]+)</th>', html)
    assert headers == [(f"{m.benchmark} ({m.metric})", m.label) for m in selectors.benchmark_table().columns]
    assert len(headers) == 8 and "Sampled" not in html.split("</table>")[0]  # another protocol: a link, not a row
    assert "5-shot · all items · auto" in html and "?protocol=5-shot" in html
    assert "Model-1" in html and re.search(r"<strong>0[.,]610</strong>", html)
    assert "* 2/14" in html and "not the study's average" in html  # the study average covers 2 of 14 tasks
    assert "Spearman" in html and "Kendall" in html
    # The arena's dimension labels, in its order, once per average; no votes yet, so no coefficient.
    assert re.findall(r'<th scope="row">(Overall|Content|Basque quality)</th>', html) == [
        "Overall", "Content", "Basque quality"] * 2
    assert html.count("at least 3 are needed") == 6
    sampled = client.get("/benchmarks/", {"protocol": "5-shot · first 5 items · auto"}).content.decode()
    assert "Sampled" in sampled and "Model-1" not in sampled


def test_page_with_no_results(client):
    assert "No benchmark results yet." in _page(client)


def test_run_status_is_for_staff_only(client, admin_client):
    run = services.create_run(model_label="Latxa")
    url = f"/benchmarks/runs/{run.pk}/status/"
    assert client.get(url).status_code == 302  # to the admin login
    data = admin_client.get(url).json()
    assert data == {"id": run.pk, "status": "pending", "progress": 0.0, "message": "", "error": "",
                    "finished": False, "n_items": 0, "items_per_second": None}
