"""Admin: launch a benchmark run (Celery task) and watch its progress until it finishes."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services, suites
from .errors import EvaluationError
from .models import BenchmarkScore, EvaluationRun


class EvaluationRunForm(forms.ModelForm):
    suite = forms.ChoiceField(label=_("suite"), choices=[(name, name) for name in suites.SUITES], initial="basque")
    num_concurrent = forms.IntegerField(label=_("concurrent requests"), min_value=1, initial=1, required=False,
                                        help_text=_("Endpoint only."))
    SETTINGS = ["num_fewshot", "limit", "apply_chat_template", "fewshot_as_multiturn", "max_length", "num_concurrent"]
    tasks_text = forms.CharField(
        label=_("tasks"), required=False,
        help_text=_("Comma-separated lm-eval task names; empty runs the whole suite."),
    )

    class Meta:
        model = EvaluationRun
        fields = ["model_label", "backend", "suite", "num_fewshot", "limit", "apply_chat_template",
                  "fewshot_as_multiturn", "max_length", "num_concurrent"]

    def clean(self):
        data = super().clean()
        data["tasks"] = [t.strip() for t in (data.get("tasks_text") or "").split(",") if t.strip()]
        data["num_concurrent"] = data.get("num_concurrent") or 1
        if data.get("fewshot_as_multiturn") and not data.get("apply_chat_template"):
            raise forms.ValidationError(_("Few-shot examples as chat turns need the chat template."))
        if data.get("max_length") is not None and data["max_length"] < 2:
            raise forms.ValidationError(_("The context window must be at least 2 tokens."))
        try:
            suites.resolve_tasks(data.get("suite"), data["tasks"] or None, hub=False)
        except EvaluationError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


class BenchmarkScoreInline(admin.TabularInline):
    model = BenchmarkScore
    extra = 0
    can_delete = False
    fields = ["benchmark", "task", "metric", "value", "stderr", "n_samples", "num_fewshot", "is_group"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    form = EvaluationRunForm
    list_display = ["id", "model_label", "suite", "num_fewshot", "limit", "status", "progress_percent",
                    "items_per_second", "created_at", "finished_at"]
    list_filter = ["status", "suite", "backend"]
    search_fields = ["model_label"]
    actions = ["rerun"]
    inlines = [BenchmarkScoreInline]
    readonly_fields = ["served_model", "tasks", "protocol", "status", "progress", "progress_message", "error",
                       "target", "versions", "n_items", "items_per_second", "celery_task_id", "created_by",
                       "created_at", "started_at", "heartbeat_at", "finished_at", "raw_results"]

    @admin.display(description=_("progress"))
    def progress_percent(self, obj):
        return f"{obj.progress * 100:.0f}%"

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new run has no scores yet

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["model_label", "backend", "suite", "tasks_text", *EvaluationRunForm.SETTINGS]
        return ["model_label", "backend", "suite", *EvaluationRunForm.SETTINGS, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A run is a record of what was evaluated: its parameters are frozen once created.
        return ["model_label", "backend", "suite", *EvaluationRunForm.SETTINGS, *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        run = services.create_run(
            model_label=data["model_label"], backend=data["backend"], suite=data["suite"],
            tasks=data["tasks"] or None, created_by=request.user,
            **{name: data[name] for name in EvaluationRunForm.SETTINGS},
        )
        obj.pk = run.pk
        obj._state.adding = False
        services.launch_run(run)

    @admin.action(description=_("Run again (failed runs, and running ones whose worker stopped)"))
    def rerun(self, request, queryset):
        services.fail_stale_runs()  # a killed worker's run is RUNNING until this fails it
        failed = list(queryset.filter(status=EvaluationRun.Status.FAILED))
        for run in failed:
            services.launch_run(run)
        self.message_user(request, _("%(count)d run(s) queued.") % {"count": len(failed)}, messages.SUCCESS)
