"""Researchers page and the streamed preference-data download (issue #5).

Both need the ``arena.export_votes`` permission (the "researchers" group). The download is a GET
with the same fields as ``manage.py export_votes`` (validated by the same ``ExportForm``), so a
researcher can also fetch it with curl. It streams a zip: data file, flags.jsonl, manifest.json.
"""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count, Q
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from arena.export import Export, ExportConfigurationError, ExportForm
from arena.models import Vote

logger = logging.getLogger(__name__)

PERMISSION = "arena.export_votes"


def _may_export(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.user.has_perm(PERMISSION)


@require_GET
def research_page(request: HttpRequest):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not _may_export(request):
        return render(request, "arena/research.html", {"denied": True}, status=403)
    totals = Vote.objects.aggregate(votes=Count("id"), flagged=Count("id", filter=Q(excluded=True)))
    return render(request, "arena/research.html", {"form": ExportForm(), "totals": totals})


@require_GET
def research_download(request: HttpRequest):
    if not _may_export(request):
        return JsonResponse(
            {"error": _("Exporting needs the 'Can export preference data' permission (the researchers group).")},
            status=403,
        )
    form = ExportForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"error": _("Invalid export request."), "fields": form.error_dict()}, status=400)
    try:
        export = Export(form.to_options())
    except ExportConfigurationError as exc:
        logger.error("export refused: %s", exc)
        return JsonResponse({"error": str(exc)}, status=503)
    logger.info("user %s started export %s", request.user.pk, export.options.describe())
    chunks = _logged(export, request.user.pk)
    # Under ASGI a plain iterator would be read to the end into memory before the first byte is sent.
    content = _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.download_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # let a proxy pass chunks through as they come
    return response


def _logged(export: Export, user_id) -> Iterator[bytes]:
    """The export's chunks; a failure midway is logged (the client is left with a zip that has no
    manifest and no central directory, which every unzip tool rejects)."""
    started, sent = time.monotonic(), 0
    try:
        for chunk in export.iter_zip():
            sent += len(chunk)
            yield chunk
    except Exception:
        logger.exception(
            "export by user %s FAILED after %d bytes and %d votes; the download is incomplete",
            user_id, sent, export.stats.votes,
        )
        raise
    logger.info(
        "export by user %s done: %d votes, %d rows, %d bytes in %.1f s",
        user_id, export.stats.votes, export.stats.rows, sent, time.monotonic() - started,
    )


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # thread_sensitive: every step runs in the same thread, which owns the database connection.
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await step(chunks, None)) is not None:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()
