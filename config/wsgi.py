"""WSGI entry point, for HTTP-only tools (the arena itself needs ASGI for its WebSockets)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
application = get_wsgi_application()
