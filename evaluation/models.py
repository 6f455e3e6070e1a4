"""Benchmark runs and their scores. A run's scores exist only once the whole run succeeded."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class EvaluationRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Backend(models.TextChoices):
        AUTO = "auto", _("Automatic (endpoint for arena models)")
        ENDPOINT = "endpoint", _("Model endpoint (vLLM / OpenAI-compatible)")
        HF = "hf", _("In-process transformers")

    # What was asked for: an arena public name or a checkpoint path. The FK is set when it is an arena model.
    model_label = models.CharField(_("model"), max_length=500)
    served_model = models.ForeignKey(
        "models_serving.ServedModel", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="evaluation_runs", verbose_name=_("arena model"),
    )
    backend = models.CharField(_("backend"), max_length=10, choices=Backend.choices, default=Backend.AUTO)
    suite = models.CharField(_("suite"), max_length=50, default="basque")
    tasks = models.JSONField(_("tasks"), default=list, blank=True, help_text=_("Empty: the whole suite."))
    num_fewshot = models.PositiveSmallIntegerField(_("few-shot examples"), null=True, blank=True, default=5)
    limit = models.PositiveIntegerField(_("items per task (limit)"), null=True, blank=True)
    apply_chat_template = models.BooleanField(_("apply chat template"), default=False,
                                              help_text=_("On both backends and for every task."))
    fewshot_as_multiturn = models.BooleanField(_("few-shot examples as chat turns"), default=False)
    max_length = models.PositiveIntegerField(
        _("context window (tokens)"), null=True, blank=True,
        help_text=_("Prompt tokens kept on both backends. Empty: the model's limit, capped by the endpoint's."))
    num_concurrent = models.PositiveSmallIntegerField(_("concurrent requests"), default=1,
                                                      help_text=_("Endpoint only."))
    # The resolved protocol (few-shot, chat template, limit, backend): runs are averaged only with equals.
    protocol = models.JSONField(_("protocol"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    progress = models.FloatField(_("progress"), default=0.0)
    progress_message = models.CharField(_("progress message"), max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)
    target = models.JSONField(_("resolved target"), default=dict, blank=True)
    versions = models.JSONField(_("versions"), default=dict, blank=True)
    raw_results = models.JSONField(_("raw lm-eval results"), null=True, blank=True)
    n_items = models.PositiveIntegerField(_("items evaluated"), default=0)
    items_per_second = models.FloatField(_("items per second"), null=True, blank=True)
    celery_task_id = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("evaluation run")
        verbose_name_plural = _("evaluation runs")

    def __str__(self) -> str:
        return f"{self.model_label} / {self.suite} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def protocol_key(self) -> str:
        """One string per protocol: the table averages only runs that share it."""
        return protocol_key(self.protocol)


def protocol_key(protocol: dict) -> str:
    if not protocol:
        return ""
    limit = protocol.get("limit")
    parts = [f"{protocol.get('num_fewshot')}-shot", "chat template" if protocol.get("apply_chat_template") else "",
             "multi-turn" if protocol.get("fewshot_as_multiturn") else "",
             f"first {limit} items" if limit else "all items", str(protocol.get("backend", ""))]
    return " · ".join(part for part in parts if part)


class BenchmarkScore(models.Model):
    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="scores")
    task = models.CharField(_("lm-eval task"), max_length=200)
    # The upstream name the score is reported under, so offline and hub runs share table columns.
    benchmark = models.CharField(_("benchmark"), max_length=200, db_index=True)
    metric = models.CharField(_("metric"), max_length=100)
    filter = models.CharField(_("filter"), max_length=100, default="none")
    value = models.FloatField(_("value"))
    stderr = models.FloatField(_("standard error"), null=True, blank=True)
    num_fewshot = models.PositiveSmallIntegerField(_("few-shot examples"), null=True, blank=True)
    n_samples = models.PositiveIntegerField(_("items"), null=True, blank=True)
    is_group = models.BooleanField(_("group aggregate"), default=False)
    task_version = models.CharField(_("task version"), max_length=50, blank=True)

    class Meta:
        ordering = ["run", "benchmark", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["run", "task", "metric", "filter"], name="benchmark_score_unique"),
        ]
        verbose_name = _("benchmark score")
        verbose_name_plural = _("benchmark scores")

    def __str__(self) -> str:
        return f"{self.benchmark} {self.metric}={self.value:.4f}"
