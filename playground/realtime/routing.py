from django.urls import path

from .consumers import SessionConsumer
from .openai_compat import OpenAICompatConsumer

websocket_urlpatterns = [
    path("ws/sessions/<str:session_id>/", SessionConsumer.as_asgi()),
    path("v1/realtime", OpenAICompatConsumer.as_asgi()),
]
