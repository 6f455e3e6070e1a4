"""Which pages may open the site's WebSockets: the site's own origin, and the trusted ones.

Channels' ``AllowedHostsOriginValidator`` compares only the Origin's host name with ALLOWED_HOSTS, so
a page on ``http://127.0.0.1:9999`` could open the socket of the site on port 8000. Here the whole
origin (scheme, host and port) must be the one the socket was opened on, as Django's CSRF check
requires for forms, or be listed in ``CSRF_TRUSTED_ORIGINS``; and the Host must be an allowed host.
Behind a TLS proxy, the ASGI server must honour X-Forwarded-Proto (uvicorn ``--proxy-headers``) so
that the socket's scheme is ``wss``, or the public origin must be listed in ``CSRF_TRUSTED_ORIGINS``.
"""
from __future__ import annotations

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


def own_origin(scope) -> str | None:
    """``http(s)://host[:port]`` of the page that served this socket, or None if its Host is not allowed."""
    host = _header(scope, b"host")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return f"{scheme}://{host}"


class SameOriginValidator:
    """ASGI middleware: refuse (close before accept) a socket whose Origin is not the site's own or trusted."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        own = own_origin(scope)
        origin = _header(scope, b"origin")
        allowed = ([own] if own else []) + list(settings.CSRF_TRUSTED_ORIGINS)
        if own and origin and OriginValidator(None, allowed).valid_origin(urlparse(origin)):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
