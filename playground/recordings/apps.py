from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    # Recordings are the realtime app's sessions and events; this app reads and exports them.
    name = "playground.recordings"
    label = "recordings"
    default_auto_field = "django.db.models.BigAutoField"
