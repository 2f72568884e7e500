from django.apps import AppConfig


class ChecksConfig(AppConfig):
    name = "playground.checks"
    label = "checks"
    default_auto_field = "django.db.models.BigAutoField"
