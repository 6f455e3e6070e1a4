"""The admin's form for adding a checkpoint: everything is checked before anything is saved."""
from __future__ import annotations

import copy

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance

from models_serving import validation
from models_serving.models import ServedModel


class ServedModelAdminForm(forms.ModelForm):
    """Runs the registration service's own checks, so their errors show next to the fields."""

    class Meta:
        model = ServedModel
        fields = "__all__"

    def clean(self):
        data = super().clean()
        if data.get("kind") in validation.VLLM_KINDS:
            # serve_models writes the endpoint of vLLM models: keep what it wrote, whatever was typed.
            data["endpoint_url"] = self.instance.endpoint_url
        if self.errors:
            return data
        probe = construct_instance(self, copy.copy(self.instance))
        try:
            validation.check_model(probe)
        except ValidationError as exc:
            self.add_error(None, exc)
            return data
        # The checks complete the entry (base found from the adapter config, served name, URL).
        for name in ("public_name", "api_key_env", "base_model", "served_name", "endpoint_url"):
            data[name] = getattr(probe, name)
        return data
