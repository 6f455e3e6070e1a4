"""The admin's form for adding a checkpoint: everything is checked before anything is saved."""
from __future__ import annotations

import os
import re

import httpx
from django import forms
from django.utils.translation import gettext_lazy as _

from models_serving import checkpoints
from models_serving.models import ModelServer, ServedModel
from models_serving.plan import served_name_for, split_args
from models_serving.vllm_process import port_is_free

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
VLLM_KINDS = (ServedModel.Kind.VLLM_BASE, ServedModel.Kind.VLLM_LORA)


class ServedModelAdminForm(forms.ModelForm):
    class Meta:
        model = ServedModel
        fields = "__all__"

    def clean_public_name(self):
        name = self.cleaned_data["public_name"].strip()
        clash = ServedModel.objects.filter(public_name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("A model called %(name)s is already registered.") % {"name": clash[0]})
        return name

    def clean_api_key_env(self):
        name = self.cleaned_data.get("api_key_env", "").strip()
        if name and not ENV_NAME.match(name):
            # Whatever was typed is not echoed back: it may be the key itself.
            raise forms.ValidationError(_("Enter the NAME of an environment variable (letters, digits, _), "
                                          "never the API key itself."))
        return name

    def clean_server_extra_args(self):
        text = self.cleaned_data.get("server_extra_args", "")
        try:
            split_args(text)
        except ValueError as exc:
            raise forms.ValidationError(_("These arguments cannot be parsed: %(error)s") % {"error": exc})
        return text

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == ServedModel.Kind.VLLM_BASE:
            self._clean_base(data)
        elif kind == ServedModel.Kind.VLLM_LORA:
            self._clean_adapter(data)
        elif kind == ServedModel.Kind.EXTERNAL:
            self._clean_external(data)
        if kind in VLLM_KINDS and not self.errors:
            self._clean_served_name(data)
        return data

    # ------------------------------------------------------------ per kind

    def _clean_base(self, data):
        try:
            checkpoints.check_full(data.get("checkpoint_path", ""))
        except checkpoints.CheckpointError as exc:
            self.add_error("checkpoint_path", str(exc))
        if data.get("base_model"):
            self.add_error("base_model", _("A full checkpoint has no base model."))
        # The serving command writes the endpoint of vLLM models; keep what it wrote.
        data["endpoint_url"] = self.instance.endpoint_url if self.instance.pk else ""
        port = data.get("server_port")
        if port:
            self._clean_port(port)

    def _clean_port(self, port: int):
        others = ServedModel.objects.filter(server_port=port).exclude(pk=self.instance.pk)
        if others.exists():
            self.add_error("server_port", _("Port %(port)s is already assigned to %(model)s.")
                           % {"port": port, "model": others[0]})
            return
        own = ModelServer.objects.filter(base_id=self.instance.pk, port=port).exclude(
            status__in=[ModelServer.Status.STOPPED, ModelServer.Status.FAILED]).exists()
        live = ModelServer.objects.filter(port=port, status__in=[ModelServer.Status.STARTING,
                                                                 ModelServer.Status.RUNNING])
        if not own and (live.exists() or not port_is_free(port)):
            self.add_error("server_port", _("Port %(port)s is already in use on this machine; leave it empty "
                                            "to pick a free one.") % {"port": port})

    def _clean_adapter(self, data):
        try:
            info = checkpoints.check_adapter(data.get("checkpoint_path", ""))
        except checkpoints.CheckpointError as exc:
            self.add_error("checkpoint_path", str(exc))
            return
        base = data.get("base_model")
        if base is None:
            # The adapter names its base: find the registered base served from that folder.
            matches = [m for m in ServedModel.objects.filter(kind=ServedModel.Kind.VLLM_BASE)
                       if info.base_name_or_path and checkpoints.same_folder(m.checkpoint_path, info.base_name_or_path)]
            if not matches:
                named = info.base_name_or_path or _("no base")
                self.add_error("base_model", _("This adapter was trained on %(base)s, which is not a registered "
                                               "vLLM checkpoint. Register the base first, or choose it here.")
                               % {"base": named})
                return
            data["base_model"] = matches[0]
        elif base.kind != ServedModel.Kind.VLLM_BASE:
            self.add_error("base_model", _("The base must be a vLLM checkpoint (full weights)."))
        data["endpoint_url"] = self.instance.endpoint_url if self.instance.pk else ""
        for name in ("server_port", "server_extra_args", "server_dtype", "server_max_model_len",
                     "server_gpu_memory", "server_tensor_parallel"):
            if data.get(name):
                self.add_error(name, _("Server settings belong to the base model."))

    def _clean_external(self, data):
        url = (data.get("endpoint_url") or "").rstrip("/")
        if not url:
            self.add_error("endpoint_url", _("Enter the endpoint's OpenAI-compatible base URL (ending in /v1)."))
        if not data.get("served_name"):
            self.add_error("served_name", _("Enter the model name the endpoint expects."))
        if data.get("checkpoint_path") or data.get("base_model"):
            self.add_error("kind", _("An external endpoint has no checkpoint folder or base model."))
        if self.errors:
            return
        env = data.get("api_key_env", "")
        key = os.environ.get(env, "") if env else "EMPTY"
        if env and not key:
            self.add_error("api_key_env", _("The environment variable %(env)s is not set on this server.")
                           % {"env": env})
            return
        try:
            response = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=5.0)
        except httpx.HTTPError as exc:
            self.add_error("endpoint_url", _("Could not reach %(url)s/models: %(error)s")
                           % {"url": url, "error": type(exc).__name__})
            return
        if response.status_code in (401, 403):
            self.add_error("api_key_env", _("The endpoint refused the key in %(env)s (HTTP %(code)s).")
                           % {"env": env or "-", "code": response.status_code})
        elif response.status_code != 200:
            self.add_error("endpoint_url", _("%(url)s/models answered HTTP %(code)s.")
                           % {"url": url, "code": response.status_code})
        else:
            try:
                listed = {item["id"] for item in response.json().get("data", [])}
            except (ValueError, KeyError, TypeError, AttributeError):
                listed = set()
            if data["served_name"] not in listed:
                # The periodic health check requires the same, so this would be unhealthy at once.
                self.add_error("served_name", _("%(url)s/models does not list %(name)s.")
                               % {"url": url, "name": data["served_name"]})
        data["endpoint_url"] = url

    def _clean_served_name(self, data):
        """Names must be unique on one server: a base and its adapters share one namespace."""
        probe = ServedModel(pk=self.instance.pk, public_name=data.get("public_name", ""),
                            served_name=data.get("served_name", ""))
        name = served_name_for(probe)
        data["served_name"] = name
        base = data.get("base_model") if data.get("kind") == ServedModel.Kind.VLLM_LORA else None
        base_id = base.pk if base else self.instance.pk
        siblings = ServedModel.objects.filter(kind__in=VLLM_KINDS).exclude(pk=self.instance.pk)
        if base_id:
            from django.db.models import Q

            siblings = siblings.filter(Q(pk=base_id) | Q(base_model_id=base_id))
        else:
            siblings = siblings.none()
        if any(served_name_for(other) == name for other in siblings):
            self.add_error("served_name", _("The served name %(name)s is already used on the same server.")
                           % {"name": name})
