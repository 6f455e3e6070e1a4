"""Admin: register checkpoints, watch their health and servers, try a model with a Basque prompt."""
from __future__ import annotations

from pathlib import Path

from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from models_serving import launcher, live_stats, services, tasks, trial, validation
from models_serving.forms import ServedModelAdminForm
from models_serving.models import ModelServer, ServedModel
from models_serving.vllm_process import log_tail

HEALTH_COLOURS = {"healthy": "#1a7f37", "unhealthy": "#cf222e", "unknown": "#6e7781"}
# Edits of an adapter that its base's live server must follow at once (load, reload or unload it).
ADAPTER_SERVING_FIELDS = {"is_active", "checkpoint_path", "served_name"}


@admin.register(ServedModel)
class ServedModelAdmin(admin.ModelAdmin):
    form = ServedModelAdminForm
    list_display = ("public_name", "kind", "served_name", "is_active", "health_badge", "last_health_check",
                    "short_error", "median_ttft", "tokens_per_s", "errors_last_hour", "server_link", "arena_weight",
                    "try_link")
    list_filter = ("kind", "is_active", "health")
    search_fields = ("public_name", "served_name", "backbone", "recipe", "training_run")
    readonly_fields = ("health", "last_health_check", "last_error", "created_at", "updated_at", "server_link",
                       "try_link")
    actions = ("try_model", "check_health_now", "apply_plan_now")
    fieldsets = (
        (None, {"fields": ("public_name", "description", "kind", "is_active", "arena_weight")}),
        (_("Checkpoint / endpoint"), {
            "fields": ("checkpoint_path", "base_model", "endpoint_url", "served_name", "api_key_env"),
            "description": _("A vLLM checkpoint: its folder. A LoRA adapter: its folder (and base, if the adapter "
                             "does not name a registered one). External: URL, model name and the NAME of the "
                             "environment variable holding the API key (keys are never stored)."),
        }),
        (_("Generation"), {"fields": ("system_prompt", "temperature", "top_p", "max_tokens")}),
        (_("Public card (shown after the vote)"), {
            "fields": ("backbone", "parameters", "adaptation", "energy_wh_per_1k_tokens", "energy_source"),
            "description": _("What volunteers learn about the model once they have voted, in plain words: its base "
                             "model, size and adaptation, and an energy estimate shown in everyday units."),
        }),
        (_("Provenance"), {"fields": ("recipe", "training_run", "identity_terms")}),
        (_("vLLM server (base checkpoints)"), {
            "classes": ("collapse",),
            "fields": ("server_dtype", "server_max_model_len", "server_gpu_memory", "server_tensor_parallel",
                       "server_port", "server_extra_args"),
        }),
        (_("Health"), {"fields": ("health", "last_health_check", "last_error", "server_link",
                                  "created_at", "updated_at")}),
    )

    # What each kind uses in the "Checkpoint / endpoint" section; the others are left off its change page.
    KIND_FIELDS = {
        ServedModel.Kind.VLLM_BASE: ("checkpoint_path", "served_name"),
        ServedModel.Kind.VLLM_LORA: ("checkpoint_path", "base_model", "served_name"),
        ServedModel.Kind.EXTERNAL: ("endpoint_url", "served_name", "api_key_env"),
    }
    KIND_HELP = {
        ServedModel.Kind.VLLM_BASE: _("The checkpoint's folder (full weights); serve_models starts its vLLM server."),
        ServedModel.Kind.VLLM_LORA: _("The adapter's folder, and its base if the adapter does not name a "
                                      "registered one; it is loaded into the base's server."),
        ServedModel.Kind.EXTERNAL: _("URL, model name and the NAME of the environment variable holding the API "
                                     "key (keys are never stored)."),
    }

    def get_fieldsets(self, request, obj=None):
        """A new entry shows every field (its kind is not chosen yet); an existing one only its kind's."""
        if obj is None or obj.kind not in self.KIND_FIELDS:
            return self.fieldsets
        kind = obj.kind
        fieldsets = [(None, {"fields": ("public_name", "description", "kind", "is_active", "arena_weight",
                                        "try_link")}),
                     (_("Checkpoint / endpoint"), {"fields": self.KIND_FIELDS[kind],
                                                   "description": self.KIND_HELP[kind]})]
        fieldsets += [section for section in self.fieldsets[2:]
                      if kind == ServedModel.Kind.VLLM_BASE or not section[1]["fields"][0].startswith("server_")]
        return fieldsets

    @admin.display(description=_("test"))
    def try_link(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:models_serving_servedmodel_try", args=[obj.pk]),
                           _("Test with a Basque prompt"))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "api_key_env" and field is not None:
            # Which variables the operator allows, before anyone types one (the form refuses the others).
            field.help_text = format_html("{}<br>{}", field.help_text, validation.allowed_key_envs_text())
        return field

    # ------------------------------------------------------------ list columns

    @admin.display(description=_("health"), ordering="health")
    def health_badge(self, obj):
        return format_html('<b style="color:{}">{}</b>', HEALTH_COLOURS.get(obj.health, "#000"), obj.get_health_display())

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.display(description=_("median TTFT (1 h)"))
    def median_ttft(self, obj):
        value = live_stats.figures_for(obj.pk).median_ttft_ms
        return "–" if value is None else f"{value:.0f} ms"

    @admin.display(description=_("tokens/s (1 h)"))
    def tokens_per_s(self, obj):
        value = live_stats.figures_for(obj.pk).median_tokens_per_s
        return "–" if value is None else f"{value:.1f}"

    @admin.display(description=_("errors (1 h)"))
    def errors_last_hour(self, obj):
        figures = live_stats.figures_for(obj.pk)
        return f"{figures.errors}/{figures.answers}"

    @admin.display(description=_("server"))
    def server_link(self, obj):
        base_id = obj.pk if obj.kind == ServedModel.Kind.VLLM_BASE else obj.base_model_id
        server = ModelServer.objects.filter(base_id=base_id).first() if base_id else None
        if server is None:
            return "–"
        return format_html('<a href="{}">{}</a> · <a href="{}">{}</a>',
                           reverse("admin:models_serving_modelserver_change", args=[server.pk]),
                           f"{server.get_status_display()} :{server.port}",
                           reverse("admin:models_serving_modelserver_log", args=[server.pk]), _("log"))

    # ------------------------------------------------------------ saving

    def save_model(self, request, obj, form, change):
        services.save_model(model=obj, changed=form.changed_data)
        # Other changes wait for serve_models or the "Apply serving plan" action.
        if obj.kind == ServedModel.Kind.VLLM_LORA and ADAPTER_SERVING_FIELDS & set(form.changed_data):
            self.report_server_change(request, obj, services.apply_to_live_server(adapter=obj))

    def report_server_change(self, request, adapter, lines: list[str] | None) -> None:
        if lines == []:
            self.message_user(request, _("No server runs %(base)s yet: run serve_models or the 'Apply serving "
                                         "plan' action to start it.") % {"base": adapter.base_model}, messages.WARNING)
        elif lines is None:
            self.message_user(request, _("The server change was queued."), messages.INFO)
        for line in lines or []:
            level = messages.WARNING if (": restart" in line or ": failed" in line) else messages.SUCCESS
            self.message_user(request, line, level)

    # ------------------------------------------------------------ actions

    @admin.action(description=_("Test with a short Basque prompt"))
    def try_model(self, request, queryset):
        model = queryset.first()
        return HttpResponseRedirect(reverse("admin:models_serving_servedmodel_try", args=[model.pk]))

    @admin.action(description=_("Check health now"))
    def check_health_now(self, request, queryset):
        summary = tasks.run(tasks.check_health)
        if summary is not None:
            self.message_user(request, _("%(n)d healthy; unhealthy: %(names)s")
                              % {"n": summary["healthy"], "names": ", ".join(summary["unhealthy"]) or "–"})
        else:
            self.message_user(request, _("Health check queued."))

    @admin.action(description=_("Apply serving plan (start, reload or stop vLLM servers)"))
    def apply_plan_now(self, request, queryset):
        lines = tasks.run(tasks.apply_serving_plan, wait=False)
        if lines is None:
            self.message_user(request, _("Serving plan queued to the worker."))
        for line in lines or [str(_("Nothing to change."))]:
            self.message_user(request, line)

    # ------------------------------------------------------------ "test this model" page

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/try/", view(self.try_view), name="models_serving_servedmodel_try"),
            path("<int:pk>/try/stream/", view(self.try_stream), name="models_serving_servedmodel_try_stream"),
            *super().get_urls(),
        ]

    def try_view(self, request, pk):
        model = get_object_or_404(ServedModel, pk=pk)
        if not self.has_view_permission(request, model):
            raise Http404
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "model": model,
                   "prompt": trial.DEFAULT_PROMPT, "title": _("Test %(name)s") % {"name": model.public_name}}
        return TemplateResponse(request, "admin/models_serving/try_model.html", context)

    def try_stream(self, request, pk):
        """POST: stream the answer as NDJSON (the page's script shows it as it arrives)."""
        model = get_object_or_404(ServedModel.objects.select_related("base_model"), pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, model):
            raise Http404
        prompt = (request.POST.get("prompt") or trial.DEFAULT_PROMPT)[:2000]
        response = StreamingHttpResponse(trial.stream_events(trial.request_for(model, prompt)),
                                         content_type="application/x-ndjson")
        response["X-Accel-Buffering"] = "no"  # let proxies pass chunks through at once
        return response


@admin.register(ModelServer)
class ModelServerAdmin(admin.ModelAdmin):
    list_display = ("served_name", "base", "status", "endpoint", "pid", "adapter_names", "started_at",
                    "start_seconds", "log_link")
    list_filter = ("status",)
    readonly_fields = [f.name for f in ModelServer._meta.fields] + ["log_link"]
    actions = ("stop_servers",)

    def has_add_permission(self, request):
        return False  # servers are started by the serving plan

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("endpoint"))
    def endpoint(self, obj):
        return obj.base_url

    @admin.display(description=_("adapters"))
    def adapter_names(self, obj):
        return ", ".join(obj.adapters) or "–"

    @admin.display(description=_("log"))
    def log_link(self, obj):
        if not obj.log_path:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:models_serving_modelserver_log", args=[obj.pk]),
                           Path(obj.log_path).name)

    @admin.action(description=_("Stop selected servers"))
    def stop_servers(self, request, queryset):
        for server in queryset:
            if server.is_live:
                launcher.stop_server(server, f"stopped from the admin by {request.user}")
                services.mark_servers_models_unhealthy(server=server, error="server stopped from the admin")
                self.message_user(request, _("Stopped %(name)s.") % {"name": server.served_name})

    def get_urls(self):
        return [
            path("<int:pk>/log/", self.admin_site.admin_view(self.log_view), name="models_serving_modelserver_log"),
            *super().get_urls(),
        ]

    def log_view(self, request, pk, lines: int = 400):
        server = get_object_or_404(ModelServer, pk=pk)
        if not self.has_view_permission(request, server):
            raise Http404
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "server": server,
                   "log_text": log_tail(server.log_path, lines), "lines": lines,
                   "title": _("Log of %(name)s") % {"name": server.served_name}}
        return TemplateResponse(request, "admin/models_serving/server_log.html", context)
