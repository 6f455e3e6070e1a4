"""The Researchers page and the export: permissions, POST with CSRF only, clear 400s, streaming under WSGI
and ASGI, and exports over EXPORT_INLINE_MAX_VOTES queued as a task that only their researcher can download."""
from __future__ import annotations

import io
import json
import logging
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import AsyncClient, Client
from django.urls import reverse

from arena import tasks
from arena.export import formats as formats_module
from arena.models import ExportJob
from tests.arena.factories import jsonl_rows

PAGE, DOWNLOAD = reverse("arena:research"), reverse("arena:research_export")


def researchers_group() -> Group:
    """Migration 0002's group; transactional tests flush it, so recreate it the same way when missing."""
    group, _ = Group.objects.get_or_create(name="researchers")
    group.permissions.add(Permission.objects.get(codename="export_votes", content_type__app_label="arena"))
    return group


def client_for(username: str, *, researcher: bool) -> Client:
    user = get_user_model().objects.create_user(username=username)  # force_login: no password to hash
    if researcher:
        user.groups.add(researchers_group())
    client = Client()
    client.cookies["arena_language"] = "en"  # the site's language cookie (Basque is the default)
    client.force_login(user)
    return client


@pytest.fixture
def researcher(arena_data):
    return client_for("ikertzailea", researcher=True)


def test_page_needs_login_and_the_export_permission(arena_data):
    anonymous = Client()
    anonymous.cookies["arena_language"] = "en"
    assert anonymous.get(PAGE).status_code == 302
    assert anonymous.get(DOWNLOAD, {"format": "ebaluatoia"}).status_code == 302
    response = anonymous.post(DOWNLOAD, {"format": "ebaluatoia"})
    assert response.status_code == 403 and not response.streaming
    volunteer = client_for("boluntarioa", researcher=False)
    assert volunteer.get(PAGE).status_code == 403
    response = volunteer.post(DOWNLOAD, {"format": "ebaluatoia"})
    assert response.status_code == 403 and "researchers group" in response.content.decode()


def test_page_offers_the_options(researcher):
    response = researcher.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert DOWNLOAD in html and 'method="post"' in html and 'name="csrfmiddlewaretoken"' in html
    for text in ('value="ebaluatoia"', 'value="lmsys"', 'value="dpo"', 'value="parquet"', 'value="hf"',
                 "Latxa-8B", 'name="include_flagged"', 'name="date_from"', 'value="C1-C2"', 'value="university"'):
        assert text in html, text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"format": "csv"}, "format", "Unknown format: csv."),
        ({"format": "dpo", "date_from": "2026-03-05", "date_to": "2026-03-01"}, "date_to", "end date is before"),
        ({"format": "dpo", "models": ["Latxa-8B", "GPT-Eus"]}, "models", "Unknown model: GPT-Eus."),
        ({"format": "dpo", "date_from": "yesterday"}, "date_from", "valid date"),
        ({}, "format", "required"),
    ],
)
def test_bad_requests_get_a_400_with_the_reason(researcher, query, field, message):
    response = researcher.post(DOWNLOAD, query)
    assert response.status_code == 400 and not response.streaming
    assert message in " ".join(response.context["form"].errors[field])
    assert message.split(":")[0] in response.content.decode()  # shown beside the field


def test_download_streams_a_zip_with_manifest(researcher):
    response = researcher.post(DOWNLOAD, {"format": "ebaluatoia", "file_type": "jsonl.gz"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="basque-arena-ebaluatoia.zip"'
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as bundle:
        assert len(jsonl_rows(bundle.read("basque-arena-ebaluatoia.jsonl.gz"))) == 4
        assert json.loads(bundle.read("manifest.json"))["counts"]["rows"] == 4


@pytest.mark.django_db(transaction=True)
async def test_download_streams_under_asgi(arena_data):
    from asgiref.sync import sync_to_async

    user = await sync_to_async(get_user_model().objects.create_user)(username="asgi")
    await sync_to_async(user.groups.add)(await sync_to_async(researchers_group)())
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.post(DOWNLOAD, {"format": "lmsys", "file_type": "jsonl"})
    assert response.status_code == 200
    assert response.is_async  # an async iterator: ASGI sends chunks as they come instead of buffering
    blob = b"".join([chunk async for chunk in response.streaming_content])
    # As the ASGI server does after sending: request_finished closes the view thread's DB connection.
    await sync_to_async(response.close, thread_sensitive=True)()
    with zipfile.ZipFile(io.BytesIO(blob)) as bundle:
        assert len(jsonl_rows(bundle.read("basque-arena-lmsys-overall.jsonl"))) == 4


def test_a_download_that_fails_midway_is_logged_and_unusable(researcher, monkeypatch, caplog):
    def broken(record, dimension):
        raise RuntimeError("disk full")
        yield  # pragma: no cover

    monkeypatch.setitem(formats_module.ROW_BUILDERS, "dpo", broken)
    response = researcher.post(DOWNLOAD, {"format": "dpo"})
    assert response.status_code == 200  # headers were sent before the failure
    received = []
    with caplog.at_level(logging.ERROR, logger="arena.views.research"), pytest.raises(RuntimeError, match="disk full"):
        for chunk in response.streaming_content:
            received.append(chunk)
    assert "FAILED" in caplog.text
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(b"".join(received)))


@pytest.fixture
def export_spy(monkeypatch) -> list:
    """Every export the views start (inline or queued), recorded."""
    from arena.views import research

    started = []
    real = research.Export

    def spy(options, **kwargs):
        started.append(options)
        return real(options, **kwargs)

    monkeypatch.setattr(research, "Export", spy)
    return started


def test_another_site_cannot_start_an_export(arena_data, export_spy):
    """A link or an auto-submitted form on another site, in a logged-in researcher's browser: no export."""
    user = get_user_model().objects.create_user(username="ikertzailea")
    user.groups.add(researchers_group())
    browser = Client(enforce_csrf_checks=True)  # CSRF checked as for a real browser
    browser.force_login(user)
    query = {"format": "ebaluatoia", "file_type": "jsonl", "include_flagged": "on"}
    linked = browser.get(DOWNLOAD, query)  # <img src=".../research/export/?format=...">
    assert linked.status_code == 200 and not linked.streaming and linked["Content-Type"].startswith("text/html")
    forged = browser.post(DOWNLOAD, query, HTTP_ORIGIN="https://evil.example.com")  # a cross-site form, no token
    assert forged.status_code == 403 and not forged.streaming
    assert export_spy == [] and not ExportJob.objects.exists()
    # The page's own form carries the token: that one exports.
    page = browser.get(PAGE)
    token = page.cookies["csrftoken"].value
    response = browser.post(DOWNLOAD, {**query, "csrfmiddlewaretoken": token})
    assert response.status_code == 200 and response.streaming
    b"".join(response.streaming_content)
    assert len(export_spy) == 1


@pytest.mark.django_db(transaction=True)
def test_a_big_export_is_queued_and_only_its_researcher_downloads_it(arena_data, settings, tmp_path, export_spy):
    settings.DATA_DIR = tmp_path
    settings.ARENA = {**settings.ARENA, "EXPORT_INLINE_MAX_VOTES": 3}  # arena_data: 4 unflagged votes
    researcher = client_for("ikertzailea", researcher=True)
    response = researcher.post(DOWNLOAD, {"format": "dpo", "file_type": "jsonl"})
    assert response.status_code == 302 and response["Location"].endswith(PAGE + "#exports")
    job = ExportJob.objects.get()  # the task ran eagerly once the job was committed
    assert job.status == ExportJob.Status.DONE and job.matching_votes == 4 and job.votes_done == 4
    assert job.path.parent == tmp_path / "exports" and job.path.is_file()
    assert job.path.name == f"{job.pk}.zip" and not list((tmp_path / "exports").glob("*.part"))
    page = researcher.get(PAGE).content.decode()
    download = reverse("arena:export_job_download", args=[job.pk])
    assert download in page and "This export matches 4 votes" in page
    status = researcher.get(reverse("arena:export_job_status", args=[job.pk])).json()
    assert status["status"] == "done" and status["download"] == download
    response = researcher.get(download)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="basque-arena-dpo-overall.zip"'
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        assert manifest["counts"]["votes"] == 4
        assert len(jsonl_rows(bundle.read("basque-arena-dpo-overall.jsonl"))) == manifest["counts"]["rows"]
    # Another researcher neither sees it nor reaches it; a volunteer neither.
    colleague = client_for("lankidea", researcher=True)
    assert download not in colleague.get(PAGE).content.decode()
    assert colleague.get(download).status_code == 404
    assert colleague.get(reverse("arena:export_job_status", args=[job.pk])).status_code == 404
    assert client_for("boluntarioa", researcher=False).get(download).status_code == 404
    # Smaller exports still stream at once.
    settings.ARENA = {**settings.ARENA, "EXPORT_INLINE_MAX_VOTES": 4}
    assert researcher.post(DOWNLOAD, {"format": "dpo", "file_type": "jsonl"}).streaming
    assert ExportJob.objects.count() == 1 and len(export_spy) == 2


@pytest.mark.django_db(transaction=True)
def test_a_queued_export_that_fails_is_reported_and_leaves_no_file(arena_data, settings, tmp_path, monkeypatch,
                                                                     caplog):
    def broken(record, dimension):
        raise RuntimeError("disk full")
        yield  # pragma: no cover

    monkeypatch.setitem(formats_module.ROW_BUILDERS, "dpo", broken)
    settings.DATA_DIR = tmp_path
    settings.ARENA = {**settings.ARENA, "EXPORT_INLINE_MAX_VOTES": 0}
    researcher = client_for("ikertzailea", researcher=True)
    with caplog.at_level(logging.ERROR, logger="arena.services.exports"):
        assert researcher.post(DOWNLOAD, {"format": "dpo"}).status_code == 302
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.FAILED and "disk full" in job.error and "FAILED" in caplog.text
    assert list((tmp_path / "exports").iterdir()) == []
    assert researcher.get(reverse("arena:export_job_download", args=[job.pk])).status_code == 404
    # A redelivered task does not run it again.
    assert tasks.run_export(str(job.pk)) == ExportJob.Status.FAILED


def test_without_a_salt_nothing_is_exported_or_queued(researcher, settings, export_spy):
    settings.ARENA = {**settings.ARENA, "EXPORT_SALT": "", "EXPORT_INLINE_MAX_VOTES": 0}
    response = researcher.post(DOWNLOAD, {"format": "ebaluatoia"})
    assert response.status_code == 503 and not response.streaming
    assert "ARENA_EXPORT_SALT" in response.content.decode() and not ExportJob.objects.exists()
