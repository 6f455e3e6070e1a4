from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModelsServingConfig(AppConfig):
    name = "models_serving"
    verbose_name = _("Model serving")
    default_auto_field = "django.db.models.BigAutoField"
