"""Public deployments behind an HTTPS proxy: secrets are required, cookies and redirects are secure."""
import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import ARENA, env_bool, env_int


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set with DJANGO_SETTINGS_MODULE=config.settings.prod")
    return value


DEBUG = False
SECRET_KEY = _required("DJANGO_SECRET_KEY")
ARENA["EXPORT_SALT"] = _required("ARENA_EXPORT_SALT")
# Static files come from the proxy (collectstatic into STATIC_ROOT) unless ARENA_SERVE_STATIC=1.
SERVE_STATIC = env_bool("ARENA_SERVE_STATIC", False)
# Password-reset mails go out by SMTP (DJANGO_EMAIL_HOST, ...): the console backend of the demo would write
# every reset link into the server's log.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The client's address for the log-in lockout: the one the HTTPS proxy appended to X-Forwarded-For.
TRUSTED_PROXY_COUNT = env_int("ARENA_TRUSTED_PROXY_COUNT", 1)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
