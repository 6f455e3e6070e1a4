"""The Researchers page and the streamed download: permissions, clear 400s, streaming under WSGI and ASGI."""
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

from arena.export import formats as formats_module
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
    response = anonymous.get(DOWNLOAD, {"format": "ebaluatoia"})
    assert response.status_code == 403 and "permission" in response.json()["error"]
    volunteer = client_for("boluntarioa", researcher=False)
    assert volunteer.get(PAGE).status_code == 403
    response = volunteer.get(DOWNLOAD, {"format": "ebaluatoia"})
    assert response.status_code == 403 and "researchers group" in response.json()["error"]


def test_page_offers_the_options(researcher):
    response = researcher.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert DOWNLOAD in html
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
    response = researcher.get(DOWNLOAD, query)
    assert response.status_code == 400
    assert message in " ".join(response.json()["fields"][field])


def test_download_streams_a_zip_with_manifest(researcher):
    response = researcher.get(DOWNLOAD, {"format": "ebaluatoia", "file_type": "jsonl.gz"})
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
    response = await client.get(DOWNLOAD, {"format": "lmsys", "file_type": "jsonl"})
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
    response = researcher.get(DOWNLOAD, {"format": "dpo"})
    assert response.status_code == 200  # headers were sent before the failure
    received = []
    with caplog.at_level(logging.ERROR, logger="arena.views.research"), pytest.raises(RuntimeError, match="disk full"):
        for chunk in response.streaming_content:
            received.append(chunk)
    assert "FAILED" in caplog.text
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(b"".join(received)))
