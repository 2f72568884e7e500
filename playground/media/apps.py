from django.apps import AppConfig


class MediaConfig(AppConfig):
    # A recording's audio, kept as FLAC media through Django's storage API (docs/recordings.md).
    name = "playground.media"
    label = "media"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from .models import AudioChunk
        from .services import chunk_file_delete

        # However a chunk goes (its session deleted, retention, its owner's account deleted), its file goes.
        post_delete.connect(chunk_file_delete, sender=AudioChunk, dispatch_uid="media.chunk_file_delete")
