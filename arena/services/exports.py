"""Writes about research exports: queued export jobs and running them."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from arena.models import ExportJob


logger = logging.getLogger(__name__)


EXPORT_PROGRESS_SECONDS = 2.0  # how often a running export writes how far it got (its heartbeat)
EXPORT_STALE_AFTER = timedelta(minutes=10)  # many heartbeats missed: the building process is gone


def request_export(*, user, options, matching_votes: int, after_commit: Callable[[str], object]) -> ExportJob:
    """Queue a Researchers-page export too big to stream in the request (``options``: a validated
    ``arena.export.ExportOptions``); ``after_commit(job id)`` runs once the job is stored (the view
    passes the export task's ``delay``)."""
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=user, options=options.describe(), matching_votes=matching_votes)
        job_id = str(job.pk)
        transaction.on_commit(lambda: after_commit(job_id), robust=True)
    return job


def run_export_job(*, job_id) -> ExportJob:
    """Build a queued export's zip into ``DATA_DIR/exports/<job id>.zip`` (the export task's body).
    Runs once: a job that is no longer queued (a redelivered task) is left as it is. A failure is
    recorded on the job (and logged); no partial file stays."""
    from arena.export import Export, ExportForm  # heavy (pyarrow on demand): only where exports run

    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != ExportJob.Status.QUEUED:
            return job
        job.status, job.heartbeat_at = ExportJob.Status.RUNNING, timezone.now()
        job.save(update_fields=["status", "heartbeat_at"])
    folder = ExportJob.folder()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{job.pk}.zip"
    partial = folder / f"{job.pk}.zip.part"
    progress = _ExportProgress(job.pk)
    try:
        form = ExportForm(data=job.options)
        if not form.is_valid():  # e.g. a model renamed since it was asked
            raise ValueError(f"the export's options are no longer valid: {form.error_dict()}")
        export = Export(form.to_options())
        with partial.open("wb") as output:
            for chunk in export.iter_zip():
                output.write(chunk)
                progress.report(export.stats.votes)
        partial.replace(final)
    except Exception as exc:
        progress.close()
        partial.unlink(missing_ok=True)
        logger.exception("export %s by user %s FAILED", job.pk, job.requested_by_id)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now())
    else:
        progress.close()
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.DONE, file_name=final.name, download_name=export.download_name,
            size_bytes=final.stat().st_size, votes_done=export.stats.votes, finished_at=timezone.now())
        logger.info("export %s by user %s done: %d votes, %d bytes", job.pk, job.requested_by_id,
                    export.stats.votes, final.stat().st_size)
    job.refresh_from_db()
    return job


class _ExportProgress:
    """Writes a running export's vote count every EXPORT_PROGRESS_SECONDS from its own thread and
    database connection: while an export runs, its reader thread uses this thread's connection
    (arena/export/source.py), so this thread must stay off it."""

    def __init__(self, job_id):
        import threading

        self._job_id = job_id
        self._votes = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="export-progress", daemon=True)
        self._thread.start()

    def report(self, votes: int) -> None:
        self._votes = votes

    def close(self) -> None:
        self._closed.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._closed.wait(EXPORT_PROGRESS_SECONDS):
                # Also while no vote moves (a long query): the heartbeat says the process is alive.
                try:
                    ExportJob.objects.filter(pk=self._job_id).update(
                        votes_done=self._votes, heartbeat_at=timezone.now())
                except Exception:  # progress is a courtesy: never fail the export over it
                    logger.exception("export %s: could not write its progress", self._job_id)
        finally:
            connection.close()  # this thread's own connection


@transaction.atomic
def fail_stale_exports() -> int:
    """Fail running exports whose building process stopped beating (a killed or crashed worker), so
    the researcher sees it and can ask again. Returns how many were failed."""
    cutoff = timezone.now() - EXPORT_STALE_AFTER
    return ExportJob.objects.filter(status=ExportJob.Status.RUNNING, heartbeat_at__lt=cutoff).update(
        status=ExportJob.Status.FAILED, finished_at=timezone.now(),
        error="the worker building this export stopped before it finished; ask for it again")
