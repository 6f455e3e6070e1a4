"""Research exports built by a Celery task."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _



class ExportJob(models.Model):
    """A Researchers-page export too big to stream in the request (more than
    ``ARENA["EXPORT_INLINE_MAX_VOTES"]`` matching votes): a Celery task (``arena.tasks.run_export``)
    writes the zip to ``DATA_DIR/exports/<file_name>``; only the researcher who asked may download it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being prepared")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # in URLs: unguessable
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    options = models.JSONField()  # ExportOptions.describe(); the task validates it again with ExportForm
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    matching_votes = models.PositiveIntegerField(default=0)  # when asked (the run is its own snapshot)
    votes_done = models.PositiveIntegerField(default=0)  # progress while running
    file_name = models.CharField(max_length=200, blank=True)  # unique name under DATA_DIR/exports
    download_name = models.CharField(max_length=200, blank=True)  # what the browser saves it as
    size_bytes = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The building process's last sign of life (every few seconds while running): a job whose
    # worker died is failed by ``services.fail_stale_exports`` instead of "being prepared" for ever.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")

    def __str__(self) -> str:
        return f"export {self.id} ({self.status})"

    @staticmethod
    def folder():
        return settings.DATA_DIR / "exports"

    @property
    def path(self):
        return self.folder() / self.file_name if self.file_name else None

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


def _export_job_deleted(sender, instance, **kwargs):
    """An export's row goes (its researcher's account was removed): its file goes too."""
    if instance.path is not None:
        instance.path.unlink(missing_ok=True)


models.signals.post_delete.connect(_export_job_deleted, sender=ExportJob, dispatch_uid="arena.export_job_deleted")
