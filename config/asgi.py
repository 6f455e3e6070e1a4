"""ASGI entry point: HTTP through Django, WebSockets through the arena's consumers."""
import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_asgi_app = get_asgi_application()
if settings.SERVE_STATIC:
    # Single-process deployments (the demo) serve their own static files; behind a proxy, it does.
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from arena.routing import websocket_urlpatterns  # noqa: E402
from config.origins import SameOriginValidator  # noqa: E402
from models_serving import client  # noqa: E402

client.warm_up()  # the upstream client's one-time costs now, not in the first battle


async def lifespan(scope, receive, send):
    """The server's start and stop: at stop, the upstream connection pools are closed cleanly."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await client.close_clients()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": lifespan,
    }
)
from config.loop_lag import instrument  # noqa: E402  (a no-op unless ARENA_LOOP_LAG_FILE is set)

application = instrument(application)
