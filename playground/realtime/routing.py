from django.urls import path

from .sockets.openai import OpenAICompatConsumer
from .sockets.session import SessionConsumer

websocket_urlpatterns = [
    path("ws/sessions/<str:session_id>/", SessionConsumer.as_asgi()),
    path("v1/realtime", OpenAICompatConsumer.as_asgi()),
]
