from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "playground.teams"
    default_auto_field = "django.db.models.BigAutoField"
