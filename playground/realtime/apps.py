from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    # `sessions` is taken by django.contrib.sessions.
    name = "playground.realtime"
    label = "realtime"
    default_auto_field = "django.db.models.BigAutoField"
