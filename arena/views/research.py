"""Researchers page, the preference-data export (issue #5) and the researcher's queued exports.

All need the ``arena.export_votes`` permission (the "researchers" group). An export is a POST with
the CSRF token (the page's form; GET only shows the form), with the same fields as
``manage.py export_votes`` (validated by the same ``ExportForm``), so another site cannot start one
in a researcher's browser. Up to ``ARENA["EXPORT_INLINE_MAX_VOTES"]`` matching votes it streams at
once: a zip with the data file, flags.jsonl, manifest.json. A bigger one is queued as a Celery task
(``arena.tasks.run_export``) that writes the zip under ``DATA_DIR/exports``; the page lists the
researcher's own exports with their progress, and only whoever asked can download one.
"""
from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from arena import agreement, selectors, services, tasks
from arena.export import Export, ExportConfigurationError, ExportForm
from arena.export.source import matching_votes
from arena.models import ExportJob, Reaction, Vote
from arena.ranking.counts import VoteFilters

logger = logging.getLogger(__name__)

PERMISSION = "arena.export_votes"


def _may_export(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.user.has_perm(PERMISSION)


def _page(request: HttpRequest, form: ExportForm, *, status: int = 200, error: str = ""):
    totals = Vote.objects.aggregate(votes=Count("id"), flagged=Count("id", filter=Q(excluded=True)))
    jobs = selectors.export_jobs_for(request.user)
    return render(request, "arena/research.html", {
        "form": form, "totals": totals, "jobs": jobs, "error": error,
        "reaction_kinds": Reaction.Kind.choices, "reactions": selectors.reaction_counts_by_model(),
        "inline_max": settings.ARENA["EXPORT_INLINE_MAX_VOTES"],
        "in_progress": any(not job.finished for job in jobs),
    }, status=status)


def _denied(request: HttpRequest):
    return render(request, "arena/research.html", {"denied": True}, status=403)


@require_GET
def research_page(request: HttpRequest):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not _may_export(request):
        return _denied(request)
    if request.GET.get("csv") == "reactions":
        response = HttpResponse(_reactions_csv(selectors.reaction_counts_by_model()),
                                content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="reactions-by-model.csv"'
        return response
    return _page(request, ExportForm())


def _reactions_csv(rows: list[dict]) -> str:
    """Reactions per model and kind (the page's table), kinds as their stored codes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", *Reaction.Kind.values, "total"])
    writer.writerows([row["model"], *(row["counts"][kind] for kind in Reaction.Kind.values), row["total"]]
                     for row in rows)
    return buffer.getvalue()


@require_http_methods(["GET", "POST"])
def research_download(request: HttpRequest):
    """POST (with the CSRF token, which the middleware checks first): export. GET: the form, nothing else."""
    if request.method != "POST":
        return research_page(request)
    if not _may_export(request):
        return _denied(request)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400, error=_("Invalid export request."))
    options = form.to_options()
    try:
        export = Export(options)
    except ExportConfigurationError as exc:
        logger.error("export refused: %s", exc)
        return _page(request, form, status=503, error=str(exc))
    votes = matching_votes(options).count()
    if votes > settings.ARENA["EXPORT_INLINE_MAX_VOTES"]:
        job = services.request_export(user=request.user, options=options, matching_votes=votes,
                                      after_commit=tasks.run_export.delay)
        logger.info("user %s queued export %s of %d votes: %s", request.user.pk, job.pk, votes, options.describe())
        messages.info(request, _("This export matches %(votes)d votes, so it is being prepared in the background. "
                                 "It appears under Your exports with a download link once it is ready.")
                      % {"votes": votes})
        return redirect(f"{reverse('arena:research')}#exports")
    logger.info("user %s started export %s", request.user.pk, export.options.describe())
    chunks = _logged(export, request.user.pk)
    # Under ASGI a plain iterator would be read to the end into memory before the first byte is sent.
    content = _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.download_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # let a proxy pass chunks through as they come
    return response


def _own_job(request: HttpRequest, job_id) -> ExportJob:
    """The researcher's own export; anyone else's, or none, is a 404 (its id is not confirmed)."""
    job = selectors.export_job_for(request.user, job_id) if _may_export(request) else None
    if job is None:
        raise Http404
    return job


@require_GET
def export_job_status(request: HttpRequest, job_id):
    job = _own_job(request, job_id)
    return JsonResponse({
        "id": str(job.pk), "status": job.status, "status_label": job.get_status_display(),
        "matching_votes": job.matching_votes, "votes_done": job.votes_done, "error": job.error,
        "download": reverse("arena:export_job_download", args=[job.pk]) if job.status == ExportJob.Status.DONE else None,
    })


@require_GET
def export_job_download(request: HttpRequest, job_id):
    job = _own_job(request, job_id)
    if job.status != ExportJob.Status.DONE or job.path is None or not job.path.is_file():
        raise Http404
    response = FileResponse(job.path.open("rb"), as_attachment=True, filename=job.download_name,
                            content_type="application/zip")
    response["Cache-Control"] = "no-store"
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


# ---------------------------------------------------------------- agreement (issue #12)

AGREEMENT_TABLES = ("questions", "groups", "position", "judges")


@require_GET
def agreement_page(request: HttpRequest):
    """What the study analysed by hand (arena/agreement.py), as tables with CSV downloads
    (``?csv=questions|groups|position|judges``). Aggregates only; researchers only, as the page above."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not _may_export(request):
        return _denied(request)
    filters = VoteFilters(include_flagged=request.GET.get("flagged") == "include")
    table = request.GET.get("csv")
    if table is not None and table not in AGREEMENT_TABLES:
        return HttpResponse(_("Unknown table."), status=400, content_type="text/plain; charset=utf-8")
    results = {
        "questions": agreement.question_agreement(filters) if table in (None, "questions") else None,
        "groups": agreement.group_agreement(filters) if table in (None, "groups") else None,
        "position": agreement.position_bias(filters) if table in (None, "position") else None,
        "judges": agreement.judge_consistency(filters) if table in (None, "judges") else None,
    }
    if table is not None:
        response = HttpResponse(_agreement_csv(table, results[table]), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="agreement-{table}.csv"'
        return response
    return render(request, "arena/agreement.html", {**results, "include_flagged": filters.include_flagged})


def _agreement_csv(table: str, result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if table == "questions":
        writer.writerow(["first", "second", "votes", "agreement", "kappa", "kappa_low_90", "kappa_high_90"])
        writer.writerows([r.first, r.second, r.votes, r.agreement, r.kappa, *r.kappa_interval] for r in result)
    elif table == "groups":
        writer.writerow(["first_group", "second_group", "models", "spearman", "spearman_low_90", "spearman_high_90"])
        writer.writerows([r.first, r.second, r.models, r.spearman, *r.interval] for r in result)
    elif table == "position":
        writer.writerow(["decisive_votes", "left_wins", "left_share", "low_90", "high_90"])
        writer.writerow([result.decisive, result.left_wins, result.share, *result.interval])
    else:
        writer.writerow(["repeats", "consistent", "share", "low_90", "high_90", "judges", "outlier_judges"])
        writer.writerow([result.repeats, result.consistent, result.share, *(result.interval or ("", "")),
                         result.judges, result.outlier_judges])
    return buffer.getvalue()
