"""The site's protections that settings alone cannot express: the client's address behind proxies,
the log-in lockout page (django-axes) and the WebSocket source of the Content-Security-Policy (django-csp).

Settings: ``TRUSTED_PROXY_COUNT``, ``AXES_*`` and ``CONTENT_SECURITY_POLICY`` in ``config/settings/base.py``.
"""
from __future__ import annotations

import ipaddress
import math

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import DisallowedHost
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from csp.middleware import CSPMiddleware, PolicyParts


def client_ip(request: HttpRequest) -> str:
    """The client's address (``AXES_CLIENT_IP_CALLABLE``).

    With no trusted proxy, the TCP peer (``REMOTE_ADDR``): an ``X-Forwarded-For`` header is then
    whatever the client chose to send and is ignored. With ``TRUSTED_PROXY_COUNT`` = N proxies in
    front, each appending the address it saw, the client is the N-th entry from the right; entries
    further left were sent by the client and are ignored too."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote  # did not come through every proxy
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_message() -> str:
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return ngettext(
        "Too many failed log-in attempts: this account is locked from your address. Try again in %(minutes)d minute.",
        "Too many failed log-in attempts: this account is locked from your address. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the log-in page the visitor used (the site's or the admin's) again,
    with the lockout as the form's error, HTTP 429. (django-axes passes the original response and
    credentials in an order that differs between its sync and async paths; neither is needed.)"""
    admin_login = request.path == reverse("admin:login")
    if admin_login:
        from django.contrib.admin import site
        from django.contrib.admin.forms import AdminAuthenticationForm

        form_class, template = AdminAuthenticationForm, "admin/login.html"
        context = {**site.each_context(request), "title": _("Log in"), "app_path": request.get_full_path(),
                   "username": request.user.get_username() if hasattr(request, "user") else ""}
    else:
        form_class, template, context = AuthenticationForm, "registration/login.html", {}
    data = {"username": request.POST.get("username", "")}
    form = form_class(request, data=data)
    # The lockout is the form's only error: it is not checked again (that would count as one more attempt).
    form.cleaned_data = {}
    form._errors = ErrorDict({"__all__": form.error_class([lockout_message()], error_class="nonfield")})
    next_url = request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, ""))
    context.update({"form": form, REDIRECT_FIELD_NAME: next_url})
    return render(request, template, context, status=429)  # Too Many Requests


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, plus the site's own WebSocket origin in ``connect-src``.

    CSP Level 3 browsers let ``'self'`` cover ``ws:``/``wss:`` to the page's host; older ones need the
    scheme and host spelled out, which only the request knows (``ALLOWED_HOSTS`` vouches for it)."""

    def get_policy_parts(self, request: HttpRequest, response: HttpResponse, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        sockets = [f"wss://{host}"] if request.is_secure() else [f"ws://{host}", f"wss://{host}"]
        update = dict(parts.update or {})
        update["connect-src"] = [*(update.get("connect-src") or []), *sockets]
        parts.update = update
        return parts
