from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ArenaConfig(AppConfig):
    name = "arena"
    verbose_name = _("Arena")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from arena import services

        services.connect_account_signals()  # a deactivated or removed user's sockets close
