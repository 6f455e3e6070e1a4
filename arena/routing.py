from django.urls import path

from arena.consumers import BattleConsumer

websocket_urlpatterns = [path("ws/battle/", BattleConsumer.as_asgi())]
