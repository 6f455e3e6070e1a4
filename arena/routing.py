from django.urls import path

from arena.consumers import BattleConsumer
from arena.progress_consumer import ProgressConsumer

websocket_urlpatterns = [
    path("ws/battle/", BattleConsumer.as_asgi()),
    path("ws/progress/", ProgressConsumer.as_asgi()),  # read-only, anonymous visitors too
]
